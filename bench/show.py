"""Print the Markdown tables of saved benchmark JSON files (what docs/benchmarks.md shows).

python -m bench.show bench/results/cpu/*.json
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from bench.common import fmt, machine_line, markdown_table, run_cli
from graytransfer.errors import UserError


def render(payload: dict) -> str:
    """The machine line, the table, the summary and the notes of one benchmark record."""
    lines = [f"`{payload['machine'].get('command', '')}`", "", machine_line(payload["machine"]), ""]
    lines.append(markdown_table(payload["rows"], payload["columns"]))
    summary = payload.get("summary") or {}
    if summary:
        lines.append("")
        lines += [f"- {key}: {fmt(value)}" for key, value in summary.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.show")
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    for path in args.files:
        try:
            payload = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise UserError(f"{path}: not a readable benchmark JSON file ({err})") from None
        print(f"### {payload.get('benchmark', path.stem)} ({path})\n\n{render(payload)}\n")


if __name__ == "__main__":
    run_cli(main)

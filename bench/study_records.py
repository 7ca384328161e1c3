"""Copy the study's finished runs into the repository: `python -m bench.study_records SRC DST`.

For every run folder under SRC with a finished `metrics.json` (not `status: failed`), the files
`graytransfer.tools.study` reads are copied to the same relative folder under DST: `metrics.json`,
`.hydra/{config,overrides,hydra}.yaml` and `csv/version_*/metrics.csv`. Checkpoints, split lists
and logs stay behind (a run's split is re-derived from its seed). Unfinished runs are skipped and
counted; an existing DST record is replaced (the newest run of a folder wins, as in the report).
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Sequence
from pathlib import Path

from graytransfer.run import RunFolder

#: the files of a run folder the study report reads, as globs relative to the run folder
RECORD_FILES = ("metrics.json", ".hydra/*.yaml", "csv/version_*/metrics.csv")


def copy_records(src: Path, dst: Path) -> tuple[int, int]:
    """Copy every finished run's record files from `src` to `dst`; (copied runs, skipped runs)."""
    copied = skipped = 0
    for marker in sorted(src.rglob("metrics.json")):
        run = marker.parent
        if "csv" in run.relative_to(src).parts or "wandb" in run.parts:
            continue
        if not RunFolder(run).is_finished or RunFolder(run).record() is None:
            skipped += 1
            continue
        for pattern in RECORD_FILES:
            for path in run.glob(pattern):
                target = dst / path.relative_to(src)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
        copied += 1
    return copied, skipped


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.study_records", description=__doc__)
    parser.add_argument("src", type=Path, help="the study's run folder (outputs/study)")
    parser.add_argument("dst", type=Path, help="where the records go (bench/results/cpu/study)")
    args = parser.parse_args(argv)
    copied, skipped = copy_records(args.src, args.dst)
    print(f"copied {copied} finished runs to {args.dst}; skipped {skipped} unfinished or failed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

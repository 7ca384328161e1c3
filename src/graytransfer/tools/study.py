"""`python -m graytransfer.tools.study ROOT --out docs/study.md`: the study's report.

Reads the runs under ROOT (one folder per run of `python train.py -m experiment=study ...`),
grouped by `graytransfer.study.groups` (whole config but the seed; each seed once, the
newest). Per dataset (and model) one table (`study.tables`): strategy, seeds, the test metric's
mean with a 95% t-interval, the paired difference to `--reference` (default `repeat`; same
config but the `adapt` group; seeds both have) with its bootstrap and t intervals, verdict and
Holm-adjusted p (`study.stats`), macro F1 and the costs; the learning curves (`study.curves`,
PNGs under `--figures`), the commands and the machine and load (`study.provenance`). A dataset's
runs with another data config (e.g. `train_subset=2000`) get their own panel; a panel spanning
image sizes gets the resolution tables (`study.resolution`: the difference to the reference at
each size, ranks, the change from the smallest to the largest size). A backbone
table compares the reference across models and weights; short groups, failed runs and
unfinished folders are listed. One automatic summary line per panel is printed and written. The
Markdown is written atomically (`graytransfer.study.document`); nothing under ROOT is changed.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from graytransfer.cli import exit_on_user_error


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m graytransfer.tools.study",
        description="The study's report: tables with intervals and paired differences, "
        "learning curves, costs and commands, as Markdown.",
    )
    parser.add_argument("root", type=Path, help="the study's run folder (outputs/study)")
    parser.add_argument("--out", type=Path, required=True, help="the Markdown file to write")
    parser.add_argument(
        "--figures", type=Path, default=None, help="PNG folder (default: OUT less .md)"
    )
    parser.add_argument("--reference", default="repeat", help="the strategy to pair against")
    parser.add_argument("--preface", type=Path, default=None, help="Markdown to open OUT with")
    args = parser.parse_args(argv)
    from graytransfer.study.document import write_study

    out, summaries = exit_on_user_error(
        lambda: write_study(args.root, args.out, args.figures, args.reference, args.preface)
    )
    print("\n".join(summaries))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`python -m graytransfer.tools.report DIR`: compare the runs of a sweep from their `metrics.json`.

Reads every `metrics.json` under DIR (a multirun folder, or any folder of runs) and groups the
runs whose whole config is the same but for the seed (graytransfer.study.groups: the run's
`.hydra/config.yaml`, less paths, loggers and other keys that are not the experiment). Each seed
counts once: of the runs of a group with the same seed only the newest `metrics.json` is kept
(the report names the ones it left out). It writes `report.md` (per group: n runs, mean ± std of
test accuracy, macro F1, macro AUROC (multilabel runs: macro and micro AUROC, AP, F1 and one
AUROC column per label; binary runs: AUROC, AP, sensitivity, specificity), extra parameters,
stem parameters and MACs (`graytransfer.adapt.cost`), training images/s and wall time; the
config keys that differ between groups) and `report.png` (test accuracy from 0 with the chance
level 1/classes, or macro AUROC with 0.5, one panel per dataset) into DIR, or `--out`.
Offline: it needs no W&B account. Failed and diverged runs are listed, not averaged.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from graytransfer.cli import exit_on_user_error
from graytransfer.run import RunFolder
from graytransfer.study.folds import cv_section
from graytransfer.study.groups import (
    EXCLUDED_KEYS,
    MISSING,
    PATH_LEAVES,
    Group,
    by_data,
    config_value,
    differing_keys,
    extra_columns,
    group_runs,
    task_of,
)
from graytransfer.study.report_figure import plot
from graytransfer.study.runs import failures_section, find_runs, repeats_section
from graytransfer.tools.owned import check_own_file

#: (column title, how to read it from a metrics.json record, number format)
COLUMNS: list[tuple[str, tuple[str, ...], str]] = [
    ("test acc", ("metrics", "test/acc"), ".3f"),
    ("test F1", ("metrics", "test/f1"), ".3f"),
    ("test AUROC", ("metrics", "test/auroc"), ".4f"),
    ("extra params", ("cost", "extra_params"), ",.0f"),
    ("stem params", ("cost", "stem_params"), ",.0f"),
    ("stem MACs", ("cost", "stem_macs"), ",.0f"),
    ("train img/s", ("timing", "train_images_per_s"), ".0f"),
    ("wall s", ("timing", "total_s"), ".0f"),
]
#: the score columns of multilabel and binary runs (the cost columns follow as above)
TASK_COLUMNS: dict[str, list[tuple[str, tuple[str, ...], str]]] = {
    "multilabel": [
        ("test AUROC (macro)", ("metrics", "test/auroc"), ".4f"),
        ("test AUROC (micro)", ("metrics", "test/auroc_micro"), ".4f"),
        ("test AP", ("metrics", "test/ap"), ".3f"),
        ("test F1", ("metrics", "test/f1"), ".3f"),
    ],
    "binary": [
        ("test AUROC", ("metrics", "test/auroc"), ".4f"),
        ("test AP", ("metrics", "test/ap"), ".3f"),
        ("sensitivity", ("metrics", "test/sensitivity"), ".3f"),
        ("specificity", ("metrics", "test/specificity"), ".3f"),
        ("balanced acc", ("metrics", "test/balanced_acc"), ".3f"),
    ],
}


def columns_for(groups: list[Group]) -> list[tuple[str, tuple[str, ...], str]]:
    """The columns of one dataset's table: multiclass as `COLUMNS`; multilabel runs by macro
    AUROC, then micro AUROC, AP, F1 and one AUROC column per label; binary by AUROC and the
    operating point's sensitivity, specificity, balanced accuracy."""
    runs = [run for g in groups for run in g.runs]
    task = task_of(runs)
    if task not in TASK_COLUMNS:
        return COLUMNS
    from graytransfer.task.multilabel import label_metric  # imports torch: not for --help

    labels = next((run["classes"] for run in runs if run.get("classes")), [])
    per_label = [
        (f"AUROC {name}", ("metrics", f"test/{label_metric('auroc', name)}"), ".3f")
        for name in (labels if task == "multilabel" else [])
    ]
    return [*TASK_COLUMNS[task], *per_label, *COLUMNS[3:]]


def mean_std(values: list[float], fmt: str) -> str:
    """`0.912 ± 0.004` (sample std over seeds), `0.912` for one or equal values, `–` for none."""
    if not values:
        return "–"
    if len(values) == 1 or len(set(values)) == 1:  # one run, or a constant (a cost)
        return format(values[0], fmt)
    return f"{format(statistics.fmean(values), fmt)} ± {format(statistics.stdev(values), fmt)}"


def markdown_table(groups: list[Group]) -> str:
    """One table per dataset, one row per group: its label, the config keys that tell apart
    groups of the same label, n (runs, one per seed) and the mean ± std of each column."""
    lines = []
    for data, rows in by_data(groups).items():
        extra = extra_columns(rows)
        columns = columns_for(rows)
        header = ["model", "weights", "strategy", *extra, "n", *[t for t, _, _ in columns]]
        lines += [f"**data={data}**", ""]
        differ = differing_keys(rows)
        if differ:
            lines += [
                "Config keys that differ between these groups: "
                + ", ".join(f"`{k}`" for k in differ),
                "",
            ]
        lines.append("| " + " | ".join(header) + " |")
        lines.append(
            "|" + "|".join("---" if i < 3 + len(extra) else "--:" for i in range(len(header))) + "|"
        )
        for g in rows:
            cells = [g.model, g.weights, g.strategy]
            cells += [config_value(g.config.get(key, MISSING)) for key in extra]
            cells.append(str(len(g.runs)))
            cells += [mean_std(g.values(path), fmt) for _, path, fmt in columns]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def grouping_note(runs: list[dict[str, Any]]) -> str:
    """How runs were grouped: what was left out of the configs, and runs without a saved config."""
    ignored = ", ".join(f"`{k}`" for k in EXCLUDED_KEYS)
    leaves = ", ".join(f"`{k}`" for k in PATH_LEAVES)
    note = (
        "Runs are grouped by their whole config (`.hydra/config.yaml`) but for these keys, which "
        f"are not the experiment: {ignored}, and folder keys ({leaves}) wherever they are. "
        "n counts the runs of a group, one per seed (each unseeded run counts); mean ± std is "
        "over them."
    )
    partial = [r["_dir"] for r in runs if r["_source"] == RunFolder.RECORD]
    if partial:
        note += (
            f" {len(partial)} run(s) have no saved config and are grouped by the choices in their "
            "metrics.json only: " + ", ".join(f"`{d}`" for d in partial) + "."
        )
    return note + "\n"


REPORT_TITLE = "# Report: "


def write_report(root: Path, out: Path | None = None) -> tuple[Path, Path]:
    """Write `report.md` and `report.png` for the runs under `root`; returns their paths.
    An earlier report there is replaced; any other `report.md` is refused
    (graytransfer.tools.owned)."""
    runs = find_runs(root)
    groups, bad, repeats = group_runs(runs)
    out = out or root
    out.mkdir(parents=True, exist_ok=True)
    md = out / "report.md"
    png = out / "report.png"
    check_own_file(md, REPORT_TITLE, "--out", "a report this tool wrote", "report.md")
    counted = sum(len(g.runs) for g in groups)
    body = [
        f"{REPORT_TITLE}{root}",
        "",
        f"{len(runs)} runs ({len(runs) - len(bad)} finished, {counted} counted) in "
        f"{len(groups)} groups; mean ± std over seeds.",
        "",
        grouping_note(runs),
        markdown_table(groups),
        cv_section(root),  # a CV sweep: per fold, mean, spread; oof_predictions.csv merged
        repeats_section(repeats),
        failures_section(bad),
        f"![test accuracy]({png.name})",
        "",
    ]
    md.write_text("\n".join(body))
    if groups:
        plot(groups, png)
    return md, png


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m graytransfer.tools.report",
        description="Compare the runs of a sweep: a Markdown table and a PNG chart.",
    )
    parser.add_argument("dir", type=Path, help="a multirun folder (or any folder of runs)")
    parser.add_argument("--out", type=Path, default=None, help="where to write (default: DIR)")
    args = parser.parse_args(argv)
    md, png = exit_on_user_error(lambda: write_report(args.dir, args.out))
    print(md.read_text())
    print(f"wrote {md} and {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`python -m graytransfer.tools.study ROOT --out docs/study.md`: the study's report.

Reads the runs under ROOT (`python train.py -m experiment=study ...` writes one folder per run)
with `graytransfer.tools.report.find_runs` and groups them with `graytransfer.tools.run_groups`
(whole config but the seed; each seed counted once, the newest). Per dataset (and per model when
ROOT holds several) it writes one table: strategy, seeds, the headline test metric's mean with a
95% Student-t interval, the paired difference to the reference strategy (`--reference`, default
`repeat`; same data, model, weights and config but the `adapt` group; only seeds both have) with
its percentile bootstrap and t intervals and the verdict of the bootstrap interval
(`graytransfer.tools.study_stats`), macro F1 and the costs; then the learning curves
(`study_curves`, one PNG per panel under `--figures`), the commands that reproduce each group
and the machine and load the runs recorded (`study_provenance`). A backbone table compares the
reference strategy across models and weights. Groups with fewer seeds than most, failed runs and
unfinished run folders are listed. One automatic line per panel, derived from the numbers only,
is printed and written. The Markdown is written atomically; nothing under ROOT is changed.
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from graytransfer.atomic import write_text_atomic
from graytransfer.cli import exit_on_user_error
from graytransfer.errors import UserError
from graytransfer.tools.report import failures_section, find_runs, repeats_section
from graytransfer.tools.run_groups import (
    MISSING,
    Group,
    by_data,
    config_value,
    differing_keys,
    extra_columns,
    group_runs,
    headline_metric,
)
from graytransfer.tools.study_curves import group_curve, plot_curves
from graytransfer.tools.study_provenance import group_commands, machine_line, unfinished_runs
from graytransfer.tools.study_stats import Interval, Paired, ci_text, mean_ci, paired_difference

#: config key prefixes a strategy's group may differ in from its reference group
ADAPT_KEYS = ("adapt.",)


def label(group: Group, extra: Sequence[str] = ()) -> str:
    """`colormap`, `repeat (random init)` for groups without ImageNet weights, with
    ` key=value` for each of the `extra` config keys (those that tell apart groups of a panel)."""
    text = group.strategy + ("" if group.weights == "ImageNet" else f" ({group.weights})")
    return " ".join([text, *(f"{k}={config_value(group.config.get(k, MISSING))}" for k in extra)])


def _base(group: Group, ignored: tuple[str, ...]) -> str:
    config = {k: v for k, v in group.config.items() if not k.startswith(ignored)}
    return repr((group.data, group.model, group.weights, sorted(config.items(), key=str)))


def by_seed(group: Group, metric: str) -> dict[Any, float]:
    """{seed: the run's `metric`} of a group's seeded runs with a finite value."""
    found = {}
    for run in group.runs:
        value = (run.get("metrics") or {}).get(metric)
        if run.get("seed") is not None and isinstance(value, (int, float)) and value == value:
            found[run["seed"]] = float(value)
    return found


def pairs(groups: list[Group], reference: str, metric: str) -> dict[int, tuple[Group, Paired]]:
    """{id(group): (its reference group, the paired difference)} for every group that has a
    reference: the `reference` strategy's group with the same config but the `adapt` keys."""
    refs = {_base(g, ADAPT_KEYS): g for g in groups if g.strategy == reference}
    found = {}
    for group in groups:
        ref = refs.get(_base(group, ADAPT_KEYS))
        if ref is not None and ref is not group:
            diff = paired_difference(by_seed(group, metric), by_seed(ref, metric))
            found[id(group)] = (ref, diff)
    return found


def _values(group: Group, *path: str) -> Interval:
    return mean_ci(group.values(path))


def _cost(group: Group, key: str) -> str:
    values = group.values(("cost", key))
    return f"{values[0]:,.0f}" if values else "–"


def _timing(group: Group, key: str, scale: float, fmt: str) -> str:
    values = group.values(("timing", key))
    return format(sum(values) / len(values) / scale, fmt) if values else "–"


def study_table(
    groups: list[Group], reference: str, metric: str, expected: int
) -> tuple[list[str], list[str]]:
    """(the Markdown table of one panel, sorted by mean, best first; the automatic summary's
    phrases `colormap +0.60 [+0.20, +1.00] better`)."""
    paired = pairs(groups, reference, metric)
    extra = [k for k in extra_columns(groups) if not k.startswith(ADAPT_KEYS)]
    name = "test acc" if metric == "test/acc" else "test AUROC"
    header = [
        "strategy",
        "n seeds",
        f"{name} % mean [95% CI]",
        f"paired diff vs {reference}, pp [bootstrap 95% CI]",
        "t 95% CI",
        "verdict",
        "macro F1",
        "extra params",
        "stem params",
        "stem MACs",
        "train img/s",
        "wall min",
    ]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "--:|" * (len(header) - 1)]
    phrases = []
    for group in sorted(groups, key=lambda g: -(_values(g, "metrics", metric).mean)):
        n = len(by_seed(group, metric)) or len(group.runs)
        seeds = f"{n}" + ("" if n >= expected else f" (of {expected})")
        if id(group) in paired:
            _, diff = paired[id(group)]
            paired_seeds = "" if len(diff.seeds) == n else f" on {len(diff.seeds)} seeds"
            t_cell = ci_text(diff.t, signed=True) if diff.t.n > 1 else "–"
            cells = [ci_text(diff.bootstrap, signed=True) + paired_seeds, t_cell]
            cells.append(diff.verdict)
            phrases.append(f"{label(group, extra)} {cells[0]} {diff.verdict}")
        elif group.strategy == reference:
            own = "" if group.weights == "ImageNet" else f" of the {group.weights} rows"
            cells = [f"reference{own}", "", ""]
        else:
            cells = [f"no {reference} group with this config", "", ""]
        row = [label(group, extra), seeds, ci_text(_values(group, "metrics", metric)), *cells]
        f1 = _values(group, "metrics", "test/f1")
        row += [f"{f1.mean:.3f}" if f1.n else "–"]
        row += [_cost(group, k) for k in ("extra_params", "stem_params", "stem_macs")]
        row += [_timing(group, "train_images_per_s", 1, ".0f")]
        row += [_timing(group, "total_s", 60, ".1f")]
        lines.append("| " + " | ".join(row) + " |")
    return lines, phrases


def backbone_table(
    groups: list[Group], reference: str, metric: str
) -> tuple[list[str], str, list[str]]:
    """The `reference` strategy's groups across models and weights, best first: test metric,
    the paired difference (same seeds) to the baseline, the group with the most seeds (ties:
    ImageNet weights, then the model first by name), all parameters, stem MACs, speed, wall time;
    a note names the other config keys these groups differ in. Returns (the table, the
    baseline's name, the summary's phrases `lite0 (random init) -18.20 [...] worse`)."""
    rows = [g for g in groups if g.strategy == reference]
    base = min(rows, key=lambda g: (-len(g.runs), g.weights != "ImageNet", g.model))
    base_name = f"{base.model} ({base.weights})"
    header = ["model", "weights", "n seeds", "test % mean [95% CI]"]
    header += [f"paired diff vs {base_name}, pp [bootstrap 95% CI]", "verdict", "params"]
    header += ["stem MACs", "train img/s", "wall min"]
    lines = ["| " + " | ".join(header) + " |", "|---|---|" + "--:|" * (len(header) - 2)]
    phrases = []
    for g in sorted(rows, key=lambda g: -(_values(g, "metrics", metric).mean)):
        row = [g.model, g.weights, str(len(g.runs)), ci_text(_values(g, "metrics", metric))]
        if g is base:
            row += ["baseline", ""]
        else:
            diff = paired_difference(by_seed(g, metric), by_seed(base, metric))
            row += [ci_text(diff.bootstrap, signed=True), diff.verdict]
            phrases.append(f"{g.model} ({g.weights}) {row[-2]} {diff.verdict}")
        row += [_cost(g, "params"), _cost(g, "stem_macs")]
        row += [_timing(g, "train_images_per_s", 1, ".0f"), _timing(g, "total_s", 60, ".1f")]
        lines.append("| " + " | ".join(row) + " |")
    other = [k for k in differing_keys(rows) if not k.startswith(("model.", "adapt."))]
    if other:
        lines += ["", "These groups also differ in: " + ", ".join(f"`{k}`" for k in other) + "."]
    return lines, base_name, phrases


def panel(
    groups: list[Group], title: str, png: Path, md_dir: Path, root: Path, args: dict[str, Any]
) -> tuple[list[str], str]:
    """One panel's Markdown (table, summary, curves, commands, machine) and its summary line."""
    metric = headline_metric(run for g in groups for run in g.runs)
    table, phrases = study_table(groups, args["reference"], metric, args["expected"])
    summary = f"{title}: paired vs {args['reference']} (pp, bootstrap 95% CI): " + (
        "; ".join(phrases) or f"no strategy paired with {args['reference']}"
    )
    lines = [*table, "", f"Summary (automatic): {summary}.", ""]
    extra = [k for k in extra_columns(groups) if not k.startswith(ADAPT_KEYS)]
    curves = [c for c in (group_curve(g, root, label(g, extra)) for g in groups) if c]
    if curves:
        plot_curves(curves, f"{title}: validation accuracy", png)
        lines += [f"![learning curves, {title}]({os.path.relpath(png, md_dir)})", ""]
        lines += ["Curves: mean over seeds, band from the lowest to the highest seed.", ""]
    else:
        lines += ["No learning curves: no run has a `csv/version_*/metrics.csv` log.", ""]
    lines += ["Commands (from the runs' `.hydra/overrides.yaml`):", "", "```bash"]
    lines += [cmd for g in groups for cmd in group_commands(g, root)] + ["```", ""]
    lines += [f"Machine: {machine_line([run for g in groups for run in g.runs])}.", ""]
    return lines, summary


def write_study(
    root: Path,
    out: Path,
    figures: Path | None = None,
    reference: str = "repeat",
    preface: Path | None = None,
) -> tuple[Path, list[str]]:
    """Write the study report for the runs under `root` to `out` (Markdown, figures under
    `figures`, default: `out` without `.md`; the Markdown file `preface`, when given, opens it
    in place of the generated title); returns (out, the automatic summary lines)."""
    if out.suffix != ".md":
        raise UserError(f"study: --out '{out}' is not a .md file; give e.g. --out docs/study.md")
    command = f"python -m graytransfer.tools.study {root} --out {out}"
    command += f" --figures {figures}" if figures else ""
    command += f" --reference {reference}" if reference != "repeat" else ""
    command += f" --preface {preface}" if preface else ""
    if preface is not None and not preface.is_file():
        raise UserError(f"study: --preface '{preface}' is not a file; give a Markdown file")
    figures = figures or out.with_suffix("")
    runs = find_runs(root)
    groups, bad, repeats = group_runs(runs)
    counts = Counter(len(g.runs) for g in groups)
    expected = max(counts, key=lambda n: (counts[n], n)) if counts else 0
    args = {"reference": reference, "expected": expected}
    title = preface.read_text().rstrip() if preface else f"# Study: `{root}`"
    body = [
        title,
        "",
        f"Everything below is generated by `{command}` from "
        f"{len(runs)} runs ({len(runs) - len(bad)} finished) in {len(groups)} groups. Means "
        "with a 95% Student-t interval over seeds; paired differences to "
        f"`{reference}` in percentage points, on the seeds both have, with a percentile "
        "bootstrap 95% interval (10,000 resamples, seeded) and a t-interval; the verdict is "
        "better (worse) when both intervals lie above (below) 0, leans better (worse) when only "
        "the bootstrap's does (with few seeds it is too narrow), else no detectable difference.",
        "",
    ]
    summaries = []
    for data, rows in by_data(groups).items():
        models = sorted({g.model for g in rows})
        body += [f"## data={data}", ""]
        for model in models:
            own = [g for g in rows if g.model == model]
            title = f"data={data}" + (f", model={model}" if len(models) > 1 else "")
            if len(models) > 1:
                body += [f"### model={model}", ""]
            name = f"{data}_{model}_curves.png" if len(models) > 1 else f"{data}_curves.png"
            lines, summary = panel(own, title, figures / name, out.parent, root, args)
            body += lines
            summaries.append(summary)
        if len({(g.model, g.weights) for g in rows if g.strategy == reference}) > 1:
            metric = headline_metric(run for g in rows for run in g.runs)
            table, base_name, phrases = backbone_table(rows, reference, metric)
            summary = f"data={data}: {reference} vs {base_name} (pp, bootstrap 95% CI): "
            summary += "; ".join(phrases)
            body += [f"### Backbones and weights ({reference})", "", *table, ""]
            body += [f"Summary (automatic): {summary}.", ""]
            summaries.append(summary)
    short = [g for g in groups if len(g.runs) < expected]
    if short:
        body += [f"**Incomplete groups** (fewer than {expected} seeds):", ""]
        body += [f"- data={g.data} {g.model} {label(g)}: {len(g.runs)} seeds" for g in short]
        body.append("")
    unfinished = unfinished_runs(root)
    if unfinished:
        body += ["**Run folders without metrics.json** (running or stopped):", ""]
        body += [f"- `{d}`" for d in unfinished] + [""]
    body += [repeats_section(repeats), failures_section(bad)]
    write_text_atomic(out, "\n".join(body).rstrip() + "\n")
    return out, summaries


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
    out, summaries = exit_on_user_error(
        lambda: write_study(args.root, args.out, args.figures, args.reference, args.preface)
    )
    print("\n".join(summaries))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

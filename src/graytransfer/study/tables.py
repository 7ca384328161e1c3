"""The study report's tables: one panel's strategies (`study_table`: test metric with its
t-interval, the paired difference to the reference strategy with bootstrap and t intervals, the
verdict, the paired t-test's p with its Holm adjustment over the table, macro F1, costs, speed)
and the reference strategy across backbones and weights (`backbone_table`). Cells come from
`graytransfer.study.groups.Group`s; the statistics from `graytransfer.study.stats`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from graytransfer.study.groups import (
    MISSING,
    Group,
    config_value,
    differing_keys,
    extra_columns,
)
from graytransfer.study.stats import (
    Interval,
    Paired,
    ci_text,
    holm,
    mean_ci,
    p_text,
    paired_difference,
)

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
    adjusted = holm({key: diff.p for key, (_, diff) in paired.items()})
    extra = [k for k in extra_columns(groups) if not k.startswith(ADAPT_KEYS)]
    name = "test acc" if metric == "test/acc" else "test AUROC"
    header = [
        "strategy",
        "n seeds",
        f"{name} % mean [95% CI]",
        f"paired diff vs {reference}, pp [bootstrap 95% CI]",
        "t 95% CI",
        "verdict",
        "p (paired t), Holm-adjusted",
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
            cells += [diff.verdict, p_text(diff.p, adjusted[id(group)])]
            phrases.append(f"{label(group, extra)} {cells[0]} {diff.verdict}")
        elif group.strategy == reference:
            own = "" if group.weights == "ImageNet" else f" of the {group.weights} rows"
            cells = [f"reference{own}", "", "", ""]
        else:
            cells = [f"no {reference} group with this config", "", "", ""]
        row = [label(group, extra), seeds, ci_text(_values(group, "metrics", metric)), *cells]
        f1 = _values(group, "metrics", "test/f1")
        row += [f"{f1.mean:.3f}" if f1.n else "–"]
        row += [_cost(group, k) for k in ("extra_params", "stem_params", "stem_macs")]
        row += [_timing(group, "train_images_per_s", 1, ".0f")]
        row += [_timing(group, "total_s", 60, ".1f")]
        lines.append("| " + " | ".join(row) + " |")
    return lines, phrases


def backbone_table(groups: list[Group], reference: str, metric: str) -> tuple[list[str], list[str]]:
    """The `reference` strategy's groups across models and weights, best first: test metric,
    the paired difference (same seeds) to the row's baseline and its name, all parameters, stem
    MACs, speed, wall time; a note names the other config keys these groups differ in.

    The table's baseline is the ImageNet group with the most seeds (ties: the model first by
    name). Each other kind of weights has its own baseline, its group of the same model where
    there is one, so a model is compared with a model of the same weights (Lite1 with Lite0,
    both ImageNet; B0 with Lite0, both random init), and those baselines with the table's:
    what transfer gives on one model. Returns (the table, the summary's phrases
    `lite0 (random init) vs lite0 (ImageNet) -18.20 [...] worse`).
    """
    rows = [g for g in groups if g.strategy == reference]

    def baseline(candidates: list[Group]) -> Group:
        return min(candidates, key=lambda g: (-len(g.runs), g.model))

    def name(g: Group) -> str:
        return f"{g.model} ({g.weights})"

    imagenet = [g for g in rows if g.weights == "ImageNet"]
    top = baseline(imagenet or rows)
    bases = {}
    for weights in {g.weights for g in rows}:
        own = [g for g in rows if g.weights == weights]
        bases[weights] = baseline([g for g in own if g.model == top.model] or own)
    header = ["model", "weights", "n seeds", "test % mean [95% CI]"]
    header += ["paired diff, pp [bootstrap 95% CI]", "vs", "verdict", "params"]
    header += ["stem MACs", "train img/s", "wall min"]
    lines = ["| " + " | ".join(header) + " |", "|---|---|" + "--:|" * (len(header) - 2)]
    phrases = []
    for g in sorted(rows, key=lambda g: -(_values(g, "metrics", metric).mean)):
        row = [g.model, g.weights, str(len(g.runs)), ci_text(_values(g, "metrics", metric))]
        ref = bases[g.weights] if g is not bases[g.weights] else top
        if g is ref:
            row += ["baseline", "", ""]
        else:
            diff = paired_difference(by_seed(g, metric), by_seed(ref, metric))
            row += [ci_text(diff.bootstrap, signed=True), name(ref), diff.verdict]
            phrases.append(f"{name(g)} vs {name(ref)} {row[-3]} {diff.verdict}")
        row += [_cost(g, "params"), _cost(g, "stem_macs")]
        row += [_timing(g, "train_images_per_s", 1, ".0f"), _timing(g, "total_s", 60, ".1f")]
        lines.append("| " + " | ".join(row) + " |")
    other = [k for k in differing_keys(rows) if not k.startswith(("model.", "adapt."))]
    if other:
        lines += ["", "These groups also differ in: " + ", ".join(f"`{k}`" for k in other) + "."]
    return lines, phrases

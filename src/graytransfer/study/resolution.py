"""The study's resolution axis: does the ranking of strategies hold as images grow?

`data_setups` splits a dataset's groups by their data config less the image size, so the
2,000-image resolution runs (`experiment/study_data=fashion_mnist_2k`) get their own panel next
to the 10,000-image one instead of joining its table. `resolution_section` renders, for a panel
whose groups span two or more image sizes (`data.image_size`), two tables:

- per strategy and size: seeds, the test metric's mean with its t-interval, the paired
  difference to the reference strategy at the same size (same seeds; bootstrap interval,
  verdict of `graytransfer.study.stats`; random init is paired with the reference's ImageNet
  group, so its row says what transfer gives at that size) and the rank of the mean there;
- per strategy: its rank at each size and the change of its paired difference from the smallest
  to the largest size, paired per seed (`(s_big - ref_big) - (s_small - ref_small)`, the
  interaction), with its bootstrap and t intervals and verdict: whether the gap to the reference
  moves with the size. A line gives the two rankings, the pairs of strategies whose order
  swaps, and Kendall's tau between them (`scipy.stats.kendalltau`).

A strategy's rows at different sizes are the groups whose config is equal but for the image size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations
from typing import Any

from graytransfer.study.groups import MISSING, Group, config_value, extra_columns
from graytransfer.study.stats import ci_text, mean_ci, paired_difference
from graytransfer.study.tables import ADAPT_KEYS, by_seed, label

#: the config key of the image size (an int, `native`, or a list [H, W] flattened to `.0`, `.1`)
SIZE_KEY = "data.image_size"


def _is_size(key: str) -> bool:
    return key == SIZE_KEY or key.startswith(SIZE_KEY + ".")


def size_of(group: Group) -> str:
    """`32`, `64`, `32x48` for [32, 48], `native`, or `–` when the config has no size."""
    if SIZE_KEY in group.config:
        return config_value(group.config[SIZE_KEY])
    parts = sorted(k for k in group.config if k.startswith(SIZE_KEY + "."))
    return "x".join(config_value(group.config[k]) for k in parts) or MISSING


def size_order(size: str) -> tuple[int, float, str]:
    """Sizes in increasing order of their first number (`32x48` next to `32`); sizes without a
    number (`native`) last, by name."""
    head = size.split("x", 1)[0]
    try:
        return 0, float(head), size
    except ValueError:
        return 1, math.inf, size


def _without_size(group: Group) -> str:
    config = {k: v for k, v in group.config.items() if not _is_size(k)}
    return repr((group.data, group.model, group.weights, sorted(config.items(), key=str)))


def data_setups(groups: list[Group]) -> list[tuple[str, list[Group]]]:
    """A dataset's groups split by their `data.*` config less the image size: [(title suffix,
    groups)]. First, with suffix '', the dataset's main setup: of the setups at one image size
    the one with the most runs (a resolution axis, which varies the size, comes after the plain
    study however many runs it has; when every setup varies it, the one with the most runs).
    Each other setup is titled by the data keys in which the setups differ (` train_subset=2000`).
    One setup: [('', groups)]."""
    setups: dict[str, list[Group]] = {}
    for group in groups:
        data = {k: v for k, v in group.config.items() if k.startswith("data.") and not _is_size(k)}
        setups.setdefault(repr(sorted(data.items(), key=str)), []).append(group)
    ordered = sorted(
        setups.values(), key=lambda gs: (len(sizes_of(gs)) > 1, -sum(len(g.runs) for g in gs))
    )
    if len(ordered) == 1:
        return [("", ordered[0])]
    keys = sorted(
        {
            k
            for gs in ordered
            for k in gs[0].config
            if k.startswith("data.")
            and not _is_size(k)
            and len({repr(o[0].config.get(k, MISSING)) for o in ordered}) > 1
        }
    )
    titled = [("", ordered[0])]
    for gs in ordered[1:]:
        names = [f"{k[len('data.') :]}={config_value(gs[0].config.get(k, MISSING))}" for k in keys]
        titled.append((" " + " ".join(names), gs))
    return titled


def sizes_of(groups: list[Group]) -> list[str]:
    """The image sizes of `groups`, smallest first."""
    return sorted({size_of(g) for g in groups}, key=size_order)


def _strategies(groups: list[Group]) -> list[list[Group]]:
    """The groups bundled by their config less the image size: one list per strategy."""
    found: dict[str, list[Group]] = {}
    for group in groups:
        found.setdefault(_without_size(group), []).append(group)
    return list(found.values())


def _mean(group: Group, metric: str) -> float:
    return mean_ci(list(by_seed(group, metric).values())).mean


def ranks(groups: list[Group], metric: str) -> dict[int, int]:
    """{id(group): rank of its mean `metric` among `groups`, 1 the best; ties share the best}."""
    means = {id(g): _mean(g, metric) for g in groups}
    return {key: 1 + sum(other > value for other in means.values()) for key, value in means.items()}


#: what a row may differ in from its reference: the strategy and the weights (random init is
#: paired with the reference strategy's ImageNet group: what transfer gives at that size)
PAIRED_KEYS = (*ADAPT_KEYS, "model.pretrained")


def _pairing_key(group: Group) -> str:
    config = {k: v for k, v in group.config.items() if not k.startswith(PAIRED_KEYS)}
    return repr((group.data, group.model, sorted(config.items(), key=str)))


def _reference_at(groups: list[Group], reference: str) -> dict[str, Group]:
    """{config less the strategy and the weights: the reference strategy's group}, sizes kept
    apart; its ImageNet group where there is one."""
    refs = [g for g in groups if g.strategy == reference]
    return {_pairing_key(g): g for g in sorted(refs, key=lambda g: g.weights == "ImageNet")}


def _differences(group: Group, ref: Group | None, metric: str) -> dict[Any, float]:
    if ref is None:
        return {}
    mine, theirs = by_seed(group, metric), by_seed(ref, metric)
    return {seed: mine[seed] - theirs[seed] for seed in mine.keys() & theirs.keys()}


def resolution_section(
    groups: list[Group], reference: str, metric: str, title: str
) -> tuple[list[str], list[str]]:
    """The resolution tables of one panel's `groups` (see the module docstring), or ([], []) when
    they span fewer than two image sizes; (Markdown lines, the automatic summary lines)."""
    sizes = sizes_of(groups)
    if len(sizes) < 2:
        return [], []
    small, big = sizes[0], sizes[-1]
    name = "test acc" if metric == "test/acc" else "test AUROC"
    strategies = _strategies(groups)
    rows_of = {id(bundle[0]): {size_of(g): g for g in bundle} for bundle in strategies}
    refs = _reference_at(groups, reference)
    rank_at = {size: ranks([g for g in groups if size_of(g) == size], metric) for size in sizes}
    extra = [k for k in extra_columns(groups) if not k.startswith(ADAPT_KEYS) and not _is_size(k)]

    def strategy_label(group: Group) -> str:
        return label(group, extra)

    order = sorted(strategies, key=lambda bundle: -_mean(_at(bundle, small) or bundle[0], metric))
    lines = [
        f"### Resolution: {' vs '.join(f'{s} px' for s in sizes)} ({reference} as reference)",
        "",
        f"| strategy | px | n seeds | {name} % mean [95% CI] "
        f"| paired diff vs {reference} at this size, pp [bootstrap 95% CI] | verdict | rank |",
        "|---|--:|--:|--:|--:|---|--:|",
    ]
    for bundle in order:
        for size in sizes:
            group = rows_of[id(bundle[0])].get(size)
            if group is None:
                continue
            values = by_seed(group, metric)
            row = [strategy_label(group), size, str(len(values))]
            row.append(ci_text(mean_ci(list(values.values()))))
            ref = refs.get(_pairing_key(group))
            if ref is group:
                row += ["reference", ""]
            elif ref is None:
                row += [f"no {reference} run at {size} px", ""]
            else:
                diff = paired_difference(values, by_seed(ref, metric))
                on = "" if len(diff.seeds) == len(values) else f" on {len(diff.seeds)} seeds"
                row += [ci_text(diff.bootstrap, signed=True) + on, diff.verdict]
            row.append(str(rank_at[size][id(group)]))
            lines.append("| " + " | ".join(row) + " |")
    lines += ["", f"Does the ranking hold from {small} to {big} px?", ""]
    lines += [
        f"| strategy | rank at {small} px | rank at {big} px "
        f"| change of the diff vs {reference}, {big} minus {small} px, pp [bootstrap 95% CI] "
        "| t 95% CI | verdict |",
        "|---|--:|--:|--:|--:|---|",
    ]
    summaries = []
    for bundle in order:
        at_small, at_big = _at(bundle, small), _at(bundle, big)
        if at_small is None or at_big is None:
            continue
        cells = [strategy_label(at_small)]
        cells += [str(rank_at[small][id(at_small)]), str(rank_at[big][id(at_big)])]
        ref_small = refs.get(_pairing_key(at_small))
        ref_big = refs.get(_pairing_key(at_big))
        if at_small is ref_small:
            cells += ["reference", "", ""]
        elif ref_small is None or ref_big is None:
            cells += [f"no {reference} run at both sizes", "", ""]
        else:
            change = paired_difference(
                _differences(at_big, ref_big, metric), _differences(at_small, ref_small, metric)
            )
            t_cell = ci_text(change.t, signed=True) if change.t.n > 1 else "–"
            cells += [ci_text(change.bootstrap, signed=True), t_cell, change.verdict]
            summaries.append(f"{cells[0]} {cells[3]} {change.verdict}")
        lines.append("| " + " | ".join(cells) + " |")
    ranking_line, swaps = _rankings(order, small, big, metric, strategy_label)
    lines += ["", ranking_line, ""]
    lines += [
        "The change column pairs, seed by seed, a strategy's difference to "
        f"`{reference}` at {big} px with the same seed's difference at {small} px (worse: the "
        f"strategy loses ground to `{reference}` as the images grow). An interval that holds 0 "
        "means these runs cannot tell whether the gap moves with the size; "
        "a swap of ranks between means inside each other's intervals is not a change of ranking.",
        "",
    ]
    summary = f"{title}: change of the diff vs {reference} from {small} to {big} px "
    summary += "(pp, bootstrap 95% CI): " + ("; ".join(summaries) or "no pairs at both sizes")
    summary += f"; {swaps}"
    lines += [f"Summary (automatic): {summary}.", ""]
    return lines, [summary]


def _at(bundle: Sequence[Group], size: str) -> Group | None:
    return next((g for g in bundle if size_of(g) == size), None)


def _rankings(
    order: list[list[Group]], small: str, big: str, metric: str, name: Any
) -> tuple[str, str]:
    """(the line with both rankings, Kendall's tau and the swapped pairs; its short form)."""
    both = [(b, _at(b, small), _at(b, big)) for b in order]
    both = [(s, g) for _, s, g in both if s is not None and g is not None]
    if len(both) < 2:
        return "Fewer than two strategies ran at both sizes: no ranking to compare.", "no ranking"

    def ranking(index: int) -> str:
        ranked = sorted(both, key=lambda pair: -_mean(pair[index], metric))
        return " > ".join(name(pair[0]) for pair in ranked)

    swapped = [
        f"{name(a[0])} / {name(b[0])}"
        for a, b in combinations(both, 2)
        if (_mean(a[0], metric) - _mean(b[0], metric)) * (_mean(a[1], metric) - _mean(b[1], metric))
        < 0
    ]
    from scipy.stats import kendalltau

    tau = kendalltau([_mean(s, metric) for s, _ in both], [_mean(g, metric) for _, g in both])
    tau_text = f"{tau.statistic:.2f}" if math.isfinite(tau.statistic) else "–"
    pairs = len(both) * (len(both) - 1) // 2
    held = "the same order" if not swapped else f"{len(swapped)} of {pairs} pairs swap order"
    line = (
        f"Ranking by mean at {small} px: {ranking(0)}; at {big} px: {ranking(1)} ({held}"
        + (": " + ", ".join(swapped) if swapped else "")
        + f"; Kendall's tau {tau_text} over {len(both)} strategies)."
    )
    return line, f"ranking {small} to {big} px: {held} (Kendall's tau {tau_text})"

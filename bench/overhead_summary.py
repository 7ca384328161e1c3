"""The tables of `bench.overhead`: one row per loop (medians pooled over runs, ratios to the bare
loop per repetition) and the Markdown table of a fit's component split."""

from __future__ import annotations

from typing import Any

from bench.common import fast, median
from bench.loop import StepRecorder

BARE = "bare"
COLUMNS = (
    "loop",
    "runs",
    "steps",
    "step_ms",
    "cycle_ms",
    "images_per_s",
    "epoch_s",
    "cycle_ratio",
    "cycle_ratio_range",
    "fast_cycle_ratio",
    "epoch_ratio",
    "cpu_cycle_ms",
    "cpu_cycle_ratio",
    "cpu_epoch_ratio",
)


def summarise(
    records: dict[str, list[StepRecorder]], warmup: int, batch_size: int
) -> list[dict[str, Any]]:
    """One row per loop: medians pooled over runs, and ratios to the bare loop (the median of
    the per-repetition ratios, with their range)."""
    bare = records[BARE]
    bare_cycle = median([c for r in bare for c in r.cycles(warmup)])
    bare_epoch = median([w for r in bare for w in r.epoch_walls()])
    bare_fast = fast([c for r in bare for c in r.cycles(warmup)])
    bare_cpu = median([c for r in bare for c in r.cpu_cycles(warmup)])
    bare_cpu_epoch = median([w for r in bare for w in r.cpu_epochs()])
    rows = []
    for loop, runs in records.items():
        cycles = [c for r in runs for c in r.cycles(warmup)]
        walls = [w for r in runs for w in r.epoch_walls()]
        cycle_ms = median(cycles)
        per_rep = repetition_ratios(runs, bare, warmup)
        epoch_s = median(walls)
        cpu_cycle = median([c for r in runs for c in r.cpu_cycles(warmup)])
        cpu_epoch = median([w for r in runs for w in r.cpu_epochs()])
        rows.append(
            {
                "loop": loop,
                "runs": len(runs),
                "steps": sum(len(r.cycles(warmup)) for r in runs),
                "step_ms": _ms(median([s for r in runs for s in r.steps(warmup)])),
                "cycle_ms": _ms(cycle_ms),
                "images_per_s": batch_size / cycle_ms if cycle_ms else None,
                "epoch_s": epoch_s,
                "cycle_ratio": median(per_rep),
                "cycle_ratio_pooled": cycle_ms / bare_cycle if cycle_ms and bare_cycle else None,
                "fast_cycle_ratio": (fast(cycles) / bare_fast if cycles and bare_fast else None),
                "cycle_ratio_range": (
                    f"{min(per_rep):.3f}-{max(per_rep):.3f}" if per_rep else None
                ),
                "epoch_ratio": epoch_s / bare_epoch if epoch_s and bare_epoch else None,
                "cpu_cycle_ms": _ms(cpu_cycle),
                "cpu_cycle_ratio": cpu_cycle / bare_cpu if cpu_cycle and bare_cpu else None,
                "cpu_epoch_ratio": (
                    cpu_epoch / bare_cpu_epoch if cpu_epoch and bare_cpu_epoch else None
                ),
                "cycles_s": cycles,
                "epoch_walls_s": walls,
            }
        )
    return rows


def repetition_ratios(
    runs: list[StepRecorder], base: list[StepRecorder], warmup: int
) -> list[float]:
    """Per repetition: median cycle of `runs` / median cycle of `base` in the same repetition."""
    return [
        median(r.cycles(warmup)) / median(b.cycles(warmup))
        for r, b in zip(runs, base, strict=True)
        if r.cycles(warmup) and b.cycles(warmup)
    ]


def paired_ratio(runs: list[StepRecorder], base: list[StepRecorder], warmup: int) -> float | None:
    """Median over repetitions of (median cycle of `runs` / median cycle of `base`)."""
    return median(repetition_ratios(runs, base, warmup))


def _ms(seconds: float | None) -> float | None:
    return seconds * 1000 if seconds is not None else None


def print_split(mode: str, split: dict[str, Any]) -> None:
    """The component split of one fit as a Markdown table."""
    print(f"\n{mode}: {split['batches']} batches, {split['epochs']} epochs, {split['fit_s']:.2f} s")
    print("| component | ms per batch | share | host syncs per batch |\n|---|---:|---:|---:|")
    for name, part in split["components"].items():
        print(
            f"| {name} | {part['ms_per_batch']:.3f} | {100 * part['share']:.2f} % | "
            f"{part['syncs_per_batch']:.2f} |"
        )

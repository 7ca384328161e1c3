"""The model summary at the start of `fit`: Lightning's rich table, minus a FLOPs column of zeros.

Lightning counts FLOPs only for a LightningModule with an `example_input_array`; without one its
summary prints a FLOPs column and a `Total FLOPs` line that are all 0. `ModelSummary` drops both
then (`drop_zero_flops`, on with `extras.ignore_warnings`) and otherwise prints Lightning's own
table unchanged. Lightning adds no summary of its own when this callback is present.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import RichModelSummary
from lightning.pytorch.utilities.model_summary.model_summary import (
    NOT_APPLICABLE,
    get_formatted_model_size,
    get_human_readable_count,
)

#: the column (and total) Lightning's summary names FLOPs
FLOPS = "FLOPs"


def zero_flops(summary_data: list[tuple[str, list[str]]], total_flops: int) -> bool:
    """True when the summary's FLOPs column holds no measurement (every value 0 or n/a)."""
    column = dict(summary_data).get(FLOPS, [])
    return total_flops == 0 and all(value.strip() in ("0", NOT_APPLICABLE) for value in column)


class ModelSummary(RichModelSummary):
    """Lightning's `RichModelSummary`; with `drop_zero_flops`, an all-zero FLOPs column and its
    `Total FLOPs: 0` line are left out."""

    def __init__(self, max_depth: int = 1, drop_zero_flops: bool = True, **kwargs: Any) -> None:
        super().__init__(max_depth, drop_zero_flops=drop_zero_flops, **kwargs)

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        drop_zero_flops: bool = True,
        **summarize_kwargs: Any,
    ) -> None:
        if not (drop_zero_flops and zero_flops(summary_data, total_flops)):
            RichModelSummary.summarize(
                summary_data,
                total_parameters,
                trainable_parameters,
                model_size,
                total_training_modes,
                total_flops,
                **summarize_kwargs,
            )
            return
        from rich import get_console
        from rich.table import Table

        columns = [(name, values) for name, values in summary_data if name != FLOPS]
        table = Table(header_style=summarize_kwargs.get("header_style", "bold magenta"))
        for name, _ in columns:
            left = name in ("Name", "Type", "Mode")
            table.add_column(name, justify="left" if left else "right", style="dim" * (name == " "))
        for row in zip(*(values for _, values in columns), strict=True):
            table.add_row(*row)
        grid = Table.grid(expand=True)
        grid.add_column()
        frozen = total_parameters - trainable_parameters
        for label, value in (
            ("Trainable params", get_human_readable_count(int(trainable_parameters))),
            ("Non-trainable params", get_human_readable_count(int(frozen))),
            ("Total params", get_human_readable_count(int(total_parameters))),
            ("Total estimated model params size (MB)", get_formatted_model_size(model_size)),
            ("Modules in train mode", total_training_modes["train"]),
            ("Modules in eval mode", total_training_modes["eval"]),
        ):
            grid.add_row(f"[bold]{label}[/]: {value}")
        console = get_console()
        console.print(table)
        console.print(grid)

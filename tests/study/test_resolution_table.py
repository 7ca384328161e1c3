"""graytransfer.study.resolution and its place in `write_study`: the resolution axis
(`experiment/study_data=fashion_mnist_2k`, `data.image_size=32,64`) gets its own panel next to the
10,000-image one, with a table per strategy and size (mean, paired difference to `repeat` at that
size, rank) and a rank table (the change of each difference from 32 to 64 px, paired per seed).

The fast tests use synthetic run records written by the report tests' own writer
(`test_document.write_study_run`: the real composed config, `metrics.json`, a CSV log); the slow
one trains one tiny real run per size through `train.py -m`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.configs import REPO, child_env
from omegaconf import OmegaConf
from scipy import stats
from test_document import write_study_run

from graytransfer.config import compose
from graytransfer.study.document import write_study
from graytransfer.study.groups import group_runs
from graytransfer.study.resolution import data_setups, size_of
from graytransfer.study.runs import find_runs
from graytransfer.study.stats import bootstrap_ci, mean_ci

AXIS = "experiment/study_data@study_data=fashion_mnist_2k"
SEEDS = (0, 1, 2)
#: `repeat` at each size, per seed
REPEAT = {"32": [0.80, 0.82, 0.81], "64": [0.85, 0.86, 0.84]}
#: each strategy minus `repeat`, per seed, at each size: `sum` leads at 32 px and trails at 64
GAPS = {
    ("sum", True): {"32": [0.010, 0.012, 0.008], "64": [-0.010, -0.006, -0.014]},
    ("scratch", True): {"32": [-0.020, -0.025, -0.015], "64": [-0.020, -0.021, -0.019]},
    ("repeat", False): {"32": [-0.100, -0.110, -0.090], "64": [-0.080, -0.070, -0.090]},
}
#: the 10,000-image panel: repeat and sum at 32 px, 5 seeds (sum has 4)
MAIN = {"repeat": [0.88, 0.87, 0.89, 0.88, 0.885], "sum": [0.881, 0.872, 0.888, 0.879]}


def overrides(strategy: str, pretrained: bool, size: str, seed: int) -> list[str]:
    extra = [] if pretrained else ["model.pretrained=false"]
    return [f"seed={seed}", AXIS, f"data.image_size={size}", f"adapt={strategy}", *extra]


def accuracy(strategy: str, pretrained: bool, size: str, i: int) -> float:
    gap = 0.0 if (strategy, pretrained) == ("repeat", True) else GAPS[strategy, pretrained][size][i]
    return REPEAT[size][i] + gap


def write_axis(root: Path) -> None:
    for i, seed in enumerate(SEEDS):
        for strategy, pretrained in [("repeat", True), *GAPS]:
            for size in ("32", "64"):
                acc = accuracy(strategy, pretrained, size, i)
                write_study_run(root, overrides(strategy, pretrained, size, seed), acc)
    for strategy, values in MAIN.items():
        for seed, acc in enumerate(values):
            write_study_run(root, [f"seed={seed}", f"adapt={strategy}"], acc)


@pytest.fixture(scope="module")
def axis(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("axis")
    write_axis(root)
    return root


def pp(x: float) -> str:
    return f"{100 * x + 0.0:+.2f}"


def change_of(strategy: str, pretrained: bool) -> list[float]:
    """Per seed: (strategy - repeat) at 64 px minus (strategy - repeat) at 32 px."""
    gaps = GAPS[strategy, pretrained]
    return list(np.subtract(gaps["64"], gaps["32"]))


def boot_cell(values: list[float], reference: list[float]) -> str:
    boot = bootstrap_ci(values, reference)
    return f"{pp(boot.mean)} [{pp(boot.low)}, {pp(boot.high)}]"


def mean_cell(values: list[float]) -> str:
    low, high = stats.t.interval(0.95, len(values) - 1, np.mean(values), stats.sem(values))
    return f"{100 * np.mean(values):.2f} [{100 * low:.2f}, {100 * high:.2f}]"


def test_the_axis_gets_its_own_panel_apart_from_the_main_one(axis: Path) -> None:
    groups, _, _ = group_runs(find_runs(axis))
    setups = data_setups(groups)
    assert [suffix for suffix, _ in setups] == ["", " train_subset=2000"]
    main, resolution = (rows for _, rows in setups)
    assert {(g.strategy, size_of(g)) for g in main} == {("repeat", "32"), ("sum", "32")}
    assert len(resolution) == 8 and {size_of(g) for g in resolution} == {"32", "64"}
    # one setup: the groups as they are, no title (the report of a study without the axis)
    assert data_setups(main) == [("", main)]


def test_the_resolution_table_pairs_each_size_with_repeat_at_that_size(axis: Path) -> None:
    out, summaries = write_study(axis, axis.parent / "docs" / "study.md")
    text = out.read_text()
    main, rest = text.split("## data=fashion_mnist train_subset=2000\n")
    # the main panel holds only the 10k runs: no size column, no resolution table; the planned
    # seeds are its own 5 (the axis' 3 seeds do not make 4 of 5 look complete)
    assert "image_size" not in main and "### Resolution" not in main
    assert "| sum | 4 (of 5) |" in main and "(of 3)" not in text
    table = rest.split("### Resolution: 32 px vs 64 px (repeat as reference)\n")[1]
    sum32 = [r + g for r, g in zip(REPEAT["32"], GAPS["sum", True]["32"], strict=True)]
    sum64 = [r + g for r, g in zip(REPEAT["64"], GAPS["sum", True]["64"], strict=True)]
    assert boot_cell(sum32, REPEAT["32"]) == "+1.00 [+0.80, +1.20]"  # 3 pairs: the range
    row32 = f"| sum | 32 | 3 | {mean_cell(sum32)} | {boot_cell(sum32, REPEAT['32'])} | "
    row64 = f"| sum | 64 | 3 | {mean_cell(sum64)} | {boot_cell(sum64, REPEAT['64'])} | "
    assert row32 + "better | 1 |" in table  # first at 32 px
    assert row64 + "worse | 2 |" in table  # second at 64 px, behind repeat
    assert f"| repeat | 64 | 3 | {mean_cell(REPEAT['64'])} | reference |  | 1 |" in table
    # random init is paired with repeat's ImageNet runs at the same size: what transfer gives
    random32 = "| repeat (random init) | 32 | 3 | 71.00 [68.52, 73.48] | -10.00 [-11.00, -9.00] |"
    assert random32 + " worse | 4 |" in table
    # the change of sum's difference, paired per seed: (sum - repeat) at 64 minus at 32
    change = change_of("sum", True)
    t = mean_ci(change)
    cell = f"{boot_cell(change, [0.0] * 3)} | {pp(t.mean)} [{pp(t.low)}, {pp(t.high)}]"
    assert cell.startswith("-2.00 [-2.20, -1.80]")
    assert f"| sum | 1 | 2 | {cell} | worse |" in table
    assert "| repeat | 2 | 1 | reference |  |  |" in table
    assert (
        "Ranking by mean at 32 px: sum > repeat > scratch > repeat (random init); at 64 px: "
        "repeat > sum > scratch > repeat (random init) (1 of 6 pairs swap order: sum / repeat; "
        "Kendall's tau 0.67 over 4 strategies)." in table
    )
    resolution = [s for s in summaries if "from 32 to 64 px" in s]
    assert resolution == [
        "data=fashion_mnist train_subset=2000: change of the diff vs repeat from 32 to 64 px "
        f"(pp, bootstrap 95% CI): sum {cell.split(' | ')[0]} worse; "
        f"scratch {boot_cell(change_of('scratch', True), [0.0] * 3)}"
        " no detectable difference; "
        f"repeat (random init) {boot_cell(change_of('repeat', False), [0.0] * 3)} no detectable "
        "difference; ranking 32 to 64 px: 1 of 6 pairs swap order (Kendall's tau 0.67)"
    ]
    # the axis' curves and commands: its own PNG, one command per strategy and size
    assert (axis.parent / "docs" / "study" / "fashion_mnist_train_subset_2000_curves.png").is_file()
    assert (
        f"python train.py -m experiment=study seed=0,1,2 {AXIS} data.image_size=64 adapt=sum"
        in rest
    )


def test_a_short_group_of_the_axis_counts_against_the_axis_plan(tmp_path: Path) -> None:
    """The axis plans 3 seeds: a size with 2 is incomplete `(of 3)`, not `(of 5)`; a panel with
    one size has no resolution table."""
    for seed in range(6):  # the main setup: the most runs
        write_study_run(tmp_path, [f"seed={seed}", "adapt=repeat"], 0.88)
    for seed in range(3):
        write_study_run(tmp_path, overrides("repeat", True, "32", seed), 0.80 + seed / 100)
        if seed < 2:
            write_study_run(tmp_path, overrides("repeat", True, "64", seed), 0.84)
    text = write_study(tmp_path, tmp_path / "study.md")[0].read_text()
    assert "- data=fashion_mnist lite0 repeat: 2 seeds (of 3)" in text
    assert "| repeat data.image_size=64 | 2 (of 3) |" in text
    assert "| repeat | 64 | 2 | 84.00 [84.00, 84.00] | reference |  | 1 |" in text
    assert text.count("### Resolution") == 1


def test_the_axis_config_is_the_planned_recipe_and_its_folders_carry_subset_and_size() -> None:
    cfg = compose(["experiment=study", AXIS, "data.image_size=64"], with_hydra=True)
    data = cfg.data
    assert (data.train_subset, data.val_subset, data.test_subset) == (2000, 1000, None)
    assert (data.image_size, data.batch_size, data.download) == (64, 64, False)
    assert (cfg.trainer.max_epochs, cfg.trainer.val_check_interval) == (3, 0.5)
    assert cfg.model.name == "tf_efficientnet_lite0" and cfg.model.pretrained
    # the folder: the subset above the overrides, and the size among them (not an excluded key)
    subdir = OmegaConf.to_container(cfg.hydra.sweep, resolve=False)["subdir"]
    assert subdir.endswith("/train_subset=${data.train_subset}/${hydra.job.override_dirname}")
    excluded = cfg.hydra.job.config.override_dirname.exclude_keys
    assert "data.image_size" not in excluded and "seed" not in excluded


#: one tiny real run per size: 200 training images, 1 epoch of 4 steps, seed 0, two strategies
TINY_AXIS = [
    "experiment=study",
    AXIS,
    "data.image_size=32,64",
    "adapt=repeat,sum",
    "seed=0",
    "data.train_subset=200",
    "data.val_subset=100",
    "data.test_subset=200",
    "trainer.max_epochs=1",
]


@pytest.mark.slow
def test_a_real_resolution_sweep_reaches_the_table(tmp_path: Path) -> None:
    """`train.py -m` with the axis' data config at 32 and 64 px (Fashion-MNIST from Debian's
    package, offline) -> run folders under train_subset=200/ carrying the size -> the report's
    resolution tables."""
    if not Path("/usr/share/datasets/fashion-mnist").is_dir():
        pytest.skip("needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)")
    env = child_env(tmp_path)
    cmd = [sys.executable, "train.py", "-m", *TINY_AXIS]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    root = tmp_path / "outputs" / "study"
    folders = sorted(p.name for p in (root / "fashion_mnist/lite0/train_subset=200").iterdir())
    assert "adapt=sum,data.image_size=64,data.test_subset=200" in ",".join(folders)
    runs = find_runs(root)
    assert sorted(tuple(r["image_size"]) for r in runs) == [(32, 32)] * 2 + [(64, 64)] * 2
    assert all("train/val/test 200/100/200" in r["data"] for r in runs)
    out, summaries = write_study(root, tmp_path / "docs" / "study.md")
    text = out.read_text()
    assert "## data=fashion_mnist\n" in text  # one setup: the main panel's title
    assert "### Resolution: 32 px vs 64 px (repeat as reference)" in text
    assert "| sum | 64 | 1 | " in text and "too few paired seeds" in text
    assert "| sum | " in text.split("Does the ranking hold from 32 to 64 px?")[1]
    assert any("from 32 to 64 px" in s for s in summaries)

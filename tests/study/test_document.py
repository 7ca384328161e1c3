"""graytransfer.study.document and `python -m graytransfer.tools.study`: run folders as
`train.py -m experiment=study` leaves them -> docs/study.md tables (t intervals, paired bootstrap
differences, verdicts, costs), learning-curve PNGs, the commands that reproduce each group, the
machine, incomplete/failed/unfinished runs."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.configs import REPO, child_env
from omegaconf import DictConfig, OmegaConf, open_dict
from scipy import stats

from graytransfer.config import compose
from graytransfer.errors import UserError
from graytransfer.study.curves import curve_styles, group_curve, read_curve
from graytransfer.study.document import write_study
from graytransfer.study.groups import group_runs
from graytransfer.study.runs import find_runs
from graytransfer.study.stats import bootstrap_ci, paired_t_p
from graytransfer.tools.study import main

REPEAT = [0.880, 0.875, 0.890, 0.870, 0.885]
GAIN = [0.006, 0.004, 0.008, 0.005, 0.007]  # colormap - repeat per seed: +0.60 pp on average
COLORMAP = [r + g for r, g in zip(REPEAT, GAIN, strict=True)]
HEADER = (
    "epoch,lr-AdamW,step,test/acc,test/auroc,test/f1,test/loss,train/acc,train/auroc,train/f1,"
    "train/loss_epoch,train/loss_step,val/acc,val/auroc,val/f1,val/loss"
)
MACHINE = {
    "cpu_model": "Test CPU",
    "nproc": 2,
    "torch_threads": 1,
    "device": "cpu",
    "gpu": None,
    "torch": "2.14.1",
    "load_average_1_5_15": [2.5, 2.0, 1.5],
    "load_at_start": [1.25, 1.0, 1.0],
}


def val_acc(acc: float, step: int) -> float:
    """The validation accuracy a run logs at `step` (4 per epoch, 2 epochs), ending at `acc`."""
    return acc - 0.01 * (8 - step // 10)


@functools.cache
def _composed(overrides: tuple[str, ...]) -> str:
    return OmegaConf.to_yaml(compose(["experiment=study", *overrides]))


def composed(overrides: tuple[str, ...]) -> DictConfig:
    """`conf/train.yaml` with experiment=study and `overrides`, composed once per set."""
    return OmegaConf.create(_composed(overrides))


def write_study_run(
    root: Path, overrides: list[str], acc: float, model: str = "lite0", **record
) -> Path:
    """A run folder as `train.py -m experiment=study` writes it: `.hydra/config.yaml` (the
    composed config) and `overrides.yaml`, `metrics.json` and `csv/version_0/metrics.csv`."""
    seed = int(next(o for o in overrides if o.startswith("seed="))[5:])
    cfg = composed(tuple(o for o in overrides if not o.startswith("seed=")))
    cfg.seed = seed
    name = ",".join(sorted(o for o in overrides if not o.startswith(("experiment", "model="))))
    run = root / "fashion_mnist" / model / name
    (run / ".hydra").mkdir(parents=True)
    with open_dict(cfg):
        cfg.pop("hydra", None)
    OmegaConf.save(cfg, run / ".hydra" / "config.yaml")
    OmegaConf.save(
        OmegaConf.create(["experiment=study", *overrides]), run / ".hydra/overrides.yaml"
    )
    strategy = cfg.adapt._target_.rsplit(".", 1)[-1].lower()
    metrics = {
        "status": "ok",
        "seed": seed,
        "strategy": strategy,
        "model": "tf_efficientnet_lite0",
        "pretrained": bool(cfg.model.pretrained),
        "choices": {"adapt": strategy, "data": "fashion_mnist", "model": model},
        "classes": [str(i) for i in range(10)],
        "metrics": {"test/acc": acc, "test/f1": acc - 0.01, "val/acc": acc},
        "cost": {
            "extra_params": 0 if strategy == "repeat" else 768,
            "input_macs": 0,
            "params": 3383818,
            "stem_macs": 221184,
            "stem_params": 864,
        },
        "timing": {"fit_s": 500.0, "test_s": 40.0, "total_s": 540.0, "train_images_per_s": 60.0},
        **record,
    }
    (run / "metrics.json").write_text(json.dumps(metrics))
    rows = [HEADER, ",4.1e-05,0" + "," * 13]
    for step in range(10, 90, 10):
        rows.append(f"{(step - 1) // 40},,{step},,,,,,,,,,{val_acc(acc, step)},0.99,0.8,0.4")
    (run / "csv" / "version_0").mkdir(parents=True)
    (run / "csv" / "version_0" / "metrics.csv").write_text("\n".join(rows) + "\n")
    return run


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("study")
    for seed, (rep, cmap) in enumerate(zip(REPEAT, COLORMAP, strict=True)):
        write_study_run(root, [f"seed={seed}", "adapt=repeat"], rep, machine=MACHINE)
        write_study_run(root, [f"seed={seed}", "adapt=colormap"], cmap)
    for seed in range(3):  # random init: 3 seeds of 5, one failed
        write_study_run(root, [f"seed={seed}", "adapt=repeat", "model.pretrained=false"], 0.70)
    failed = write_study_run(root, ["seed=3", "adapt=repeat", "model.pretrained=false"], 0.1)
    record = json.loads((failed / "metrics.json").read_text())
    record.update(status="failed", error="RuntimeError: out of memory")
    (failed / "metrics.json").write_text(json.dumps(record))
    unfinished = write_study_run(root, ["seed=4", "adapt=repeat", "model.pretrained=false"], 0.1)
    (unfinished / "metrics.json").unlink()
    return root


def pp(x: float) -> str:
    return f"{100 * x:+.2f}"


def test_the_table_holds_intervals_paired_differences_costs_and_commands(study: Path) -> None:
    out, summaries = write_study(study, study.parent / "docs" / "study.md")
    text = out.read_text()
    # colormap: mean and its 95% t-interval over the 5 seeds, in percent
    low, high = stats.t.interval(0.95, 4, loc=np.mean(COLORMAP), scale=stats.sem(COLORMAP))
    mean_cell = f"{100 * np.mean(COLORMAP):.2f} [{100 * low:.2f}, {100 * high:.2f}]"
    # paired on seeds: bootstrap of the 5 differences, and their t-interval: 0.60 ± 0.196
    boot = bootstrap_ci(COLORMAP, REPEAT)
    diff_cell = f"{pp(boot.mean)} [{pp(boot.low)}, {pp(boot.high)}]"
    assert diff_cell == "+0.60 [+0.48, +0.72]"  # the exact bootstrap's 2.5% and 97.5%
    row = (
        f"| colormap | 5 | {mean_cell} | {diff_cell} | +0.60 [+0.40, +0.80] | better "
        "| 0.001, 0.001 | 0.876 "
        "| 768 | 864 | 221,184 | 60 | 9.0 |"
    )
    assert row in text
    rep = f"{100 * np.mean(REPEAT):.2f}"
    assert f"| repeat | 5 | {rep} [" in text and "| reference |" in text
    # sorted by mean: colormap first, random init last, which has 3 of 5 seeds
    assert text.index("| colormap |") < text.index("| repeat |")
    random_init = "| repeat (random init) | 3 (of 5) | 70.00 [70.00, 70.00] |"
    assert f"{random_init} reference of the random init rows |" in text
    assert "- data=fashion_mnist lite0 repeat (random init): 3 seeds" in text
    # the commands, from the runs' .hydra/overrides.yaml
    assert "python train.py -m experiment=study seed=0,1,2,3,4 adapt=colormap\n" in text
    assert (
        "python train.py -m experiment=study seed=0,1,2 adapt=repeat model.pretrained=false\n"
        in text
    )
    # failed and unfinished runs are listed, not averaged
    assert "model.pretrained=false,seed=3`: failed RuntimeError: out of memory" in text
    assert "- `fashion_mnist/lite0/adapt=repeat,model.pretrained=false,seed=4`" in text
    # the machine where recorded, and how many runs did not record one
    assert "Machine: Test CPU, 2 cores, device cpu, torch 2.14.1, 1 torch threads (5 runs)" in text
    assert "1-min load average 1.25 at the start of training, 2.50 at the end of training" in text
    assert "; 8 run(s) not recorded." in text
    # the automatic summary, from the numbers only
    # random init - ImageNet on the 3 seeds both have: -18, -17.5, -19 pp
    transfer_cell = "-18.17 [-19.00, -17.50]"
    assert summaries == [
        "data=fashion_mnist: paired vs repeat (pp, bootstrap 95% CI): "
        "colormap +0.60 [+0.48, +0.72] better",
        "data=fashion_mnist: repeat across backbones (pp, bootstrap 95% CI): "
        f"lite0 (random init) vs lite0 (ImageNet) {transfer_cell} worse",
    ]
    assert all(f"Summary (automatic): {line}." in text for line in summaries)
    # the backbone table: the reference strategy by model and weights, paired to the baseline
    cells = f"| {transfer_cell} | lite0 (ImageNet) | worse |"
    assert "### Backbones and weights (repeat)" in text
    assert f"| lite0 | random init | 3 | 70.00 [70.00, 70.00] {cells} 3,383,818 | 221,184 |" in text
    assert "| paired diff, pp [bootstrap 95% CI] | vs | verdict |" in text
    # the curves, next to the Markdown
    assert "![learning curves, data=fashion_mnist](study/fashion_mnist_curves.png)" in text
    png = study.parent / "docs" / "study" / "fashion_mnist_curves.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_curves_are_the_mean_and_min_max_over_seeds(study: Path) -> None:
    groups, _, _ = group_runs(find_runs(study))
    colormap = next(g for g in groups if g.strategy == "colormap")
    run = study / colormap.runs[0]["_dir"]
    assert read_curve(run)[40] == (0, pytest.approx(val_acc(COLORMAP[0], 40)))
    curve = group_curve(colormap, study, "colormap")
    assert curve is not None and curve.n == 5
    assert curve.steps == list(range(10, 90, 10))
    at_40 = [val_acc(acc, 40) for acc in COLORMAP]
    assert curve.mean[3] == pytest.approx(np.mean(at_40))
    assert (curve.low[3], curve.high[3]) == (pytest.approx(min(at_40)), pytest.approx(max(at_40)))
    assert curve.epoch_ends == [40, 80]
    # a run without a CSV log has no curve, and that is not an error
    assert read_curve(study / "nowhere") == {}
    # eleven strategies in a panel: the eleventh repeats the first colour, dashed
    styles = curve_styles(11)
    assert len(set(styles)) == 11 and styles[0] == ("C0", "-") and styles[10] == ("C0", "--")


def test_the_command_line_prints_the_summary(study: Path, capsys) -> None:
    out = study.parent / "cli" / "study.md"
    assert main([str(study), "--out", str(out), "--figures", str(study.parent / "figs")]) == 0
    printed = capsys.readouterr().out
    assert "colormap +0.60 [+0.48, +0.72] better" in printed
    assert (study.parent / "figs" / "fashion_mnist_curves.png").is_file()
    assert "](../figs/fashion_mnist_curves.png)" in out.read_text()
    preface = study.parent / "preface.md"
    preface.write_text("# The study\n\nWhy and how.\n")
    assert main([str(study), "--out", str(out), "--preface", str(preface)]) == 0
    text = out.read_text()
    assert text.startswith("# The study\n\nWhy and how.\n\nEverything below is generated by")
    assert f"--preface {preface}`" in text and "# Study:" not in text
    with pytest.raises(UserError, match="--preface .* is not a file"):
        write_study(study, out, preface=study.parent / "missing.md")
    with pytest.raises(UserError, match="not a .md file"):
        write_study(study, study.parent / "docs")
    with pytest.raises(SystemExit) as code:
        main([str(study.parent / "empty"), "--out", str(out)])
    assert code.value.code == 2


def test_several_models_get_one_panel_each_and_a_backbone_table(tmp_path: Path) -> None:
    for seed in range(2):
        write_study_run(tmp_path, [f"seed={seed}", "adapt=repeat"], 0.88 + seed / 100)
        write_study_run(
            tmp_path, [f"seed={seed}", "adapt=repeat", "model=b0"], 0.9 + seed / 100, "b0"
        )
    # another experiment of the same strategy: its own row, told apart by the differing key
    write_study_run(tmp_path, ["seed=0", "adapt=repeat", "trainer.max_epochs=5"], 0.5)
    out, summaries = write_study(tmp_path, tmp_path / "study.md")
    text = out.read_text()
    assert "| repeat trainer.max_epochs=5 | 1 (of 2) | 50.00 | reference |" in text
    assert text.index("### model=b0") < text.index("### model=lite0")
    assert (tmp_path / "study" / "fashion_mnist_b0_curves.png").is_file()
    assert (tmp_path / "study" / "fashion_mnist_lite0_curves.png").is_file()
    assert "python train.py -m experiment=study seed=0,1 adapt=repeat model=b0\n" in text
    # b0 is the baseline (2 seeds each, ImageNet, first by name); lite0 is 2 points behind
    row = "| lite0 | ImageNet | 2 | 88.50 [82.15, 94.85] | -2.00 [-2.00, -2.00] | b0 (ImageNet) |"
    assert row + " worse |" in text
    assert summaries[0].startswith("data=fashion_mnist, model=b0: paired vs repeat")


def test_each_model_is_paired_with_the_baseline_of_its_own_weights(tmp_path: Path) -> None:
    """B0 from random init is compared with Lite0 from random init, not with ImageNet Lite0;
    Lite0's random init with its ImageNet weights (what transfer gives)."""
    for seed in range(3):
        write_study_run(tmp_path, [f"seed={seed}", "adapt=repeat"], 0.88 + seed / 100)
        scratch = [f"seed={seed}", "adapt=repeat", "model.pretrained=false"]
        write_study_run(tmp_path, scratch, 0.70 + seed / 100)
        write_study_run(tmp_path, [*scratch, "model=b0"], 0.72 + seed / 100, "b0")
        write_study_run(tmp_path, [f"seed={seed}", "adapt=repeat", "model=lite1"], 0.89, "lite1")
    out, summaries = write_study(tmp_path, tmp_path / "study.md")
    table = out.read_text().split("### Backbones and weights (repeat)")[1]
    b0 = "| b0 | random init | 3 | 73.00 [70.52, 75.48] | +2.00 [+2.00, +2.00] |"
    assert b0 + " lite0 (random init) | better |" in table
    assert (
        "| -18.00 [-18.00, -18.00] | lite0 (ImageNet) | worse |"
        in table.split("| lite0 | random init |")[1]
    )
    assert "| lite1 | ImageNet | 3 | 89.00 [89.00, 89.00] | +0.00 [-1.00, +1.00]" in table
    assert "| lite0 | ImageNet | 3 | 89.00 [86.52, 91.48] | baseline |" in table
    assert "b0 (random init) vs lite0 (random init) +2.00 [+2.00, +2.00] better;" in summaries[-1]


def test_p_values_are_holm_adjusted_over_the_strategies_of_a_table(tmp_path: Path) -> None:
    # two strategies against repeat on 3 seeds: colormap clearly ahead, sum noisily ahead
    repeat, colormap, noisy = [0.88, 0.87, 0.89], [0.005, 0.006, 0.004], [0.01, -0.002, 0.006]
    for seed in range(3):
        write_study_run(tmp_path, [f"seed={seed}", "adapt=repeat"], repeat[seed])
        write_study_run(tmp_path, [f"seed={seed}", "adapt=colormap"], repeat[seed] + colormap[seed])
        write_study_run(tmp_path, [f"seed={seed}", "adapt=sum"], repeat[seed] + noisy[seed])
    text = write_study(tmp_path, tmp_path / "study.md")[0].read_text()
    p_colormap, p_sum = paired_t_p(colormap), paired_t_p(noisy)  # 0.0198 and 0.3333
    assert p_colormap < p_sum  # so by hand: colormap x 2, then sum x 1 (not below colormap's)
    assert f"| {p_colormap:.3f}, {2 * p_colormap:.3f} |" in text.split("| colormap |")[1]
    assert f"| {p_sum:.3f}, {max(p_sum, 2 * p_colormap):.3f} |" in text.split("| sum |")[1]
    assert "p (paired t), Holm-adjusted" in text


#: a real study sweep on the digits, as short as train.py allows: 2 strategies, 1 seed
TINY_STUDY = [
    "experiment=study",
    "experiment/study_data@study_data=digits",
    "adapt=repeat,sum",
    "seed=0",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=4",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "trainer.val_check_interval=2",
]


@pytest.mark.slow
def test_the_report_of_a_real_study_sweep(tmp_path: Path) -> None:
    env = child_env(tmp_path)
    cmd = [sys.executable, "train.py", "-m", *TINY_STUDY]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    root = tmp_path / "outputs" / "study"
    out, summaries = write_study(root, tmp_path / "docs" / "study.md")
    text = out.read_text()
    assert summaries[0].startswith("data=digits: paired vs repeat (pp, bootstrap 95% CI): sum ")
    rest = " ".join(TINY_STUDY[4:])
    for strategy in ("repeat", "sum"):  # the typed command, one strategy and all seeds each
        command = "python train.py -m experiment=study experiment/study_data@study_data=digits"
        assert f"{command} adapt={strategy} seed=0 {rest}\n" in text
    assert "| sum | 1 |" in text and "| repeat | 1 | " in text and "too few paired seeds" in text
    assert (tmp_path / "docs" / "study" / "digits_curves.png").is_file()
    assert "torch threads (2 runs); 1-min load average " in text  # each run's machine record

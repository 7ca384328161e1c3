"""Each benchmark runs end to end at a tiny size and reports what its docs promise: a Markdown
table on stdout and a JSON record with the machine, the settings and every column. No timing
is asserted (speed goals live in the benchmarks' output, not in tests)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from bench import input_path, levers, overhead, scaling, show
from bench.loop import StepRecorder
from graytransfer.errors import UserError

TINY_MODEL = ["model=timm", "model.name=test_efficientnet", "model.pretrained=false"]


def check_report(payload: dict, out: Path, stdout: str, name: str) -> dict:
    """The printed table and the JSON file agree with the returned record."""
    written = json.loads(out.read_text())
    assert written["benchmark"] == name == payload["benchmark"]
    machine = written["machine"]
    assert machine["nproc"] == os.cpu_count()
    assert len(machine["load_average_1_5_15"]) == 3
    assert machine["cpu_model"] and machine["torch"]
    header = "| " + " | ".join(written["columns"]) + " |"
    assert header in stdout
    for row in written["rows"]:
        assert set(written["columns"]) <= set(row)
    assert f"wrote {out}" in stdout
    return written


def test_step_recorder_cycles_steps_and_epochs() -> None:
    recorder = StepRecorder.from_dict(
        {
            "epochs": [
                {"start": 0.0, "end": 1.0, "batch_starts": [0.1, 0.4], "batch_ends": [0.3, 0.6]},
                {
                    "start": 1.0,
                    "end": 3.0,
                    "batch_starts": [1.0, 1.5, 2.5],
                    "batch_ends": [1.2, 2.0, 2.9],
                },
            ]
        }
    )
    assert recorder.steps(0) == pytest.approx([0.2, 0.2, 0.2, 0.5, 0.4])
    assert recorder.cycles(0) == pytest.approx([0.3, 0.5, 1.0])  # never across epochs
    assert recorder.cycles(1) == pytest.approx([0.5, 1.0])
    assert recorder.epoch_walls() == [2.0]  # the first (warm-up) epoch is dropped
    assert recorder.batches() == 5


def test_overhead_reports_bare_and_lightning_loops(tmp_path: Path, capsys) -> None:
    out = tmp_path / "overhead.json"
    payload = overhead.main(
        [
            "--modes=lean,user",
            "--bare-metrics",
            "--floor",
            "--profile",
            "--epochs=2",
            "--reps=1",
            "--warmup=1",
            "--limit-batches=3",
            "--threads=1",
            f"--out={out}",
            *TINY_MODEL,
            "data.image_size=16",
            "data.batch_size=16",
        ]
    )
    written = check_report(payload, out, capsys.readouterr().out, "overhead")
    rows = {row["loop"]: row for row in written["rows"]}
    assert list(rows) == ["bare", "bare+metrics", "floor", "lean", "user"]
    assert rows["bare"]["cycle_ratio"] == 1.0
    for row in rows.values():
        assert row["steps"] == 3  # 2 epochs x 3 batches: 2 x 2 cycles within epochs, 1 dropped
        assert row["cycle_ms"] > 0 and row["epoch_s"] > 0 and row["epoch_ratio"] > 0
    assert written["settings"]["model"] == "test_efficientnet"
    assert written["settings"]["batch_size"] == 16
    for key in (
        "cycle_ratio",
        "epoch_ratio",
        "cycle_ratio_vs_bare+metrics",
        "cycle_ratio_vs_floor",
    ):
        assert f"lean_{key}" in written["summary"] and f"user_{key}" in written["summary"]
    assert written["summary"]["floor_cycle_ratio"] > 0
    shares = {k: v for k, v in written["summary"].items() if k.startswith("profile_share")}
    assert "profile_share lightning" in shares and "profile_share C calls (tensor work)" in shares
    assert sum(shares.values()) == pytest.approx(1.0)


def test_the_lightning_floor_trains_the_classifier_on_its_loss_alone() -> None:
    """`--floor`'s module logs nothing and returns the classifier's plain cross-entropy, so
    the loop measures Lightning's own cost and nothing of graytransfer's module."""
    import lightning as L
    import torch.nn.functional as F
    from hydra.utils import instantiate

    from bench.loop import LightningFloor
    from graytransfer.run import build_data_and_model

    args = overhead.parse_args([*TINY_MODEL, "data.image_size=16", "data.batch_size=8"])
    cfg = overhead.bench_config(args, "cpu", "lean", Path("unused"))
    data, model = build_data_and_model(cfg, instantiate(cfg.model))
    floor = LightningFloor(model, total_steps=2)
    seen: dict[str, list] = {"logits": [], "labels": [], "losses": []}
    model.register_forward_hook(lambda module, inputs, out: seen["logits"].append(out.detach()))

    class Keep(L.Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
            seen["labels"].append(batch[1])

        def on_before_backward(self, trainer, module, loss) -> None:
            seen["losses"].append(float(loss))

    trainer = L.Trainer(
        max_steps=2,
        logger=False,
        callbacks=[Keep()],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(floor, train_dataloaders=data.train_dataloader())
    assert trainer.callback_metrics == {} and trainer.logged_metrics == {}
    assert len(seen["losses"]) == 2
    for logits, labels, loss in zip(*seen.values(), strict=True):
        assert loss == pytest.approx(float(F.cross_entropy(logits, labels)), rel=1e-6)


def test_overhead_rejects_an_unknown_mode() -> None:
    with pytest.raises(UserError, match="--modes"):
        overhead.main(["--modes=fast"])


def test_input_path_reports_the_12x_byte_ratio(tmp_path: Path, capsys) -> None:
    out = tmp_path / "input_path.json"
    payload = input_path.main(
        [
            "--sizes=16",
            "--strategies=repeat,sum,no_such_strategy",
            "--epochs=2",
            "--reps=1",
            "--limit-batches=2",
            "--threads=1",
            f"--out={out}",
            *TINY_MODEL,
            "data.batch_size=8",
        ]
    )
    written = check_report(payload, out, capsys.readouterr().out, "input_path")
    rows = {row["path"]: row for row in written["rows"]}
    assert list(rows) == ["float3", "uint8-repeat", "uint8-sum"]
    assert rows["float3"]["bytes_per_image"] == 3 * 16 * 16 * 4
    for name in ("uint8-repeat", "uint8-sum"):
        assert rows[name]["bytes_per_image"] == 16 * 16
        assert rows[name]["byte_ratio"] == 12.0
        assert rows[name]["train_img_s"] > 0 and rows[name]["loader_img_s"] > 0
    assert written["settings"]["skipped_strategies"] == ["no_such_strategy"]


def test_levers_without_a_gpu_record_no_gpu(tmp_path: Path, capsys) -> None:
    if levers.torch.cuda.is_available():
        pytest.skip("a GPU is visible: the no-GPU record does not apply")
    out = tmp_path / "levers.json"
    payload = levers.main([f"--out={out}"])
    written = check_report(payload, out, capsys.readouterr().out, "levers")
    assert written["summary"] == {"measured": False, "reason": "no GPU"}
    show.main([str(out)])  # the saved record renders as the same table
    shown = capsys.readouterr().out
    assert "| variant | step_ms | images_per_s | ratio | compile_s |" in shown
    assert "no GPU" in shown and written["machine"]["command"] in shown
    assert [row["variant"] for row in written["rows"]] == [
        "baseline",
        "channels_last",
        "bf16",
        "compile",
        "all",
    ]


def test_levers_on_cpu_measure_every_variant(tmp_path: Path, capsys) -> None:
    out = tmp_path / "levers.json"
    payload = levers.main(
        [
            "--device=cpu",
            "--model=timm",
            "--image-size=16",
            "--batch-size=4",
            "--steps=1",
            "--warmup=1",
            "--reps=1",
            "--threads=1",
            "--compile-backend=eager",  # dynamo capture without inductor's C++ build
            f"--out={out}",
            "model.name=test_efficientnet",
        ]
    )
    written = check_report(payload, out, capsys.readouterr().out, "levers")
    rows = {row["variant"]: row for row in written["rows"]}
    assert rows["baseline"]["ratio"] == 1.0
    assert rows["compile"]["compile_s"] is not None
    assert rows["all"]["overrides"] == [
        "finetune.channels_last=true",
        "finetune.compile=true",
        "finetune.compile_backend=eager",
        "trainer.precision=bf16-mixed",
    ]  # the levers are the switches a user flips in the config
    assert all(row["images_per_s"] > 0 for row in rows.values())
    assert written["summary"]["information_only"] == "CPU"


def in_process(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """`python -m bench.scaling ...` children of `scaling.run_isolated` run as `scaling.main`
    in this process (the child's command line, JSON and rows as they are; no second torch
    import: the real child process runs in test_gpu_parts' scaling_all dry-run, slow tier).
    Returns the command lines seen."""
    seen: list[list[str]] = []

    def run(command: list[str], check: bool, **kwargs: object) -> None:
        assert command[:3] == [sys.executable, "-m", "bench.scaling"] and check
        seen.append(command)
        scaling.main(command[3:])

    monkeypatch.setattr(scaling.subprocess, "run", run)
    return seen


def test_scaling_reports_speed_and_peak_memory(tmp_path: Path, capsys, monkeypatch) -> None:
    children = in_process(monkeypatch)
    out = tmp_path / "scaling.json"
    payload = scaling.main(
        [
            "--device=cpu",
            "--models=b0,b1",
            "--image-size=16",
            "--batch-size=2",
            "--steps=1",
            "--warmup=1",
            "--threads=1",
            f"--out={out}",
        ]
    )
    written = check_report(payload, out, capsys.readouterr().out, "scaling")
    assert [c[3:13] for c in children] == [
        ["--device=cpu", f"--models={m}", "--image-size=16", "--batch-size=2",
         "--precision=32-true", "--no-channels-last", "--steps=1", "--warmup=1", "--threads=1",
         "--no-isolate"] for m in ("b0", "b1")
    ]  # fmt: skip
    assert written["settings"]["isolate"] is True
    b0, b1 = written["rows"]
    assert (b0["model"], b1["model"]) == ("tf_efficientnet_b0", "tf_efficientnet_b1")
    assert b1["params_m"] > b0["params_m"]
    assert b0["peak_mib"] > 0 and b0["images_per_s"] > 0 and b0["image_size"] == "16x16"
    assert b0["timm_rtx3090_img_s"] == 1779.02
    assert "timm_rtx3090_img_s" not in written["columns"]  # a GPU reference, not a CPU column


def test_scaling_rejects_a_bad_batch_size() -> None:
    with pytest.raises(UserError, match="--batch-size"):
        scaling.main(["--device=cpu", "--batch-size=many"])

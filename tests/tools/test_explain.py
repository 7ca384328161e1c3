"""explain: class activation maps that are measured to be right, and the command around them.

The correctness tests train a small model on a generated task whose class signal sits in a known
place (a bright square in the top-left quadrant for class A, bottom-right for B, on noise) and
measure (1) how much of the map's mass falls in the right quadrant for correctly classified
images, and (2) the sanity check of Adebayo et al. (2018): with the trained head and last stage
re-initialised the map must change (low rank correlation with the trained map).
"""

from __future__ import annotations

import csv
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from helpers.configs import compose_config
from helpers.datafiles import write_digits
from helpers.trained_fixture import compose_task, trained_run  # noqa: F401 - the fixture
from hydra.utils import instantiate
from scipy.stats import spearmanr
from torch.utils.data import DataLoader, TensorDataset

from graytransfer.callbacks.activation_maps import METHODS, activation_maps, target_layer
from graytransfer.errors import UserError
from graytransfer.model.build import build_classifier
from graytransfer.model.restore import load_trained
from graytransfer.tools.explain import run

SIZE = 64
#: test_efficientnet's stage of stride 16, a 4x4 map at 64x64. Its last stage (stride 32) gives
#: a 2x2 map whose cells, after stride-2 convs with padding 1, are centred on pixels 0 and 32,
#: not 16 and 48 as an upsampled map assumes: half a cell towards the top-left, measured in
#: docs/explain.md (the map of every class then leans to the bottom-right quadrant)
LAYER = "blocks.3"
QUADRANT_SHARE = 0.5  # chance is 0.25
MAX_SPEARMAN = 0.5


def quadrant_task(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (count, 1, SIZE, SIZE) mid-gray noise with a 12x12 square somewhere in the top-left
    quadrant, bright (label 0, class A), in the bottom-right quadrant, dark (label 1, class B),
    or none (label 2, class C). Only the square tells A and B from C (with two classes the
    absence of B's square would tell A from B as well, and the model may look there for A)."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(64, 192, (count, 1, SIZE, SIZE), generator=g, dtype=torch.uint8)
    labels = torch.arange(count) % 3
    half, side = SIZE // 2, 12
    for i in range(count):
        y, x = torch.randint(0, half - side + 1, (2,), generator=g).tolist()
        if labels[i] == 2:
            continue
        if labels[i] == 1:
            y, x = y + half, x + half
        images[i, 0, y : y + side, x : x + side] = 255 if labels[i] == 0 else 0
    return images, labels


def quadrant_mass(maps: np.ndarray, labels: torch.Tensor) -> np.ndarray:
    """Per image of class A or B, the share of the map's mass in its class's quadrant (nan for
    an empty map)."""
    half = SIZE // 2
    shares = []
    for cam, label in zip(maps, labels.tolist(), strict=True):
        total = float(cam.sum())
        part = cam[:half, :half] if label == 0 else cam[half:, half:]
        shares.append(float(part.sum()) / total if total > 0 else float("nan"))
    return np.array(shares)


@pytest.fixture(scope="module")
def quadrant_model(tmp_path_factory: pytest.TempPathFactory):
    """test_efficientnet trained from scratch on the quadrant task by a real Trainer, and a
    held-out batch of that task."""
    L.seed_everything(0, workers=True)
    run_dir = tmp_path_factory.mktemp("quadrant") / "run"
    cfg = compose_config(
        [
            "model=timm",
            "model.name=test_efficientnet",
            "model.pretrained=false",
            f"data.image_size={SIZE}",
            "optim.lr=3e-3",
        ],
        run_dir,
    )
    model = build_classifier(
        cfg, instantiate(cfg.model), class_names=["A", "B", "C"], image_size=(SIZE, SIZE)
    )
    images, labels = quadrant_task(256, seed=1)
    trainer = L.Trainer(
        max_epochs=4,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        deterministic=True,
    )
    loader = DataLoader(TensorDataset(images, labels), batch_size=32, shuffle=True)
    trainer.fit(model, loader)
    model.eval()
    return model, quadrant_task(64, seed=2)


@pytest.mark.slow
def test_the_map_falls_on_the_class_signal(quadrant_model) -> None:
    model, (images, labels) = quadrant_model
    maps, probabilities = activation_maps(model, images, "gradcam", layer=LAYER)
    correct = probabilities.argmax(dim=-1) == labels
    keep = correct & (labels < 2)  # class C has no square
    shares = quadrant_mass(maps[keep.numpy()], labels[keep])
    print(
        f"\nquadrant task: accuracy {correct.float().mean():.3f}, map mass in the signal's "
        f"quadrant: mean {np.nanmean(shares):.3f}, median {np.nanmedian(shares):.3f} "
        f"({np.isnan(shares).sum()} empty maps)"
    )
    assert correct.float().mean() > 0.9
    for label in (0, 1):
        assert np.nanmean(shares[(labels[keep] == label).numpy()]) > QUADRANT_SHARE


def randomised(model: torch.nn.Module, stage: str) -> torch.nn.Module:
    """A copy of `model` whose head and backbone stage `stage` are re-initialised."""
    import copy

    clone = copy.deepcopy(model)
    torch.manual_seed(0)
    parts = [clone.head, dict(clone.backbone.named_modules())[stage]]
    for part in parts:
        for module in part.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
    return clone.eval()


@pytest.mark.slow
@pytest.mark.parametrize("method", ["gradcam", "gradcampp"])
def test_randomising_head_and_last_stage_changes_the_map(quadrant_model, method: str) -> None:
    model, (images, labels) = quadrant_model
    stage, _ = target_layer(model)
    trained, _ = activation_maps(model, images, method, targets=labels.tolist())
    noise, _ = activation_maps(randomised(model, stage), images, method, targets=labels.tolist())
    rho = []
    for a, b in zip(trained, noise, strict=True):
        if a.std() > 0 and b.std() > 0:
            rho.append(spearmanr(a.ravel(), b.ravel()).statistic)
    print(
        f"\n{method}: Spearman rank correlation trained vs randomised head+{stage}: "
        f"mean {np.mean(rho):.3f}, median {np.median(rho):.3f}, n={len(rho)}"
    )
    assert len(rho) >= len(images) // 2
    assert np.mean(rho) < MAX_SPEARMAN


@pytest.mark.slow
def test_explain_writes_overlays_grids_and_the_maps_of_the_model(trained_run, tmp_path) -> None:  # noqa: F811
    run_dir, _ = trained_run
    best = run_dir / "checkpoints" / "best.ckpt"
    paths = write_digits(tmp_path / "images", 5, 16)
    (tmp_path / "images" / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    overrides = [f"ckpt_path={best}", f"input={tmp_path / 'images'}", f"output={out}"]
    cfg = compose_task(
        "explain", [*overrides, "save_npy=true", "batch_size=3", "layer=blocks.2"], tmp_path
    )
    with pytest.warns(UserWarning, match="explain: skipped .*broken.png"):
        run(cfg)
    with (out / "maps.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [Path(r["path"]) for r in rows] == paths
    assert sorted(p.name for p in out.glob("grid_*.png")) == ["grid_000.png", "grid_001.png"]
    for row in rows:
        assert (out / row["file"]).stat().st_size > 0
    # the stored maps are the library's maps of the checkpoint's model for its predicted classes
    trained = load_trained(best)
    from graytransfer.tools.predict import read_batch

    images, _, _ = read_batch(paths, trained)
    expected, probabilities = activation_maps(trained.model, images, "gradcam", layer="blocks.2")
    stored = np.stack([np.load(out / row["file"].replace(".png", ".npy")) for row in rows])
    assert stored.shape == (5, 16, 16) and stored.max() <= 1.0 and stored.min() >= 0.0
    assert stored.std() > 0
    np.testing.assert_allclose(stored, expected, atol=1e-5)
    names = [trained.class_names[i] for i in probabilities.argmax(dim=-1).tolist()]
    assert [r["predicted"] for r in rows] == names == [r["target"] for r in rows]

    # target=CLASS maps that class; another size is resized, said once
    big = write_digits(tmp_path / "big", 2, 24)
    out2 = tmp_path / "out2"
    name = trained.class_names[3]
    cfg = compose_task(
        "explain",
        [f"ckpt_path={best}", f"input={big[0].parent}", f"output={out2}", f"target={name}"],
        tmp_path,
    )
    with pytest.warns(UserWarning, match="2 image.*not 16x16.*resized") as caught:
        run(cfg)
    assert sum("resized" in str(w.message) for w in caught) == 1
    # the last stage (stride 32) is one cell at 16x16: said, with the way out
    assert any("map is one cell" in str(w.message) for w in caught)
    with (out2 / "maps.csv").open(newline="") as handle:
        assert [r["target"] for r in csv.DictReader(handle)] == [name, name]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("target=zebra", "target: 'zebra' is not a class"),
        ("layer=blocks.99", "layer: 'blocks.99' is not a module"),
        ("method=lime", "method: 'lime' is not one of"),
    ],
)
def test_explain_refuses_bad_values_in_one_line(trained_run, tmp_path, override, match) -> None:  # noqa: F811
    run_dir, _ = trained_run
    paths = write_digits(tmp_path / "images", 1, 16)
    cfg = compose_task(
        "explain",
        [f"ckpt_path={run_dir / 'checkpoints' / 'best.ckpt'}", f"input={paths[0]}", override],
        tmp_path,
    )
    with pytest.raises(UserError, match=match) as caught:
        run(cfg)
    assert "\n" not in str(caught.value)


def tiny_classifier(tmp_path: Path, adapt: str):
    cfg = compose_config(
        ["model=timm", "model.name=test_efficientnet", "model.pretrained=false", f"adapt={adapt}"],
        tmp_path / adapt,
    )
    return build_classifier(
        cfg, instantiate(cfg.model), class_names=["a", "b"], image_size=(64, 64)
    )


def test_a_backbone_without_feature_info_names_layer(tmp_path: Path) -> None:
    model = tiny_classifier(tmp_path, "repeat")
    assert target_layer(model) == ("blocks.4", model.backbone.blocks[4])
    del model.backbone.feature_info
    with pytest.raises(UserError, match="no timm feature_info.*set layer=MODULE"):
        target_layer(model)
    assert target_layer(model, "blocks.3")[1] is model.backbone.blocks[3]


@pytest.mark.parametrize("adapt", ["fold", "sum", "stack", "windows", "colormap"])
def test_maps_go_through_every_input_module(tmp_path: Path, adapt: str) -> None:
    """Stem-patching and learned input modules are part of the explained model: the map is
    computed from the uint8 image through them, for each method."""
    torch.manual_seed(0)
    model = tiny_classifier(tmp_path, adapt).eval()
    images = quadrant_task(2, seed=0)[0]
    for method in METHODS:
        maps, probabilities = activation_maps(model, images, method, layer="blocks.3")
        assert maps.shape == (2, 64, 64) and np.isfinite(maps).all()
        with torch.no_grad():
            assert torch.allclose(probabilities, model(images).softmax(dim=-1), atol=1e-6)
    assert all(p.grad is None for p in model.parameters())


def test_a_vits_tokens_become_a_map(tmp_path: Path) -> None:
    """A ViT's last block outputs (N, 1 + 16, C) tokens at 64x64: the class token is dropped and
    the 16 patches become the 4x4 grid pytorch-grad-cam needs."""
    cfg = compose_config(
        [
            "model=timm",
            "model.name=vit_tiny_patch16_224",
            "model.pretrained=false",
            "+model.create_kwargs={img_size:64}",
        ],
        tmp_path,
    )
    model = build_classifier(
        cfg, instantiate(cfg.model), class_names=["a", "b"], image_size=(64, 64)
    ).eval()
    assert target_layer(model)[0] == "blocks.11"
    maps, _ = activation_maps(model, quadrant_task(2, seed=0)[0], "gradcam")
    assert maps.shape == (2, 64, 64) and maps.std() > 0


def test_explain_maps_the_named_target_class_and_never_writes_into_a_users_folder(
    trained_run,  # noqa: F811
    tmp_path,
) -> None:
    """Fast: `target=CLASS` stores that class's maps (not the predicted class's), and `output=`
    a folder of the user's files is refused before any work, while an earlier explain output
    folder is written again."""
    run_dir, _ = trained_run
    best = run_dir / "checkpoints" / "best.ckpt"
    trained = load_trained(best)
    paths = write_digits(tmp_path / "images", 3, 16)
    from graytransfer.tools.predict import read_batch

    images, _, _ = read_batch(paths, trained)
    _, probabilities = activation_maps(trained.model, images, "gradcam", layer="blocks.2")
    least = int(probabilities.mean(dim=0).argmin())  # a class that is no image's prediction
    assert least not in probabilities.argmax(dim=-1).tolist()
    expected, _ = activation_maps(trained.model, images, "gradcam", [least] * 3, "blocks.2")
    predicted_maps, _ = activation_maps(trained.model, images, "gradcam", layer="blocks.2")
    assert not np.allclose(expected, predicted_maps, atol=1e-3)  # the two targets differ

    def explain_into(out: Path, target: str) -> list[dict[str, str]]:
        overrides = [f"ckpt_path={best}", f"input={tmp_path / 'images'}", f"output={out}"]
        extra = [f"target={target}", "save_npy=true", "layer=blocks.2"]
        run(compose_task("explain", [*overrides, *extra], tmp_path))
        with (out / "maps.csv").open(newline="") as handle:
            return list(csv.DictReader(handle))

    name = trained.class_names[least]
    rows = explain_into(tmp_path / "out", name)
    assert [r["target"] for r in rows] == [name] * 3
    stored = np.stack([np.load(tmp_path / "out" / r["file"].replace(".png", ".npy")) for r in rows])
    np.testing.assert_allclose(stored, expected, atol=1e-5)
    assert [r["target"] for r in explain_into(tmp_path / "out", "pred")] != [name] * 3  # again

    users = tmp_path / "users"
    users.mkdir()
    (users / "0000_digit_000.png").write_bytes(b"the user's own picture")
    with pytest.raises(UserError, match="output: .* already holds files \\(0000_digit_000.png\\) "
                       "and is not an earlier explain output \\(no maps.csv\\)"):  # fmt: skip
        explain_into(users, "pred")
    assert (users / "0000_digit_000.png").read_bytes() == b"the user's own picture"
    assert sorted(p.name for p in users.iterdir()) == ["0000_digit_000.png"]

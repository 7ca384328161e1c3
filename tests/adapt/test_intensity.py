"""The intensity mapping at full depth (graytransfer.adapt.intensity): fold == keras still holds
exactly on uint16 and HU input, the window is the 8-bit DICOM window without its rounding, the
learned windows live on the full range, and bad settings are one-line errors."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import torch
from helpers.adapt_helpers import TOL, data_config, max_diff
from helpers.configs import CONF, compose_config
from helpers.datafiles import write_16bit
from hydra.utils import instantiate
from omegaconf import OmegaConf

from graytransfer.adapt import Fold, Keras, Repeat, Sum, Windows
from graytransfer.adapt.intensity import (
    CT_PRESETS,
    CTPreset,
    DicomWindow,
    FullRange,
    InputValues,
    Percentile,
    Unmapped,
    Window,
)
from graytransfer.adapt.mapped import MappedInput, distinct_levels, input_module
from graytransfer.data.decode.dicom import window_to_uint8
from graytransfer.errors import UserError
from graytransfer.model.build import input_values_of

HU = InputValues("int16", (-1024.0, 3071.0), (40.0, 400.0))
U16 = InputValues("uint16", (0.0, 4095.0))


def hu_batch(h: int, w: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(-1024, 3072, (2, 1, h, w), generator=gen).to(torch.int16)


def u16_batch(h: int, w: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 4096, (2, 1, h, w), generator=gen).to(torch.uint16)


def logits(net, strategy, mapping, values, x) -> torch.Tensor:
    """Full logits of a float64 copy of `net` behind `input_module` (the classifier's chain)."""
    model = copy.deepcopy(net).double()
    module = input_module(strategy, model, data_config(model), mapping, values).double().eval()
    with torch.no_grad():
        return model(module(x))


@pytest.mark.parametrize(
    ("mapping", "values", "batch"),
    [
        (FullRange(), U16, u16_batch),
        (CTPreset("lung"), HU, hu_batch),
        (DicomWindow(), HU, hu_batch),
        (Percentile(1, 99), HU, hu_batch),
    ],
    ids=["uint16-range", "HU-lung", "HU-dicom_window", "HU-percentile"],
)
def test_fold_equals_keras_on_full_depth_input_borders_included(nets, mapping, values, batch):
    net = nets("test_efficientnet")
    x = batch(15, 22)  # odd sizes: the stem's padding touches every border
    fold = logits(net, Fold(), mapping, values, x)
    keras = logits(net, Keras(), mapping, values, x)
    assert max_diff(fold, keras) <= TOL
    assert (
        max_diff(logits(net, Repeat(), mapping, values, x), logits(net, Sum(), mapping, values, x))
        <= TOL
    )


def test_window_is_the_8bit_dicom_window_before_rounding():
    x = hu_batch(16, 16)
    mapped = Window(40, 400).build(HU).double()(x)
    eight = window_to_uint8(x.numpy().astype(np.float64), 40, 400)
    assert np.array_equal(np.rint(mapped.numpy()).astype(np.uint8), eight)
    assert mapped.min() == 0 and mapped.max() == 255  # clipped outside [center +- width/2]
    inside = torch.arange(-160, 240, dtype=torch.int16).view(1, 1, 20, 20)  # 400 HU levels
    squeezed = torch.from_numpy(window_to_uint8(inside.numpy().astype(np.float64), 40, 400))
    assert distinct_levels(None, squeezed) <= 256
    assert distinct_levels(Window(40, 400).build(HU), inside) == 400


def test_range_keeps_every_level_and_is_not_clipped():
    x = torch.arange(4096, dtype=torch.int32).view(1, 1, 64, 64).to(torch.uint16)
    mapping = FullRange().build(U16)
    out = mapping(x)
    assert distinct_levels(mapping, x) == 4096  # the 8-bit path keeps at most 256
    assert out.min().item() == 0 and out.max().item() == pytest.approx(255)
    beyond = FullRange(0, 2047).build(U16)(x)
    assert beyond.max().item() == pytest.approx(255 * 4095 / 2047)  # not clipped


def test_percentile_maps_each_image_on_its_own():
    x = torch.stack([u16_batch(8, 8, 1)[0], (u16_batch(8, 8, 2)[0].int() // 4).to(torch.uint16)])
    out = Percentile(0, 100).build(U16)(x)
    assert out.flatten(1).amin(1).tolist() == [0, 0]
    assert out.flatten(1).amax(1).tolist() == pytest.approx([255, 255])
    constant = torch.full((1, 1, 4, 4), 77, dtype=torch.int16)
    assert Percentile().build(HU)(constant).abs().max() == 0


def test_windows_learn_over_the_full_range_from_ct_presets(nets):
    net = copy.deepcopy(nets("test_efficientnet"))
    presets = ["lung", "mediastinum", "bone"]
    module = input_module(Windows(presets=presets), net, data_config(net), FullRange(), HU)
    assert isinstance(module, MappedInput)
    windows = module.strategy_input
    centre, width = CT_PRESETS["mediastinum"]
    edge = torch.full((1, 1, 8, 8), int(centre - width / 2), dtype=torch.int16)
    raw = torch.sigmoid(4 * (module.intensity(edge) / 255 - windows.centre) / windows.width)
    assert raw[0, 1, 0, 0].item() == pytest.approx(
        float(torch.sigmoid(torch.tensor(-2.0))), abs=1e-5
    )
    module(hu_batch(16, 16)).sum().backward()
    assert windows.centre.grad.abs().min() > 0 and windows.log_width.grad.abs().min() > 0


def test_8bit_default_builds_the_strategy_module_unchanged(nets):
    net = copy.deepcopy(nets("test_efficientnet"))
    module = input_module(Keras(), net, data_config(net), Unmapped(), InputValues())
    assert not isinstance(module, MappedInput)
    assert instantiate(OmegaConf.load(CONF / "intensity" / "none.yaml")).name == "none"


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONF / "intensity").glob("*.yaml")))
def test_every_intensity_config_builds(name):
    cfg = OmegaConf.load(CONF / "intensity" / f"{name}.yaml")
    if name == "window":
        cfg.center, cfg.width = 40, 400
    mapping = instantiate(cfg)
    assert mapping.name == name
    if name != "none":
        module = mapping.build(HU)
        assert module.input_dtype == torch.int16 and module(hu_batch(8, 8)).shape == (2, 1, 8, 8)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Window(40, 0), "intensity.width: width 0 must be at least 1"),
        (lambda: Window(40, -5), "intensity.width"),
        (lambda: CTPreset("lungs"), "intensity.preset: 'lungs'"),
        (lambda: Percentile(50, 10), "intensity.low/high"),
        (lambda: FullRange(10, 10), "intensity.low/high"),
        (lambda: Unmapped().build(HU), "intensity=none takes 8-bit images, but the data hands"),
        (lambda: DicomWindow().build(InputValues("int16", (0.0, 9.0))), "no WindowCenter"),
        (lambda: input_module(Windows(presets=["lung", "bone", "brain"]), None, None,
                              Window(40, 400), HU), "need the full-range mapping"),
    ],
)  # fmt: skip
def test_bad_settings_are_one_line_errors(make, match):
    with pytest.raises(UserError, match=match) as err:
        make()
    assert "\n" not in str(err.value)


# ------------------------------------------------------- window parameters and measured data
@pytest.mark.parametrize("dtype", [torch.uint16, torch.int16])
@pytest.mark.parametrize(
    ("center", "width"), [(40.5, 1), (0.5, 1), (1.5, 1), (100, 1), (2.5, 1.5), (7.5, 2)]
)
def test_every_valid_window_gives_finite_levels_on_the_whole_dtype_range(dtype, center, width):
    """Width 1 with a half-integer centre once gave 0/0 = NaN at `x = center - 0.5` (later
    reported as a diverged loss); DICOM's function is a threshold there: 0 at or below, 255
    above, exactly what the 8-bit reader does."""
    info = torch.iinfo(dtype)
    x = torch.arange(info.min, info.max + 1, dtype=torch.int32).to(dtype).view(1, 1, 256, 256)
    name = str(dtype).removeprefix("torch.")
    out = Window(center, width).build(InputValues(name, (info.min, info.max))).double()(x)
    assert torch.isfinite(out).all() and out.min() == 0 and out.max() == 255
    eight = window_to_uint8(x.numpy().astype(np.float64), center, width)
    assert np.array_equal(np.rint(out.numpy()).astype(np.uint8), eight)


@pytest.mark.parametrize(
    ("center", "width", "key"),
    [
        (40, float("inf"), "intensity.width: inf is not a finite number"),
        (40, float("nan"), "intensity.width: nan is not a finite number"),
        (40, 0.5, "intensity.width: width 0.5 must be at least 1"),
        (40, "wide", "intensity.width: 'wide' is not a finite number"),
        (float("nan"), 400, "intensity.center: nan is not a finite number"),
        (float("-inf"), 400, "intensity.center: -inf is not a finite number"),
        (None, 400, "intensity.center: None is not a finite number"),
    ],
)
def test_invalid_window_parameters_are_refused_up_front(center, width, key):
    with pytest.raises(UserError, match=re.escape(key)) as err:
        Window(center, width)
    assert "\n" not in str(err.value)


def values_of_folder(tmp_path, overrides: list[str], levels=(30000, 30005)) -> tuple:
    """The real configs composed with `overrides`, their data module set up on a folder of
    16-bit PNGs holding `levels[0]..levels[1]`: (the built intensity mapping's config, the
    `InputValues` the model would get)."""
    rng = np.random.default_rng(3)
    for k, name in enumerate(("a", "b")):
        for i in range(5):
            image = rng.integers(levels[0], levels[1], (12, 12))
            image[0, 0], image[-1, -1] = levels  # every image holds both ends
            write_16bit(tmp_path / "images" / name / f"{k}{i}.png", image)
    cfg = compose_config(
        ["data=folder", f"data.root={tmp_path / 'images'}", "data.bit_depth=16",
         "data.num_workers=0", "data.image_size=12", "data.test_split=0.2", *overrides],
        tmp_path,
    )  # fmt: skip
    data = instantiate(cfg.data)
    data.setup()
    return cfg.intensity, input_values_of(data)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["intensity=ct"], r"intensity=ct intensity.preset=mediastinum \[center 50, width 350: "
         r"-125..225\] misses the data: its measured values 30000..30005 \(uint16\) .* at or above"
         r" the window's high end, so every pixel becomes 255: .*intensity=range"),
        (["intensity=window", "intensity.center=-1000", "intensity.width=100"],
         r"intensity=window \[center -1000, width 100: -1050..-950\] misses the data: its "
         r"measured values 30000..30005 \(uint16\) .*intensity=window intensity.center=30002.5"),
        (["intensity=window", "intensity.center=60000", "intensity.width=400"],
         r"values 30000..30005 \(uint16\) .* at or below the window's low end, so every pixel "
         r"becomes 0"),
        (["intensity=range", "intensity.low=40000"],
         r"intensity.low=40000 is at or above the data's measured max: its values 30000..30005 "
         r"\(uint16\) .*set it below 30005"),
        (["intensity=range", "intensity.high=100"],
         r"intensity.high=100 is at or below the data's measured min: its values 30000..30005 "
         r"\(uint16\) .*set it above 30000"),
        (["intensity=dicom_window"],
         r"intensity=dicom_window: there is no DICOM file \(.dcm, .dicom\) in .*data.root"),
    ],
    ids=["ct-above", "window-below-data", "window-above-data", "range-low", "range-high",
         "dicom_window-no-dicom"],
)  # fmt: skip
def test_a_mapping_that_misses_the_measured_data_is_refused(tmp_path, overrides, match):
    """Real 16-bit files, the real configs and data module: a window entirely below or above
    the measured values (every pixel one level), range bounds past the data's far end, and
    `dicom_window` without DICOM files stop in one line with the measured range."""
    intensity, values = values_of_folder(tmp_path, overrides)
    assert values.value_range == (30000.0, 30005.0)
    with pytest.raises(UserError, match=match) as err:
        instantiate(intensity).build(values)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "overrides",
    [
        ["intensity=window", "intensity.center=30002.5", "intensity.width=6"],
        ["intensity=window", "intensity.center=30005", "intensity.width=1"],
        ["intensity=range", "intensity.low=29000"],
        ["intensity=range", "intensity.high=30001"],
        ["intensity=range"],
    ],
)
def test_a_mapping_over_the_measured_data_builds(tmp_path, overrides):
    """The same data with windows and bounds that cover it (even a one-level-wide threshold
    inside it): every pixel does not become one level, so they build."""
    intensity, values = values_of_folder(tmp_path, overrides)
    x = torch.tensor([30000, 30005], dtype=torch.int32).to(torch.uint16).view(1, 1, 1, 2)
    out = instantiate(intensity).build(values)(x)
    assert torch.isfinite(out).all() and out[0, 0, 0, 1] - out[0, 0, 0, 0] >= 1


def test_dicom_window_on_8bit_images_says_what_the_data_holds():
    with pytest.raises(UserError, match="intensity=dicom_window: the data hands the model 8-bit "
                       "images, not DICOM values: .* holds no DICOM file") as err:  # fmt: skip
        DicomWindow().build(InputValues())
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "mapping",
    [FullRange(), Window(40, 400), Percentile(1, 99), Percentile(0, 100), Percentile(2.5, 97.5)],
    ids=["range", "window", "percentile-1-99", "percentile-0-100", "percentile-half-ranks"],
)
def test_every_mapping_traces_for_export_and_the_trace_follows_the_image_size(mapping):
    """tools.export traces the model (TorchScript): the percentile mapping's Python round() of
    a traced size failed ("Tensor doesn't define __round__"), found by the combination matrix.
    The trace must also give eager's values on another image size (ranks depend on it)."""
    module = mapping.build(HU)
    traced = torch.jit.trace(module, hu_batch(8, 8), check_trace=False)
    other = hu_batch(11, 13, seed=1)
    assert torch.equal(traced(other), module(other))

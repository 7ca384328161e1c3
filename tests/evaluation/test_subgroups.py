"""Every headline test metric per subgroup (`graytransfer.evaluation.subgroups`): the subgroups
of CSV columns and bins, the values against scikit-learn on each subgroup's images, the gap to
the whole test set, too-small subgroups, and the one-line refusals."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.datafiles import write_table
from rich.console import Console
from sklearn.metrics import accuracy_score, roc_auc_score

from graytransfer.data import CsvDataModule, DigitsDataModule
from graytransfer.errors import UserError
from graytransfer.evaluation.bootstrap import Bootstrap
from graytransfer.evaluation.predictions import Predictions
from graytransfer.evaluation.subgroup_output import logged_metrics, subgroup_rows, subgroup_table
from graytransfer.evaluation.subgroups import (
    SubgroupSpec,
    bin_labels,
    check_subgroup_data,
    subgroup_labels,
    subgroup_metrics,
)


def multiclass(n: int = 120, seed: int = 0, groups: bool = False) -> Predictions:
    """Three classes; the model is right on about 80% of the images."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    logits = rng.normal(0, 1, (n, 3))
    logits[np.arange(n), labels] += 1.8
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return Predictions(
        task="multiclass",
        names=["a", "b", "c"],
        class_names=["a", "b", "c"],
        probs=probs,
        labels=labels,
        ids=[f"{i}.png" for i in range(n)],
        groups=[f"p{i // 3}" for i in range(n)] if groups else None,
    )


def binary(n: int = 100, seed: int = 1) -> Predictions:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    probs = np.clip(0.5 + 0.3 * (labels - 0.5) + rng.normal(0, 0.2, n), 0, 1)
    return Predictions("binary", ["pos"], ["neg", "pos"], probs[:, None], labels,
                       [str(i) for i in range(n)], thresholds=np.array([0.5]))  # fmt: skip


def test_each_subgroup_is_scored_on_its_own_images_with_its_gap() -> None:
    preds = multiclass()
    sex = ["F" if i % 3 else "M" for i in range(len(preds))]
    found = subgroup_metrics(preds, {"Sex": sex}, Bootstrap(bootstrap=200, seed=0))
    whole = accuracy_score(preds.labels, preds.probs.argmax(1))
    for value in ("F", "M"):
        mask = np.array(sex) == value
        entry = found["Sex"][value]
        acc = accuracy_score(preds.labels[mask], preds.probs[mask].argmax(1))
        auroc = roc_auc_score(preds.labels[mask], preds.probs[mask], multi_class="ovr")
        assert entry["n"] == mask.sum()
        assert entry["test/acc"] == pytest.approx(acc)
        assert entry["test/auroc"] == pytest.approx(auroc)
        assert entry["test/acc_gap"] == pytest.approx(acc - whole)
        low, high = entry["test/acc_ci"]
        assert low <= acc <= high and high - low > 0.02
        assert "note" not in entry
    assert list(found["Sex"]) == ["F", "M"]


def test_the_interval_is_the_bootstrap_of_the_subgroup_alone() -> None:
    preds = multiclass(groups=True)
    column = ["x" if i < 60 else "y" for i in range(len(preds))]
    boot = Bootstrap(bootstrap=150, seed=4)
    found = subgroup_metrics(preds, {"Site": column}, boot)
    first = {k: getattr(preds, k)[:60] for k in ("probs", "labels", "ids", "groups")}
    alone = boot.intervals(Predictions(**{**preds.__dict__, **first}))
    assert found["Site"]["x"]["test/acc_ci"] == list(alone.bounds["acc"])
    assert alone.over == "groups" and found["Site"]["x"]["groups"] == 20


def test_too_small_or_one_class_subgroups_say_so_instead_of_an_interval() -> None:
    preds = multiclass(n=60)
    column = ["big"] * 51 + ["tiny"] * 9
    labels = preds.labels.copy()
    labels[:30] = 0
    one_class = Predictions(**{**preds.__dict__, "labels": labels})
    found = subgroup_metrics(one_class, {"G": column, "H": ["a"] * 30 + ["b"] * 30}, Bootstrap(100))
    tiny = found["G"]["tiny"]
    assert tiny["note"] == "too small for an interval: 9 images (fewer than 10)"
    assert tiny["test/acc_ci"] is None and tiny["test/acc"] is not None
    assert found["H"]["a"]["note"] == "no interval: one class only (a)"
    assert found["H"]["a"]["test/acc_ci"] is None and found["H"]["b"]["test/acc_ci"] is not None
    assert "note" not in found["G"]["big"]


def test_binary_and_multilabel_subgroups() -> None:
    preds = binary()
    found = subgroup_metrics(preds, {"View": ["AP", "PA"] * 50}, Bootstrap(100, seed=1))
    ap = found["View"]["AP"]
    mask = np.arange(100) % 2 == 0
    assert ap["test/auroc"] == pytest.approx(
        roc_auc_score(preds.labels[mask], preds.probs[mask, 0])
    )
    assert ap["test/sensitivity_ci"] is not None
    rng = np.random.default_rng(2)
    targets = rng.integers(0, 2, (40, 2))
    targets[20:, 1] = -1  # label y unknown in the second half
    multi = Predictions("multilabel", ["x", "y"], ["x", "y"], rng.random((40, 2)), targets,
                        [str(i) for i in range(40)], thresholds=np.array([0.5, 0.5]))  # fmt: skip
    found = subgroup_metrics(multi, {"Half": ["a"] * 20 + ["b"] * 20}, Bootstrap(100))
    b = found["Half"]["b"]
    assert b["test/auroc_per_label/y"] is None and b["test/auroc_per_label/x"] is not None
    only_y = targets.copy()
    only_y[:, 0] = 1
    flat = Predictions(**{**multi.__dict__, "labels": only_y})
    found = subgroup_metrics(flat, {"Half": ["a"] * 20 + ["b"] * 20}, Bootstrap(100))
    assert found["Half"]["b"]["note"] == "no interval: no label has both positives and negatives"


def test_bins_by_edges_and_by_quantiles() -> None:
    values = ["30", "40", "59.9", "60", "85", "", "12e1"]
    assert bin_labels("Age", values, [40.0, 60.0, 80.0]) == [
        "<40", "40-60", "40-60", "60-80", ">=80", "(blank)", ">=80"
    ]  # fmt: skip
    quartiles = bin_labels("Age", [str(v) for v in range(1, 101)], 4)
    assert {q: quartiles.count(q) for q in set(quartiles)} == {
        "<25.75": 25, "25.75-50.5": 25, "50.5-75.25": 25, ">=75.25": 25
    }  # fmt: skip
    spec = SubgroupSpec.of(["Age", "Sex"], {"Age": [50]})
    labels = subgroup_labels(spec, {"Age": ["49", "50"], "Sex": ["F", ""]})
    assert labels == {"Age": ["<50", ">=50"], "Sex": ["F", "(blank)"]}
    preds = multiclass(n=30)
    found = subgroup_metrics(preds, {"Age": ["(blank)", ">=50", "<50"] * 10}, Bootstrap(0))
    assert list(found["Age"]) == ["<50", ">=50", "(blank)"]
    assert found["Age"]["<50"]["test/acc_ci"] is None  # eval.bootstrap=0: points and gaps only


def test_bad_subgroup_settings_are_one_line(tmp_path) -> None:
    with pytest.raises(UserError, match=r"^eval.bins: column 'Age' is not in eval.subgroups"):
        SubgroupSpec.of(["Sex"], {"Age": 3})
    with pytest.raises(UserError, match=r"^eval.bins.Age: \[60, 40\] is neither increasing"):
        SubgroupSpec.of(["Age"], {"Age": [60, 40]})
    with pytest.raises(UserError, match=r"^eval.bins.Age: 1 quantile bins; give 2 or more"):
        SubgroupSpec.of(["Age"], {"Age": 1})
    with pytest.raises(UserError, match=r"^eval.bins.Sex: column 'Sex' holds 'F', not a number"):
        bin_labels("Sex", ["1", "F"], [1.0])
    assert SubgroupSpec.of([], {}) is None and SubgroupSpec.of_config(None) is None
    table = write_table(tmp_path / "list.csv", "path,label,Sex", [("a.png", "x", "F")])
    csv_data = CsvDataModule(csv=str(table))
    check_subgroup_data({"subgroups": ["Sex"]}, csv_data)
    with pytest.raises(UserError, match=r"^eval.subgroups: column 'View' is not in data.csv "
                       r"'.*list.csv' \(columns: \['path', 'label', 'Sex'\]\)$"):  # fmt: skip
        check_subgroup_data({"subgroups": ["View"]}, csv_data)
    with pytest.raises(UserError, match=r"^eval.subgroups=\['Sex'\] needs CSV columns "
                       r"\(data=csv\), but DigitsDataModule has none"):  # fmt: skip
        check_subgroup_data({"subgroups": ["Sex"]}, DigitsDataModule())


def test_csv_rows_logged_names_and_table() -> None:
    preds = multiclass()
    found = subgroup_metrics(preds, {"Age": ["<40", ">=40"] * 60, "Sex": ["F/x"] * 120},
                             Bootstrap(50))  # fmt: skip
    rows = subgroup_rows(found)
    assert rows[0] == ["column", "subgroup", "n", "groups", "metric", "value", "ci_low",
                       "ci_high", "gap", "note"]  # fmt: skip
    assert len(rows) == 1 + 3 * 5  # three subgroups x the five multiclass metrics
    acc = next(r for r in rows if r[:2] == ["Age", "<40"] and r[4] == "acc")
    assert float(acc[5]) == pytest.approx(found["Age"]["<40"]["test/acc"], abs=1e-5)
    logged = logged_metrics(found)
    assert logged["test/subgroup/Age/lt40/acc"] == found["Age"]["<40"]["test/acc"]
    assert (
        "test/subgroup/Age/ge40/acc_ci_low" in logged and "test/subgroup/Sex/F_x/acc_gap" in logged
    )
    console = Console(width=150, record=True)
    console.print(subgroup_table(found))
    text = console.export_text()
    assert "Age=<40" in text and "acc" in text and "auroc" in text and "(+0.000)" in text


def test_predictions_csv_shows_each_subgroup_column() -> None:
    preds = multiclass(n=4)
    preds.columns = {"Sex": ["F", "M", "F", "M"], "label": ["1", "2", "3", "4"]}
    rows = preds.rows()
    assert rows[0][:5] == ["id", "split", "Sex", "label (csv)", "label"]
    assert rows[2][:4] == ["1.png", "test", "M", "2"]

"""bench.startup: it times `train.py --help`, `--cfg job` and completion against `import hydra`
in fresh processes and records which heavy libraries each imported. No timing is asserted."""

from __future__ import annotations

import json

from bench import startup


def test_startup_records_every_command_and_that_none_imports_torch(tmp_path, capsys) -> None:
    out = tmp_path / "startup.json"
    payload = startup.main(["--reps", "1", "--no-heavy", "--out", str(out)])
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(payload))
    rows = {row["command"]: row for row in written["rows"]}
    assert set(rows) == {
        "import hydra",
        "Hydra's own --help",
        "train.py --help",
        "train.py --cfg job",
        "train.py completion (TAB)",
    }
    for name, row in rows.items():
        assert row["runs"] == 1 and row["median_s"] > 0
        assert row["heavy_imported"] == ("" if name.startswith("train.py") else None)
    summary = written["summary"]
    assert summary["help_s"] == rows["train.py --help"]["median_s"]
    assert summary["goal_s"] == 3.0 and summary["goal_met"] == (summary["help_s"] < 3.0)
    assert len(written["machine"]["load_average_1_5_15"]) == 3
    assert "| train.py --help |" in capsys.readouterr().out

"""The papermill glue: knob resolution, metrics files, the summary table."""
from __future__ import annotations

import json
import math

import pytest
import torch

from medgan_nb import notebook
from medgan_nb.runtime import check_profile, pick_device, seed_everything

DEFAULTS = {"smoke": {"steps": 5, "image_size": 32, "n_modes": 8}, "cpu": {"steps": 500, "image_size": 64, "n_modes": 8}}


def test_start_fills_unset_knobs_from_the_profile(tmp_path):
    run = notebook.start("demo", profile="smoke", steps=None, image_size=48, output_dir=str(tmp_path / "o"), defaults=DEFAULTS, n_modes=None)
    assert run.steps == 5 and run.image_size == 48 and run.n_modes == 8
    assert run.output_dir.is_dir()
    assert run.device.type in ("cpu", "cuda", "mps")


def test_start_rejects_unknown_profile(tmp_path):
    with pytest.raises(ValueError, match="smoke, cpu, gpu"):
        notebook.start("demo", profile="fast", output_dir=str(tmp_path))


def test_unavailable_device_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("CUDA present: the error path cannot be provoked here")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        pick_device("cuda")


def test_seed_everything_repeats_draws():
    seed_everything(3)
    a = torch.randn(4)
    seed_everything(3)
    assert torch.equal(a, torch.randn(4))


def test_write_metrics_is_plain_json_and_atomic(tmp_path):
    run = notebook.start("demo", profile="cpu", output_dir=str(tmp_path), defaults=DEFAULTS)
    path = notebook.write_metrics(run, {"fd": torch.tensor(1.5), "curve": torch.arange(3), "bad": math.nan}, headline=["fd"])
    data = json.loads(path.read_text())
    assert data["fd"] == 1.5 and data["curve"] == [0, 1, 2] and data["bad"] is None
    assert data["headline"] == ["fd"] and data["profile"] == "cpu"
    assert not list(tmp_path.glob("*.tmp"))


def test_summary_table_shows_headline_and_errors():
    rows = [
        {"notebook": "00_a", "status": "ok", "seconds": 3.2, "metrics": {"headline": ["fd"], "fd": 0.123456}, "error": None},
        {"notebook": "01_b", "status": "FAILED", "seconds": 1.0, "metrics": {}, "error": "ValueError: boom"},
    ]
    text = notebook.summary_table(rows)
    assert "fd=0.1235" in text and "FAILED" in text and "ValueError: boom" in text


def test_check_profile_accepts_the_three_profiles():
    assert [check_profile(p) for p in ("smoke", "cpu", "gpu")] == ["smoke", "cpu", "gpu"]


def test_cli_rejects_bad_profile(capsys):
    assert notebook.main(["--profile", "turbo"]) == 2
    assert "unknown profile" in capsys.readouterr().err


def _tiny_notebook(path, code: str):
    import nbformat

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "cpu"\noutput_dir = None')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


def test_a_hanging_cell_fails_the_run_instead_of_stalling(tmp_path, monkeypatch):
    monkeypatch.setitem(notebook.CELL_TIMEOUT_SECONDS, "smoke", 2)
    book = _tiny_notebook(tmp_path / "99_hang.ipynb", "import time\ntime.sleep(60)")
    row = notebook.execute_notebook(book, tmp_path / "out", "smoke")
    assert row["status"] == "FAILED" and row["seconds"] < 50
    assert "timed out" in row["error"].lower() or "timeout" in row["error"].lower(), row["error"]


def test_a_notebook_without_metrics_is_reported(tmp_path):
    book = _tiny_notebook(tmp_path / "98_quiet.ipynb", "x = 1")
    row = notebook.execute_notebook(book, tmp_path / "out", "smoke")
    assert row["status"] == "no metrics" and row["metrics"] == {}

"""The papermill glue: knob resolution, metrics files, the summary table."""
from __future__ import annotations

import json
import os
import math

import pytest
import torch

from medgan_nb import notebook
from medgan_nb.tools import runner
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
    text = runner.summary_table(rows)
    assert "fd=0.1235" in text and "FAILED" in text and "ValueError: boom" in text


def test_check_profile_accepts_the_three_profiles():
    assert [check_profile(p) for p in ("smoke", "cpu", "gpu")] == ["smoke", "cpu", "gpu"]


def test_cli_rejects_bad_profile(capsys):
    assert runner.main(["--profile", "turbo"]) == 2
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
    monkeypatch.setitem(runner.CELL_TIMEOUT_SECONDS, "smoke", 2)
    book = _tiny_notebook(tmp_path / "99_hang.ipynb", "import time\ntime.sleep(60)")
    row = runner.execute_notebook(book, tmp_path / "out", "smoke")
    assert row["status"] == "FAILED" and row["seconds"] < 50
    assert "timed out" in row["error"].lower() or "timeout" in row["error"].lower(), row["error"]


def test_a_notebook_without_metrics_is_reported(tmp_path):
    book = _tiny_notebook(tmp_path / "98_quiet.ipynb", "x = 1")
    row = runner.execute_notebook(book, tmp_path / "out", "smoke")
    assert row["status"] == "no metrics" and row["metrics"] == {}


def test_a_relative_data_root_means_the_callers_folder_not_the_notebooks(tmp_path, monkeypatch):
    (tmp_path / "mydata").mkdir()
    (tmp_path / "books").mkdir()
    book = _tiny_notebook(tmp_path / "books" / "97_root.ipynb",
                          "import json, os\nfrom pathlib import Path\n"
                          "Path(output_dir).mkdir(parents=True, exist_ok=True)\n"
                          "Path(output_dir, 'metrics.json').write_text(json.dumps({'found': os.path.isdir(data_root)}))")
    monkeypatch.chdir(tmp_path)  # "mydata" exists here, not beside the notebook
    row = runner.execute_notebook(book, tmp_path / "out", "smoke", {"data_root": "mydata"})
    assert row["status"] == "ok", row["error"]
    assert row["metrics"] == {"found": True}


def _write_notebook(path, *cells):
    """Write a notebook whose first code cell is tagged ``parameters``; ``cells`` are code, or ("md", text)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "cpu"\noutput_dir = None')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params] + [
        nbformat.v4.new_markdown_cell(c[1]) if isinstance(c, tuple) else nbformat.v4.new_code_cell(c) for c in cells
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


def _passing_notebook(path, answer: int):
    return _write_notebook(
        path,
        "from medgan_nb.notebook import start, write_metrics\n"
        f"run = start({path.stem!r}, profile=profile, output_dir=output_dir)\n"
        f"write_metrics(run, {{'answer': {answer}, 'note': 'a|b'}}, headline=['answer', 'note'])",
    )


FAILING_CELL = "# divide the lesion area by the image area\nvalues = [3, 4]\nratio = values[0] / (values[1] - 4)\nprint(ratio)"


def test_make_notebooks_reports_a_failing_cell_runs_the_rest_and_exits_nonzero(tmp_path, capsys):
    books = tmp_path / "books"
    books.mkdir()
    _passing_notebook(books / "00_first.ipynb", answer=41)
    _write_notebook(books / "01_broken.ipynb", ("md", "Some prose."), "x = 1", FAILING_CELL, "print('never reached')")
    _passing_notebook(books / "02_after.ipynb", answer=42)
    out = tmp_path / "out"

    status = runner.main(["--profile", "smoke", "--notebooks-dir", str(books), "--out", str(out)])

    assert status == 1
    rows = json.loads((out / "summary.json").read_text())
    assert [(r["notebook"], r["status"]) for r in rows] == [("00_first", "ok"), ("01_broken", "FAILED"), ("02_after", "ok")]
    assert rows[2]["metrics"]["answer"] == 42, "the notebook after the failure must still run"
    assert (out / "02_after" / "metrics.json").is_file()
    broken = rows[1]
    assert broken["error"] == "ZeroDivisionError: division by zero"
    assert broken["failed_cell"]["index"] == 3  # parameters, markdown, x = 1, the failing cell: index in the file
    assert broken["failed_cell"]["source_head"].startswith("# divide the lesion area by the image area\nvalues = [3, 4]")
    assert "ZeroDivisionError" in broken["traceback_tail"] and "values[1] - 4" in broken["traceback_tail"]
    assert "\x1b[" not in broken["traceback_tail"], "colour codes must be stripped"

    markdown = (out / "summary.md").read_text()
    assert "| notebook | status | time (s) | headline metrics |" in markdown
    assert "| 00_first | ok |" in markdown and "answer=41, note=a\\|b |" in markdown  # a | would split the cell
    assert "| 01_broken | FAILED |" in markdown and "cell index 3 (In [" in markdown
    assert "## Failures" in markdown and "# divide the lesion area by the image area" in markdown
    assert markdown.count("ZeroDivisionError: division by zero") >= 2  # in the table and under Failures

    printed = capsys.readouterr().out
    assert "01_broken failed in cell index 3" in printed and "values[1] - 4" in printed and "summary.md" in printed


def test_make_notebooks_exits_zero_when_all_pass_and_writes_the_summary(tmp_path):
    books = tmp_path / "books"
    books.mkdir()
    _passing_notebook(books / "00_only.ipynb", answer=7)
    out = tmp_path / "out"
    assert runner.main(["--profile", "smoke", "--notebooks-dir", str(books), "--out", str(out)]) == 0
    rows = json.loads((out / "summary.json").read_text())
    assert len(rows) == 1 and rows[0]["status"] == "ok" and rows[0]["error"] is None
    markdown = (out / "summary.md").read_text()
    assert "answer=7" in markdown and "Failures" not in markdown


def test_cli_with_no_matching_notebook_is_an_error(tmp_path, capsys):
    assert runner.main(["--profile", "smoke", "--notebooks-dir", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert f"no notebooks matched in {tmp_path}" in capsys.readouterr().err


@pytest.mark.skipif(os.name != "posix", reason="Unix sockets: the runner keeps TCP elsewhere")
def test_the_runner_starts_kernels_on_sockets_of_their_own_not_on_tcp_ports(tmp_path):
    managers = [runner._socket_kernel_manager(str(tmp_path / name))() for name in ("a", "b")]
    assert all(manager.transport == "ipc" for manager in managers)  # no free-port race between two kernels
    assert managers[0].ip.startswith(str(tmp_path / "a")) and managers[1].ip.startswith(str(tmp_path / "b"))

"""Every notebook in notebooks/ executes under the smoke profile and writes metrics.json."""
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_under_smoke_profile(notebook_runs, path):
    metrics = notebook_runs(path.stem)
    assert metrics["notebook"] == path.stem and metrics["profile"] == "smoke"
    assert metrics["headline"], "metrics.json names no headline metrics"
    assert all(key in metrics for key in metrics["headline"]), "a headline key is missing from metrics.json"
    assert (Path(metrics["_output_dir"]).parent / path.name).is_file(), "executed notebook not written"

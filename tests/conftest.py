"""Shared fixtures: a fresh cache folder per session and cached papermill runs of the notebooks."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


@pytest.fixture(scope="session")
def notebook_runs(tmp_path_factory):
    """Execute notebooks under the smoke profile once per session; return a function name -> metrics dict."""
    from medgan_nb.notebook import execute_notebook

    out_root = tmp_path_factory.mktemp("smoke_runs")
    cache: dict[str, dict] = {}

    def run(stem: str) -> dict:
        if stem not in cache:
            book = NOTEBOOKS / f"{stem}.ipynb"
            assert book.is_file(), f"missing notebook {book}"
            row = execute_notebook(book, out_root, "smoke")
            assert row["status"] == "ok", f"{stem} failed under the smoke profile: {row['error']}"
            cache[stem] = row["metrics"]
            cache[stem]["_seconds"] = row["seconds"]
            cache[stem]["_output_dir"] = str(out_root / stem)
        return cache[stem]

    return run


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Point the dataset cache at a temporary folder so tests never reuse a user's cache."""
    import os

    folder = tmp_path_factory.mktemp("data_cache")
    old = os.environ.get("MEDGAN_CACHE_DIR")
    os.environ["MEDGAN_CACHE_DIR"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("MEDGAN_CACHE_DIR", None)
    else:
        os.environ["MEDGAN_CACHE_DIR"] = old

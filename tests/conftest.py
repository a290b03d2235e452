"""Shared fixtures: a fresh cache folder per session and cached papermill runs of the notebooks."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


@pytest.fixture(scope="session")
def notebook_runs(tmp_path_factory, request):
    """Execute notebooks under the smoke profile once per test run; return a function name -> metrics dict.

    Under pytest-xdist (``make test`` uses two workers) every worker is its own
    session, so the executed notebooks live in a folder the workers share, and a
    file lock per notebook makes sure only one of them executes it.
    """
    from filelock import FileLock

    from medgan_nb.notebook import execute_notebook

    base = tmp_path_factory.getbasetemp()
    worker = getattr(request.config, "workerinput", None)  # set only inside a pytest-xdist worker
    out_root = (base.parent if worker else base) / "smoke_runs"
    out_root.mkdir(exist_ok=True)
    cache: dict[str, dict] = {}

    def run(stem: str) -> dict:
        if stem not in cache:
            book = NOTEBOOKS / f"{stem}.ipynb"
            assert book.is_file(), f"missing notebook {book}"
            done = out_root / f"{stem}.row.json"
            with FileLock(str(out_root / f"{stem}.lock")):
                if done.is_file():
                    row = json.loads(done.read_text())
                else:
                    row = execute_notebook(book, out_root, "smoke")
                    done.write_text(json.dumps(row))
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

    folder = tmp_path_factory.mktemp("data_cache")  # per worker: two processes never write one cache file
    old = os.environ.get("MEDGAN_CACHE_DIR")
    os.environ["MEDGAN_CACHE_DIR"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("MEDGAN_CACHE_DIR", None)
    else:
        os.environ["MEDGAN_CACHE_DIR"] = old

"""Shared fixtures: a fresh cache folder per session and cached papermill runs of the notebooks."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def shared_folder(tmp_path_factory, request) -> Path:
    """Return a folder every pytest-xdist worker sees: the session's base temp folder, or its parent in a worker."""
    base = tmp_path_factory.getbasetemp()
    worker = getattr(request.config, "workerinput", None)  # set only inside a pytest-xdist worker
    return base.parent if worker else base


def computed_once(tmp_path_factory, request, name: str, compute):
    """Return ``compute()``, computed once per test run even when both pytest-xdist workers need it.

    A module-scoped fixture is set up by every worker that runs one of its tests, and the scheduler may split a
    module's tests between the two; an expensive fixture then costs twice. The first worker computes and pickles the
    result in the shared folder under a file lock; the other waits for it and loads it.
    """
    import pickle

    from filelock import FileLock

    folder = shared_folder(tmp_path_factory, request)
    path = folder / f"{name}.pickle"
    with FileLock(str(folder / f"{name}.lock")):
        if path.is_file():
            return pickle.loads(path.read_bytes())
        result = compute()
        partial = path.with_suffix(".partial")
        partial.write_bytes(pickle.dumps(result))
        partial.replace(path)  # whole or absent: never a half-written result
        return result


@pytest.fixture(scope="session")
def notebook_runs(tmp_path_factory, request):
    """Execute notebooks under the smoke profile once per test run; return a function name -> metrics dict.

    Under pytest-xdist (``make test`` uses two workers) every worker is its own
    session, so the executed notebooks live in a folder the workers share, and a
    file lock per notebook makes sure only one of them executes it. A worker that
    needs a notebook the other is executing does not sit idle: it executes a
    notebook nobody has claimed yet, when the session runs the baselines test
    (which needs every notebook).
    """
    from filelock import FileLock, Timeout

    from medgan_nb.tools.runner import execute_notebook, list_notebooks

    out_root = shared_folder(tmp_path_factory, request) / "smoke_runs"
    out_root.mkdir(exist_ok=True)
    cache: dict[str, dict] = {}

    def execute_unless_done(stem: str) -> dict:
        """Execute ``stem`` and store its row, unless a worker did it already; the caller holds its lock."""
        book = NOTEBOOKS / f"{stem}.ipynb"
        assert book.is_file(), f"missing notebook {book}"
        done = out_root / f"{stem}.row.json"
        if done.is_file():
            return json.loads(done.read_text())
        row = execute_notebook(book, out_root, "smoke")
        done.write_text(json.dumps(row))
        return row

    # the baselines test needs every notebook: only then is executing an unclaimed one never wasted work
    every_notebook_needed = any("test_notebook_metrics_stay_within_their_baselines" in item.nodeid
                                for item in request.session.items)

    def help_with_another_notebook() -> bool:
        """While the notebook we need runs in the other worker, execute one nobody has claimed; False if none."""
        if not every_notebook_needed:
            return False
        for book in list_notebooks(ROOT):
            if (out_root / f"{book.stem}.row.json").is_file():
                continue
            try:
                with FileLock(str(out_root / f"{book.stem}.lock"), timeout=0):
                    execute_unless_done(book.stem)
                return True
            except Timeout:  # the other worker is executing it
                continue
        return False

    def run(stem: str) -> dict:
        if stem not in cache:
            lock = FileLock(str(out_root / f"{stem}.lock"))
            while True:
                try:
                    lock.acquire(timeout=0)
                    break
                except Timeout:
                    if not help_with_another_notebook():  # nothing else to do: wait for the other worker
                        lock.acquire()
                        break
            try:
                row = execute_unless_done(stem)
            finally:
                lock.release()
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


def assert_within_baselines(metrics: dict, notebook: str, *names: str) -> None:
    """Assert that ``metrics`` keeps the smoke bounds of ``names`` in tests/baselines/smoke.json.

    The numbers live in that one file (with their why and the spread over seeds);
    a notebook test names the behaviour and asks the file for the bounds.
    """
    from medgan_nb.tools.baselines import check_metrics, load_baselines

    entry = load_baselines(ROOT / "tests" / "baselines" / "smoke.json")[notebook]
    missing = [name for name in names if name not in entry]
    assert not missing, f"no bound for {missing} under {notebook} in tests/baselines/smoke.json"
    failures = check_metrics(notebook, metrics, {notebook: {name: entry[name] for name in names}})
    assert not failures, "\n".join(failures)


# The order the two pytest-xdist workers meet the tests in. The worksteal scheduler gives each worker half of the
# collected tests and lets an idle worker take tests from the *end* of the other's queue. So, first: the modules
# whose module-scoped fixture takes tens of seconds (computed_once above; a module at the end is often split between
# the workers, and both would need its fixture); then the tests that each execute a notebook for tens of seconds.
# Short unit tests come last, where they fill the time while the other worker finishes its last long test.
FRONT_MODULES = ("test_weights.py", "test_sensitivity.py", "test_gpu_profile_on_cpu.py", "test_real_formats.py",
                 "test_colab_fresh_env.py")


def pytest_collection_modifyitems(session, config, items):
    rank = {name: position for position, name in enumerate(FRONT_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(FRONT_MODULES)))  # stable: the rest keep their order

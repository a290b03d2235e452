"""The setup cell's promise, tested: a Colab-like runtime without medgan_nb installs the kit and runs notebook 02.

A Colab runtime has torch, torchvision, numpy, matplotlib, pandas, scikit-image,
ipywidgets and a Jupyter kernel preinstalled, and no ``medgan_nb``. This test
builds such an environment: a fresh virtual environment that sees exactly those
distributions and their dependencies (linked from the environment the tests run
in, so torch is not downloaded again). Then it installs the kit the way the
setup cell does, but from a ``git+file://`` URL of this checkout (its committed
state) instead of the network, and executes notebook 02 under the smoke profile
with that environment's Python as the kernel. Whatever else the kit needs
(torchmetrics, tqdm, ...) must come from its own package metadata.

Colab runs Python 3.12, so the test runs twice: once on the Python the tests
run on (the preinstalled distributions linked from this environment), and once
on a Python 3.12 interpreter when the machine has one (``python3.12`` on PATH,
a pyenv 3.12, or ``MEDGAN_COLAB_PYTHON``). The 3.12 runtime's preinstalled
distributions, at this environment's versions, are built once into a cache
outside the checkout (``~/.cache/medgan-nb``, or ``MEDGAN_COLAB_CACHE``): torch
for 3.12 is a download of about 3 GB, so a machine without that cache builds it
only when ``MEDGAN_COLAB_BUILD=1`` (``make colab-env`` does) and otherwise skips,
saying so.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from medgan_nb.tools.colab import install_command

ROOT = Path(__file__).resolve().parents[1]
COLAB_PREINSTALLED = ("torch", "torchvision", "numpy", "matplotlib", "pandas", "scikit-image", "ipywidgets",
                      "ipykernel")


def _closure(names) -> set[str]:
    """Return the distributions ``names`` need, recursively (extras and environment markers honoured)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = re.split(r"[\s;<>=!~\[(]", todo.pop(), maxsplit=1)[0].lower().replace("_", "-")
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        for requirement in dist.requires or []:
            if ";" in requirement:
                from packaging.requirements import Requirement

                parsed = Requirement(requirement)
                if parsed.marker is not None and not parsed.marker.evaluate({"extra": ""}):
                    continue
            todo.append(requirement)
    return seen


def _link_preinstalled(target: Path) -> None:
    """Symlink the files of the Colab-preinstalled distributions (and their dist-info) into ``target``."""
    target.mkdir(parents=True)
    for name in sorted(_closure(COLAB_PREINSTALLED)):
        dist = metadata.distribution(name)
        base = Path(dist.locate_file(""))
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops:
            source = base / top
            if source.exists() and not (target / top).exists() and not top.startswith("__editable__"):
                (target / top).symlink_to(source)


COLAB_PYTHON = "3.12"  # the Python of Colab's runtimes


def colab_interpreter() -> Path | None:
    """Return a Python 3.12 interpreter of this machine (MEDGAN_COLAB_PYTHON, PATH, pyenv), or None."""
    candidates = [os.environ.get("MEDGAN_COLAB_PYTHON"), shutil.which(f"python{COLAB_PYTHON}"),
                  *map(str, sorted(Path.home().glob(f".pyenv/versions/{COLAB_PYTHON}.*/bin/python3"), reverse=True))]
    for candidate in filter(None, candidates):
        try:  # a pyenv shim on PATH exists but may not run (its version not selected)
            version = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                     capture_output=True, text=True, timeout=30).stdout.strip()
        except OSError:
            continue
        if version == COLAB_PYTHON:
            return Path(candidate)
    return None


def _site_packages(python: Path) -> Path:
    return Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())


def colab_preinstalled_env(interpreter: Path) -> Path:
    """Return the site-packages of a cached environment of ``interpreter`` holding Colab's preinstalled set.

    Built once (its versions those of this environment, so both runs test the same
    releases); a build that stopped half-way has no ``.complete`` marker and is redone.
    """
    pins = [f"{name}=={metadata.version(name)}" for name in COLAB_PREINSTALLED]
    cache = Path(os.environ.get("MEDGAN_COLAB_CACHE", Path.home() / ".cache" / "medgan-nb"))
    folder = cache / f"colab-py{COLAB_PYTHON}-torch{metadata.version('torch')}"
    if not (folder / ".complete").is_file():
        if os.environ.get("MEDGAN_COLAB_BUILD") != "1":
            pytest.skip(f"no Colab-like Python {COLAB_PYTHON} environment cached in {folder}; building it downloads "
                        f"torch for {COLAB_PYTHON} (about 3 GB): run `make colab-env` (or set MEDGAN_COLAB_BUILD=1)")
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run([str(interpreter), "-m", "venv", str(folder)], check=True)
        subprocess.run([str(folder / "bin" / "python"), "-m", "pip", "install", "-q", "--progress-bar", "off", *pins],
                       check=True, timeout=1800)
        (folder / ".complete").write_text("\n".join(pins) + "\n")
    return _site_packages(folder / "bin" / "python")


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.parametrize("python", ["this-python", f"python-{COLAB_PYTHON}"])
def test_colab_like_runtime_installs_the_kit_and_runs_notebook_02(tmp_path, python):
    if shutil.which("git") is None:
        pytest.skip("git is needed to install from a git+file:// URL")
    venv = tmp_path / "colab"
    if python == "this-python":
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        _link_preinstalled(tmp_path / "preinstalled")
        preinstalled = tmp_path / "preinstalled"
    else:
        interpreter = colab_interpreter()
        if interpreter is None:
            pytest.skip(f"Colab runs Python {COLAB_PYTHON}; this machine has none (no python{COLAB_PYTHON} on PATH or "
                        "under ~/.pyenv): install it, or point MEDGAN_COLAB_PYTHON at one")
        preinstalled = colab_preinstalled_env(interpreter)
        subprocess.run([str(interpreter), "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = _site_packages(python)
    (site / "colab_preinstalled.pth").write_text(str(preinstalled) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    probe = subprocess.run([str(python), "-c", "import torch, skimage, ipywidgets; import medgan_nb"],
                           capture_output=True, text=True, env=env, cwd=tmp_path)
    assert "No module named 'medgan_nb'" in probe.stderr, "the fresh runtime must not see medgan_nb yet"

    # Colab's pip is recent; the pip that Python 3.11's venv bundles (23.2) misreads "name @ git+file://..." as a path
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True, env=env, cwd=tmp_path,
                   capture_output=True, timeout=300)
    # the setup cell's line, pointed at this checkout: %pip install -q "medgan-nb @ git+file:///..."
    line = install_command(f"git+file://{ROOT}")
    pip_args = re.match(r'%pip install -q "(.+)"', line).group(1)
    # --no-compile only skips pip's byte-compiling of every installed file; Python compiles what is imported
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-compile", pip_args], capture_output=True, text=True,
                          env=env, timeout=900, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    where = subprocess.run([str(python), "-c", "import medgan_nb; print(medgan_nb.__file__)"],
                           capture_output=True, text=True, env=env, check=True, cwd=tmp_path).stdout
    assert str(venv) in where and str(ROOT) not in where  # the installed copy, not this checkout

    kernels = venv / "share" / "jupyter" / "kernels" / "colab-like"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab-like", "language": "python", "env": {"PYTHONPATH": ""}}))
    books = tmp_path / "notebooks"
    books.mkdir()
    shutil.copy(ROOT / "notebooks" / "02_dcgan_skin_lesions.ipynb", books)
    from medgan_nb.tools.runner import execute_notebook

    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(venv / "share" / "jupyter")
    try:
        # what this test proves is the install: the notebook runs end to end in the fresh runtime. Its training
        # effect is checked at full smoke size in tests/test_nb02_dcgan.py, so a few steps suffice here (the counts
        # of the gpu-on-CPU test's notebook 02, which every cell runs with).
        row = execute_notebook(books / "02_dcgan_skin_lesions.ipynb", tmp_path / "out", "smoke",
                               {"steps": 4, "n_images": 300, "n_eval": 60}, kernel_name="colab-like")
    finally:
        if old is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = old
    assert row["status"] == "ok", row.get("error")
    metrics = row["metrics"]
    assert metrics["steps"] == 4 and metrics["dataset"] == "phantom"
    assert metrics["reload_identical"] is True and 0 < metrics["fd_trained"] < float("inf")

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

from medgan_nb.runtime import install_command

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


@pytest.mark.slow
@pytest.mark.notebook
def test_colab_like_runtime_installs_the_kit_and_runs_notebook_02(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is needed to install from a git+file:// URL")
    venv = tmp_path / "colab"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    _link_preinstalled(tmp_path / "preinstalled")
    (site / "colab_preinstalled.pth").write_text(str(tmp_path / "preinstalled") + "\n")
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
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", pip_args], capture_output=True, text=True,
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
    from medgan_nb.notebook import execute_notebook

    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(venv / "share" / "jupyter")
    try:
        row = execute_notebook(books / "02_dcgan_skin_lesions.ipynb", tmp_path / "out", "smoke",
                               kernel_name="colab-like")
    finally:
        if old is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = old
    assert row["status"] == "ok", row.get("error")
    assert row["metrics"]["fd_trained"] < row["metrics"]["fd_untrained"]

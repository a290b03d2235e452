"""House rules that keep the course usable: stripped notebooks, common knobs, no stray dependencies."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
COMMON_KNOBS = ["profile", "dataset", "data_root", "image_size", "steps", "batch_size", "device", "seed", "output_dir"]


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def test_there_are_notebooks():
    names = [p.name for p in NOTEBOOKS]
    assert any(n.startswith("00_") for n in names), names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_outputs_are_stripped(path):
    dirty = [i for i, c in enumerate(_cells(path)) if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; strip them (jupyter nbconvert --clear-output --inplace)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_code_cell_is_tagged_parameters_with_common_knobs(path):
    code = [c for c in _cells(path) if c["cell_type"] == "code"]
    first = code[0]
    assert "parameters" in first.get("metadata", {}).get("tags", []), f"{path.name}: first code cell is not tagged 'parameters'"
    names = [node.targets[0].id for node in ast.parse(_source(first)).body if isinstance(node, ast.Assign)]
    assert names[: len(COMMON_KNOBS)] == COMMON_KNOBS, f"{path.name}: parameters cell starts {names}, expected {COMMON_KNOBS}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_reads_like_a_lesson(path):
    cells = _cells(path)
    words = sum(len(_source(c).split()) for c in cells if c["cell_type"] == "markdown")
    assert words >= 400, f"{path.name}: only {words} words of prose"
    long_cells = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and len(_source(c).splitlines()) > 25]
    assert not long_cells, f"{path.name}: code cells {long_cells} exceed 25 lines; move the code into medgan_nb"
    assert any("exercise" in _source(c).lower() for c in cells if c["cell_type"] == "markdown"), f"{path.name}: no exercises"
    assert "write_metrics" in "".join(_source(c) for c in cells if c["cell_type"] == "code")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_kernel_is_python3(path):
    kernelspec = json.loads(path.read_text()).get("metadata", {}).get("kernelspec", {})
    assert kernelspec.get("name") == "python3", (
        f"{path.name}: kernel spec name is {kernelspec.get('name')!r}; set it to 'python3' (papermill, Colab and "
        "make notebooks start that kernel; a local venv name breaks them elsewhere)"
    )


def _readme_notebook_table() -> list[str]:
    """Return the notebook names in the first column of the README's table under "## The notebooks"."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## The notebooks", 1)[1].split("\n## ", 1)[0] if "## The notebooks" in text else ""
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [m.group(1) for line in rows if (m := re.match(r"\|\s*`?([0-9]{2}_[\w-]+?)(?:\.ipynb)?`?\s*\|", line))]


def test_readme_notebook_table_lists_every_notebook():
    listed = _readme_notebook_table()
    assert listed, "README.md has no notebook table under '## The notebooks'"
    missing = [p.stem for p in NOTEBOOKS if p.stem not in listed]
    assert not missing, f"README.md's notebook table lacks {missing}; add a row (name, what you learn, Colab badge)"
    stale = [name for name in listed if name not in {p.stem for p in NOTEBOOKS}]
    assert not stale, f"README.md's notebook table lists {stale}, which are not in notebooks/; remove or rename them"


def test_product_never_refers_to_the_shared_folder():
    pattern = re.compile(r"\.\./shared|/work/shared")
    offenders = []
    for path in ROOT.rglob("*"):
        if any(part in {".venv", ".git", "runs", "cache", "__pycache__"} for part in path.parts) or not path.is_file():
            continue
        if path == Path(__file__).resolve():  # this test spells the pattern it looks for
            continue
        if path.suffix in {".py", ".ipynb", ".md", ".toml", ".txt", ".cfg", ".yml", ".yaml"} or path.name in {"Makefile", "run"}:
            if pattern.search(path.read_text(errors="ignore")):
                offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, f"files refer to a folder outside the product: {offenders}"


def test_requirements_use_ranges_not_torch_pins():
    lines = [l.strip() for l in (ROOT / "requirements.txt").read_text().splitlines() if l.strip() and not l.startswith("#")]
    for line in lines:
        if line.startswith(("torch", "torchvision")) and not line.startswith("torchmetrics"):
            assert "==" not in line, f"pin {line!r} would fight Colab's preinstalled torch; use a range"
    for needed in ("jupyterlab", "torch", "torchvision", "matplotlib", "ipywidgets", "scikit-image", "papermill", "torchmetrics", "tqdm"):
        assert any(re.match(rf"{needed}\b", l) for l in lines), f"requirements.txt lacks {needed}"

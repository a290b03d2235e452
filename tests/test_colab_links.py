"""Colab badges (title cells, README) and setup-cell install lines all come from medgan_nb.tools.colab.REPOSITORY."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from medgan_nb.tools import colab

ROOT = Path(__file__).resolve().parents[1]


def test_every_badge_and_install_line_agrees_with_the_repository_address():
    assert colab.stale_links(ROOT) == [], "run `make colab-links` to rewrite them from medgan_nb.tools.colab.REPOSITORY"
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        assert colab.colab_badge(path.name) in "".join(cells[0]["source"]), f"{path.name}: no Colab badge in its title"
        # notebook 07 reports FRD, so its setup cell installs the kit with the frd extra (pyradiomics-bhklab)
        line = colab.install_command(extras="frd" if path.stem == "07_evaluation" else "")
        assert any(line in "".join(c["source"]) for c in cells if c["cell_type"] == "code"), \
            f"{path.name}: no setup cell installing the kit with {line}"
        assert colab.colab_badge(path.name) in (ROOT / "README.md").read_text(), f"README: no Colab badge for {path.name}"


def test_a_new_address_rewrites_every_link(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks", ignore=shutil.ignore_patterns("*.md"))
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    monkeypatch.setattr(colab, "REPOSITORY", "a-teacher/fork-of-the-course")
    monkeypatch.setattr(colab, "REPOSITORY_URL", "https://github.com/a-teacher/fork-of-the-course")
    stale = colab.stale_links(tmp_path)
    assert "README.md" in stale and len(stale) == 1 + len(list((tmp_path / "notebooks").glob("[0-9]*.ipynb")))
    assert sorted(colab.write_links(tmp_path)) == sorted(stale)
    assert colab.stale_links(tmp_path) == []
    text = (tmp_path / "notebooks" / "02_dcgan_skin_lesions.ipynb").read_text()
    assert "github/a-teacher/fork-of-the-course/blob/main/notebooks/02_dcgan_skin_lesions.ipynb" in text
    assert "git+https://github.com/a-teacher/fork-of-the-course" in text and "medgan-notebooks/medgan" not in text

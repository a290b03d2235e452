"""Colab links kept in step with the repository's address (``REPOSITORY`` below).

Every notebook's title cell carries an "Open in Colab" badge on its second
line, its setup cell installs the kit with ``install_command()``, and the
README's notebook table links each notebook to Colab. All of them are written
from the one address below; ``python -m medgan_nb.tools.colab``
(``make colab-links``) rewrites them after the address changes, and
:func:`stale_links` (used by the tests) lists what disagrees.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from ..runtime import project_root

# The one place the repository's address is written. The notebooks' Colab badges and setup cells and the
# README's badges are generated from it (`make colab-links`); a test checks that they agree.
REPOSITORY = "medgan-notebooks/medgan-notebooks"
REPOSITORY_URL = f"https://github.com/{REPOSITORY}"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"


def colab_url(notebook_file: str) -> str:
    """Return the address that opens ``notebooks/<notebook_file>`` of this repository in Google Colab."""
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/main/notebooks/{notebook_file}"


def colab_badge(notebook_file: str) -> str:
    """Return the markdown of an "Open in Colab" badge for one notebook."""
    return f"[![Open In Colab]({COLAB_BADGE})]({colab_url(notebook_file)})"


def install_command(source: str | None = None, extras: str = "") -> str:
    """Return the pip line a notebook's setup cell runs on a fresh Colab runtime (``source``: another pip URL).

    ``extras`` names optional parts of the kit, e.g. ``"frd"`` for notebook 07's Fréchet Radiomic Distance.
    """
    extras = f"[{extras}]" if extras else ""
    return f'%pip install -q "medgan-nb{extras} @ {source or "git+" + REPOSITORY_URL}"'


BADGE_LINE = re.compile(r"^\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)\s*$")
INSTALL_LINE = re.compile(r'^(\s*)%pip install -q "medgan-nb(?:\[(?P<extras>[^\]]*)\])? @ [^"]*"\s*$')
README_BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*/notebooks/(?P<file>[0-9]{2}_[^)]*\.ipynb)\)")


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def notebook_with_links(notebook: dict, file_name: str) -> dict:
    """Return the notebook (a JSON dict) with its title badge and setup cell's install line up to date."""
    title = notebook["cells"][0]
    lines = _source(title).split("\n")
    badge = colab_badge(file_name)
    if len(lines) > 1 and BADGE_LINE.match(lines[1]):
        lines[1] = badge
    else:
        lines[1:1] = [badge]
    title["source"] = "\n".join(lines).splitlines(keepends=True)
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        text = _source(cell)
        new = "\n".join(INSTALL_LINE.sub(lambda m: m.group(1) + install_command(extras=m["extras"] or ""), line) for line in text.split("\n"))
        if new != text:
            cell["source"] = new.splitlines(keepends=True)
    return notebook


def readme_with_links(text: str) -> str:
    """Return the README text with every notebook's Colab badge pointing at the repository."""
    return README_BADGE.sub(lambda m: colab_badge(m["file"]), text)


def _dump(notebook: dict) -> str:
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def stale_links(root: Path | None = None) -> list[str]:
    """Return the files whose Colab badges or install lines disagree with the repository's address."""
    root = root or project_root()
    stale = []
    for path in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        text = path.read_text()
        if _dump(notebook_with_links(json.loads(text), path.name)) != text:
            stale.append(str(path.relative_to(root)))
    readme = root / "README.md"
    if readme.is_file() and readme_with_links(readme.read_text()) != readme.read_text():
        stale.append("README.md")
    return stale


def write_links(root: Path | None = None) -> list[str]:
    """Rewrite the stale files (see :func:`stale_links`) and return their names."""
    root = root or project_root()
    changed = stale_links(root)
    for name in changed:
        path = root / name
        if name == "README.md":
            path.write_text(readme_with_links(path.read_text()))
        else:
            path.write_text(_dump(notebook_with_links(json.loads(path.read_text()), path.name)))
    return changed


if __name__ == "__main__":
    changed = write_links()
    print("updated: " + ", ".join(changed) if changed else "every Colab link is up to date")
    sys.exit(0)

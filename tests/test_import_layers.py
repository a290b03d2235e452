"""Imports flow one way through medgan_nb's rooms; no module imports a room above its own."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "medgan_nb"

# room -> the rooms it may import (besides itself)
ALLOWED = {
    "runtime": set(),
    "data": {"runtime"},
    "losses": {"runtime"},
    "augment": {"runtime"},
    "models": {"runtime", "data"},
    "train": {"runtime", "data", "models", "losses", "augment"},
    "metrics": {"runtime", "data", "models"},
    "weights": {"runtime", "models"},  # the reference checkpoints: built from the registry, loaded with weights_only
    "viz": {"runtime", "data", "models", "metrics"},
    "widgets": {"runtime", "data", "models", "metrics", "viz"},
    "experiments": {"runtime", "data", "models", "losses", "augment", "train", "metrics", "viz", "widgets", "weights"},
    "notebook": {"runtime", "data"},  # NotebookRun.load reads the run's dataset
    "exercises": {"runtime"},
    "tools": {"runtime", "notebook"},  # maintainer tooling: papermill runner, baselines, student edition, Colab links
}


def _room(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def _imported_rooms(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    here = path.relative_to(PACKAGE).with_suffix("").parts
    package = here[:-1] if path.name != "__init__.py" else here[:-1]
    rooms = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - node.level + 1])
                target = base + (node.module.split(".") if node.module else [])
                if not target:  # "from .. import x" at the top of the package: x is the room
                    rooms.update(alias.name for alias in node.names)
                else:
                    rooms.add(target[0])
            elif node.module and node.module.startswith("medgan_nb."):
                rooms.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            rooms.update(a.name.split(".")[1] for a in node.names if a.name.startswith("medgan_nb."))
    return rooms


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_only_rooms_below_it(path):
    room = _room(path)
    assert room in ALLOWED, f"{path.relative_to(PACKAGE)}: room {room!r} has no place in ALLOWED; add it"
    wrong = _imported_rooms(path) - ALLOWED[room] - {room}
    assert not wrong, f"{path.relative_to(PACKAGE)} ({room}) imports {sorted(wrong)}, a room above or beside it"


def test_architecture_notes_list_the_same_rooms_and_imports():
    """ARCHITECTURE.md's room table says what ALLOWED enforces: a room added or an import allowed updates both."""
    import re

    text = (PACKAGE.parent / "ARCHITECTURE.md").read_text()
    table = {}
    for line in text.splitlines():
        match = re.match(r"\| `(\w+)` \| .* \| (.*) \|$", line)
        if match:
            allowed = match.group(2).strip()
            table[match.group(1)] = set() if allowed == "—" else {room.strip() for room in allowed.split(",")}
    assert table == ALLOWED, ("ARCHITECTURE.md and ALLOWED disagree: "
                              f"{ {room: (table.get(room), ALLOWED.get(room)) for room in set(table) | set(ALLOWED) if table.get(room) != ALLOWED.get(room)} }")

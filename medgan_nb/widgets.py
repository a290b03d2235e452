"""Interactive explorers built on ipywidgets.

Each function returns a widget (or a box of widgets) that a notebook cell
shows by leaving it as the cell's last expression. Under papermill the
widgets are built but never clicked, so every explorer also has a plain
function behind it that the notebook calls once to draw a static figure.
"""
from __future__ import annotations

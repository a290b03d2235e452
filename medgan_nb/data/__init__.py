"""Data: the DermSynth phantom (``phantom``), real-data loaders (``sources``), preprocessing (``transforms``).

``load_dataset`` is the single entry point the notebooks use::

    from medgan_nb.data import load_dataset
    data = load_dataset("phantom", size=64)          # or "dermamnist", "ham10000", "isic-seg", "folder"
"""
from .phantom import CLASS_NAMES, PhantomBatch, PhantomConfig, render_phantoms
from .sources import KNOWN_DATASETS, LesionDataset, load_dataset, random_subset

__all__ = [
    "CLASS_NAMES",
    "KNOWN_DATASETS",
    "LesionDataset",
    "PhantomBatch",
    "PhantomConfig",
    "load_dataset",
    "random_subset",
    "render_phantoms",
]

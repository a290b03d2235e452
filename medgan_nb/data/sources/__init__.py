r"""One call for every dataset: ``load_dataset(name, root, size, split) -> LesionDataset``.

Sources (``KNOWN_DATASETS``):

* ``phantom`` -- the DermSynth phantom rendered by :func:`medgan_nb.data.phantom.render_phantoms`
  (no files, no network; the default).
* ``dermamnist`` -- the MedMNIST ``dermamnist*.npz`` files (HAM10000 resized to 28/64/128/224 px).
* ``ham10000`` -- ``HAM10000_metadata.csv`` + ``<image_id>.jpg`` (+ ``<image_id>_segmentation.png``).
* ``isic-seg`` -- ISIC 2018 Task 1: ``ISIC_xxxxxxx.jpg`` with ``ISIC_xxxxxxx_segmentation.png``.
* ``folder`` -- one subfolder per class (``root/<class>/<image>.png``), like torchvision's ImageFolder.

The pipeline is the same for all of them and runs once:

1. index the files under ``root`` (one recursive walk) and check them;
2. decode every image once with PIL (JPEG ``draft`` mode for a cheap downscale),
   scale its short side to ``size`` and cut the centre square
   (:func:`~medgan_nb.data.transforms.resize_and_center_crop`; masks the same
   way with nearest neighbour), in a thread pool with a progress bar;
3. store the uint8 result as one ``.npz`` in the cache folder, keyed by the
   source, a fingerprint of ``root`` (resolved path, file count, total bytes,
   newest modification time) and ``size``; the next call only reads that file;
4. pick the split and convert to float tensors :math:`x = v/127.5 - 1 \in [-1, 1]`.

**Splits.** DermaMNIST ships fixed train/val/test splits and they are used as
they are. For the other sources the split is drawn by ``seed`` with fractions
:math:`(f_\text{train}, f_\text{val}, f_\text{test})` (default 0.7/0.15/0.15),
*stratified* by class and *grouped*: all images of one group (in HAM10000 the
``lesion_id``: the same lesion photographed 2-3 times) land in the same split,
otherwise a model is tested on near-copies of its training images. Within a
class the groups are shuffled and laid end to end; a group whose middle falls
at the fraction :math:`q` of the class's images goes to ``train`` if
:math:`q < f_\text{train}`, to ``val`` if :math:`q < f_\text{train} + f_\text{val}`,
else to ``test`` (:func:`assign_splits`). The phantom draws i.i.d. images, so
its splits are simply consecutive index ranges.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

# Every top-level name of the former sources.py that others may import stays importable from here (constants
# included); a test that patches a function patches it in its own module (sources.files, sources.dermamnist).
from .cache import CACHE_VERSION, _load_through_cache, cache_dir
from .dataset import (
    DEFAULT_FRACTIONS,
    DERMAMNIST_CLASS_NAMES,
    HOW_TO_GET,
    KNOWN_DATASETS,
    MAX_SIZE,
    MIN_SIZE,
    SPLITS,
    LesionDataset,
    _check_fractions,
    _check_name,
    _check_size,
    _Plan,
    _select_split,
    assign_splits,
    random_subset,
)
from .dermamnist import DERMAMNIST_SIZES, _prepare_dermamnist, dermamnist_file_name
from .files import ASPECT_TOLERANCE, MASK_SUFFIX
from .folder import IMAGE_SUFFIXES, _prepare_folder
from .ham10000 import HAM10000_COLUMNS, HAM10000_REQUIRED, _prepare_ham10000
from .isic import _prepare_isic_seg
from .phantom_source import _prepare_phantom

__all__ = [
    "DEFAULT_FRACTIONS",
    "DERMAMNIST_CLASS_NAMES",
    "HAM10000_COLUMNS",
    "KNOWN_DATASETS",
    "LesionDataset",
    "assign_splits",
    "cache_dir",
    "dermamnist_file_name",
    "load_dataset",
]

def load_dataset(
    name: str = "phantom",
    root: str | os.PathLike | None = None,
    size: int = 64,
    split: str = "train",
    *,
    seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    cache: bool = True,
    progress: bool = True,
    workers: int | None = None,
    **kw: Any,
) -> LesionDataset:
    """Return the ``split`` of dataset ``name`` as a :class:`LesionDataset` of ``size`` x ``size`` images.

    ``root`` is the folder holding the files (not needed for ``phantom``;
    optional for ``dermamnist``). ``split`` is ``"train"``, ``"val"``,
    ``"test"`` or ``"all"``. ``seed`` and ``fractions`` fix the split (and the
    phantom's rendering; DermaMNIST keeps its own splits). ``cache=False``
    decodes again and writes no cache. ``workers`` threads decode the files
    (default: the number of cores, at most 8).
    Source options: ``phantom``: ``n`` (images in all splits, default 4000),
    ``config`` (a PhantomConfig), ``prior`` (class probabilities);
    ``dermamnist``: ``download`` (default True: fetch through the ``medmnist``
    package when the file is missing); ``ham10000``: ``masks`` ("auto", True,
    False), ``metadata_file``; ``isic-seg``: ``missing_masks`` ("error" or "skip").
    """
    source = _check_name(name)
    size = _check_size(size)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    fractions = _check_fractions(fractions)
    options = {"seed": int(seed), "fractions": fractions, "progress": progress, "workers": workers}
    plan = _PREPARERS[source](root, size, split, options, **kw)
    decoded, from_cache, path = _load_through_cache(plan, size, use_cache=cache)
    return _select_split(decoded, source, split, options["seed"], fractions, from_cache, path)


_PREPARERS: dict[str, Callable[..., _Plan]] = {
    "phantom": _prepare_phantom,
    "dermamnist": _prepare_dermamnist,
    "ham10000": _prepare_ham10000,
    "isic-seg": _prepare_isic_seg,
    "folder": _prepare_folder,
}

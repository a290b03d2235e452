"""The ``isic-seg`` source: ISIC 2018 Task 1, ``ISIC_xxxxxxx.jpg`` with ``ISIC_xxxxxxx_segmentation.png``.

Every image under ``root`` is paired with its mask (ISIC 2017's superpixel
maps are left out); an image without a mask is an error, or is skipped with a
warning when ``missing_masks="skip"``. All images get the one class
``lesion``, and the split is drawn by :func:`~.dataset.assign_splits`.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from .dataset import HOW_TO_GET, _check_options, _Decoded, _Plan
from .files import MASK_SUFFIX, _decode_files, _fingerprint, _index_by_stem, _index_files, _masks_by_stem, _require_root


def _prepare_isic_seg(root, size: int, split: str, options: dict[str, Any], **kw: Any) -> _Plan:
    _check_options("isic-seg", kw, ("missing_masks",))
    holds = "ISIC_xxxxxxx.jpg images and ISIC_xxxxxxx_segmentation.png masks"
    root = _require_root(root, "isic-seg", holds)
    policy = kw.get("missing_masks", "error")
    if policy not in ("error", "skip"):
        raise ValueError(f"missing_masks must be 'error' or 'skip', got {policy!r}")
    files = _index_files(root)
    images_by_id = {
        stem: path for stem, path in _index_by_stem(files, (".jpg", ".jpeg", ".png"), MASK_SUFFIX).items()
        if not stem.endswith("_superpixels")  # ISIC 2017 ships superpixel maps next to the images
    }
    masks_by_id = _masks_by_stem(files)
    if not images_by_id:
        raise FileNotFoundError(f"no images (*.jpg, *.png) under {root}; expected the ISIC 2018 Task 1 layout ({HOW_TO_GET})")
    ids = sorted(images_by_id)
    lacking = [i for i in ids if i not in masks_by_id]
    if lacking and policy == "error":
        raise FileNotFoundError(
            f"{len(lacking)} of {len(ids)} image(s) under {root} have no mask, e.g. {images_by_id[lacking[0]]} "
            f"needs {lacking[0]}{MASK_SUFFIX}.png. Unpack ISIC2018_Task1_Training_GroundTruth under root, point "
            "root at the Task 1 folders only, or pass missing_masks='skip' to leave those images out"
        )
    if lacking:
        warnings.warn(f"skipping {len(lacking)} image(s) without a mask, e.g. {lacking[0]}", stacklevel=3)
        ids = [i for i in ids if i in masks_by_id]
        if not ids:
            raise FileNotFoundError(f"none of the images under {root} has a *{MASK_SUFFIX}.png mask")
    items = [(images_by_id[i], masks_by_id[i]) for i in ids]
    key = {"fingerprint": _fingerprint(root, [p for item in items for p in item]), "missing_masks": policy}

    def build() -> _Decoded:
        images, masks = _decode_files(items, size, "decoding ISIC", options["progress"], options["workers"])
        metadata = pd.DataFrame({
            "source": "isic-seg",
            "image_id": ids,
            "path": [str(p.relative_to(root)) for p, _ in items],
            "mask_path": [str(m.relative_to(root)) for _, m in items],
        })
        return _Decoded(images, np.zeros(len(ids), np.int64), masks, metadata, ("lesion",))

    return _Plan("isic-seg", key, build)



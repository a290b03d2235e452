"""The ``folder`` source: one subfolder per class (``root/<class>/<image>.png``), like torchvision's ImageFolder.

The class names are the subfolders' names in sorted order (hidden folders are
left out), every image file below a class folder belongs to that class, and an
empty class folder is an error. The split is drawn by
:func:`~.dataset.assign_splits`, stratified by class.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .dataset import _check_options, _Decoded, _Plan
from .files import _decode_files, _fingerprint, _index_files, _require_root

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def _prepare_folder(root, size: int, split: str, options: dict[str, Any], **kw: Any) -> _Plan:
    _check_options("folder", kw, ())
    holds = "one subfolder of images per class"
    root = _require_root(root, "folder", holds)
    class_folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_folders:
        raise ValueError(
            f"{root} has no class subfolders; the 'folder' dataset expects root/<class name>/<image>.png "
            f"(images {', '.join(IMAGE_SUFFIXES)}), one subfolder per class"
        )
    items: list[tuple[Path, None]] = []
    labels: list[int] = []
    for label, folder in enumerate(class_folders):
        found = [p for p in _index_files(folder) if p.suffix.lower() in IMAGE_SUFFIXES]
        if not found:
            raise ValueError(
                f"class folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}); add images or remove the folder"
            )
        items.extend((p, None) for p in found)
        labels.extend([label] * len(found))
    class_names = tuple(p.name for p in class_folders)
    key = {"fingerprint": _fingerprint(root, [p for p, _ in items]), "classes": class_names}

    def build() -> _Decoded:
        images, _ = _decode_files(items, size, f"decoding {root.name}", options["progress"], options["workers"])
        metadata = pd.DataFrame({
            "source": "folder",
            "class_name": [class_names[i] for i in labels],
            "path": [str(p.relative_to(root)) for p, _ in items],
        })
        return _Decoded(images, np.array(labels, np.int64), None, metadata, class_names)

    return _Plan("folder", key, build)

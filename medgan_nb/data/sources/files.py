"""Finding and decoding the files of a source: one walk of ``root``, fingerprints, threaded PIL decoding.

:func:`_index_files` lists every non-hidden file under a root once;
:func:`_index_by_stem` and :func:`_masks_by_stem` pair images with their
``*_segmentation.png`` masks; :func:`_fingerprint` is what identifies their
content in a cache key. :func:`_decode_files` decodes (image, mask) pairs in a
thread pool with a progress bar (JPEG ``draft`` mode, short side to ``size``,
centre crop; masks the same way with nearest neighbour), and
:func:`_resize_array` resizes images already in memory the same way.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from ..transforms import resize_and_center_crop
from .dataset import HOW_TO_GET

MASK_SUFFIX = "_segmentation"
ASPECT_TOLERANCE = 0.01  # a mask may differ in size from its image if the aspect ratios agree within 1 %


# ----------------------------------------------------------------------------
# Indexing files
# ----------------------------------------------------------------------------

def _index_files(root: Path) -> list[Path]:
    """Return every non-hidden file under ``root`` (one recursive walk, sorted, following links)."""
    found: list[Path] = []
    for folder, subfolders, names in os.walk(root, followlinks=True):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        # Hidden files include macOS "._name.jpg" resource forks that unzip leaves next to real images.
        found.extend(Path(folder) / n for n in sorted(names) if not n.startswith("."))
    return found


def _fingerprint(root: Path, files: Sequence[Path]) -> dict[str, Any]:
    """Return what identifies the content of ``files``: root, count, total bytes, newest modification time."""
    total, newest = 0, 0
    for file in files:
        stat = file.stat()
        total += stat.st_size
        newest = max(newest, stat.st_mtime_ns)
    return {"root": str(root), "files": len(files), "bytes": total, "newest_mtime_ns": newest}


def _require_root(root: str | os.PathLike | None, source: str, holds: str) -> Path:
    if root is None:
        raise ValueError(
            f"load_dataset({source!r}) needs root=<folder holding {holds}>; "
            f"{HOW_TO_GET} (or use dataset='phantom', which needs no files)"
        )
    path = Path(root).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"{source} root folder {path.resolve()} does not exist; pass root= the folder holding {holds} "
            f"({HOW_TO_GET})"
        )
    if not path.is_dir():
        raise NotADirectoryError(f"{source} root {path} is a file, not a folder; pass the folder holding {holds}")
    return path.resolve()


def _index_by_stem(files: Sequence[Path], suffixes: Sequence[str], exclude_suffix: str = "") -> dict[str, Path]:
    """Return {file stem: path} for files with one of ``suffixes`` (the first in sorted order wins)."""
    index: dict[str, Path] = {}
    for file in files:
        if file.suffix.lower() in suffixes and not (exclude_suffix and file.stem.endswith(exclude_suffix)):
            index.setdefault(file.stem, file)
    return index


def _masks_by_stem(files: Sequence[Path]) -> dict[str, Path]:
    """Return {image stem: mask path} for every ``<stem>_segmentation.png`` file."""
    return {
        file.stem[: -len(MASK_SUFFIX)]: file
        for file in reversed(files)  # reversed + dict: the first in sorted order wins, as for images
        if file.suffix.lower() == ".png" and file.stem.endswith(MASK_SUFFIX)
    }


# ----------------------------------------------------------------------------
# Decoding files (threaded)
# ----------------------------------------------------------------------------

def _decode_image(path: Path, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Return the image at ``path`` as uint8 (size, size, 3) and its original (width, height)."""
    try:
        with Image.open(path) as image:
            original = image.size
            if image.format == "JPEG":
                # Let libjpeg decode at 1/2, 1/4 or 1/8 scale (never below ``size``): much faster.
                image.draft("RGB", (size, size))
            rgb = image.convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        # PIL's UnidentifiedImageError is an OSError; truncated files raise OSError too.
        raise ValueError(
            f"cannot decode image {path}: {exc}. The file is damaged or not an image; "
            "download it again, or delete it (and its row in the CSV, if any)"
        ) from exc
    return np.asarray(resize_and_center_crop(rgb, size, Image.Resampling.LANCZOS)), original


def _decode_mask(path: Path, size: int, image_path: Path, image_size: tuple[int, int]) -> tuple[np.ndarray, bool]:
    """Return the mask at ``path`` as bool (size, size) aligned with its image, and whether its size differed."""
    try:
        with Image.open(path) as mask:
            mask_size = mask.size
            grey = mask.convert("L")
    except (OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"cannot decode mask {path}: {exc}. Download the mask again or delete it") from exc
    resized = mask_size != image_size
    if resized:
        image_ratio, mask_ratio = image_size[0] / image_size[1], mask_size[0] / mask_size[1]
        if abs(mask_ratio / image_ratio - 1.0) > ASPECT_TOLERANCE:
            raise ValueError(
                f"mask {path} is {mask_size[0]}x{mask_size[1]} but its image {image_path} is "
                f"{image_size[0]}x{image_size[1]}: the aspect ratios differ ({mask_ratio:.3f} vs {image_ratio:.3f}), "
                "so the mask cannot be aligned with the image. Replace the mask with the one made for this "
                "image, or remove the pair"
            )
    # Same centre crop as the image, in the mask's own pixel grid, nearest neighbour to stay binary.
    out = resize_and_center_crop(grey, size, Image.Resampling.NEAREST)
    return np.asarray(out) > 127, resized


def _decode_pair(item: tuple[Path, Path | None], size: int) -> tuple[np.ndarray, np.ndarray | None, bool]:
    image_path, mask_path = item
    image, original = _decode_image(image_path, size)
    if mask_path is None:
        return image, None, False
    mask, resized = _decode_mask(mask_path, size, image_path, original)
    return image, mask, resized


def _default_workers(workers: int | None) -> int:
    return max(1, int(workers)) if workers else max(1, min(8, os.cpu_count() or 1))


def _decode_files(
    items: Sequence[tuple[Path, Path | None]],
    size: int,
    description: str,
    progress: bool,
    workers: int | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Return uint8 images (N, size, size, 3) and bool masks (or None) decoded from (image, mask) paths in threads."""
    count = len(items)
    with_masks = count > 0 and all(mask is not None for _, mask in items)
    images = np.empty((count, size, size, 3), np.uint8)
    masks = np.empty((count, size, size), bool) if with_masks else None
    resized: list[int] = []
    # PIL releases the GIL while decoding and resampling, so threads use all cores.
    pool = ThreadPoolExecutor(max_workers=_default_workers(workers))
    try:
        results = pool.map(lambda item: _decode_pair(item, size), items)
        bar = tqdm(results, total=count, desc=description, unit="img", disable=not progress or count < 64)
        for i, (image, mask, mask_resized) in enumerate(bar):
            images[i] = image
            if masks is not None:
                masks[i] = mask
            if mask_resized:
                resized.append(i)
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    if resized:
        first_image, first_mask = items[resized[0]]
        warnings.warn(
            f"{len(resized)} mask(s) have another size than their image (e.g. {first_mask} for {first_image.name}) "
            "with the same aspect ratio; they were resized (nearest neighbour) to match",
            stacklevel=2,
        )
    return images, masks


def _resize_array(images: np.ndarray, size: int, description: str, options: dict[str, Any]) -> np.ndarray:
    """Return uint8 images (N, H, W, 3) resized to (N, size, size, 3) with PIL's Lanczos filter, in threads."""
    out = np.empty((len(images), size, size, 3), np.uint8)

    def resize_one(i: int) -> None:
        out[i] = resize_and_center_crop(images[i], size)

    with ThreadPoolExecutor(max_workers=_default_workers(options["workers"])) as pool:
        bar = tqdm(pool.map(resize_one, range(len(images))), total=len(images), desc=description,
                   unit="img", disable=not options["progress"] or len(images) < 64)
        for _ in bar:
            pass
    return out

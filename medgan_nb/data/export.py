r"""Write DermSynth phantoms to disk in the exact file layouts of the real datasets.

Why: the loaders in :mod:`medgan_nb.data.sources` must be tested without the
network and without a data licence, and a benchmark needs thousands of real
JPEG files to measure decoding. :func:`export_phantoms` renders phantom lesions
(:func:`~medgan_nb.data.phantom.render_phantoms`) and writes them as

* ``ham10000`` -- ``HAM10000_metadata.csv`` (lesion_id, image_id, dx, dx_type,
  age, sex, localization), images ``ISIC_00xxxxx.jpg`` split over
  ``HAM10000_images_part_1/`` and ``HAM10000_images_part_2/``, and (optionally)
  masks ``<image_id>_segmentation.png`` in ``HAM10000_segmentations_lesion_tschandl/``.
  As in HAM10000 some lesions are photographed 2-3 times: here the extra
  images of a lesion are the same phantom mirrored, so a split that ignores
  ``lesion_id`` leaks near-copies into the test set;
* ``isic-seg`` -- ISIC 2018 Task 1: ``ISIC2018_Task1-2_Training_Input/ISIC_xxxxxxx.jpg``
  and ``ISIC2018_Task1_Training_GroundTruth/ISIC_xxxxxxx_segmentation.png`` (0/255);
* ``folder`` -- one subfolder per class (``akiec/``, ``bcc/``, ...), PNG by default;
* ``dermamnist`` -- one MedMNIST npz (``train_images`` uint8 N x H x W x 3,
  ``train_labels`` uint8 N x 1, same for ``val`` / ``test``), named
  ``dermamnist.npz`` (28 px) or ``dermamnist_<size>.npz``.

Geometry: the renderer draws squares (28..256 px; its time per image grows
faster than the pixel count), so a 600 x 450 image is the centre 4:3 band of a
square phantom rendered at ``render_size`` (default: the larger side, at most
192 px) and scaled up with a Lanczos filter; the mask is scaled with a bilinear
filter and thresholded at 1/2, which keeps its edge smooth.

Nothing half-written is left behind: everything is written into a hidden
temporary folder next to ``root`` and moved into place at the end.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from .sources import DERMAMNIST_SIZES, dermamnist_file_name
from .transforms import resize_and_center_crop

__all__ = ["LAYOUTS", "export_phantoms"]

LAYOUTS = ("ham10000", "isic-seg", "folder", "dermamnist")
DEFAULT_SIZES: dict[str, Any] = {"ham10000": (600, 450), "isic-seg": (600, 450), "folder": 128, "dermamnist": 64}
HAM10000_FIRST_IMAGE = 24306  # HAM10000 image ids run from ISIC_0024306 to ISIC_0034320
HAM10000_PARTS = ("HAM10000_images_part_1", "HAM10000_images_part_2")
HAM10000_MASK_FOLDER = "HAM10000_segmentations_lesion_tschandl"
ISIC_IMAGE_FOLDER = "ISIC2018_Task1-2_Training_Input"
ISIC_MASK_FOLDER = "ISIC2018_Task1_Training_GroundTruth"
DERMAMNIST_SPLIT_SHARES = {"train": 7007, "val": 1003, "test": 2005}  # DermaMNIST's split sizes
DEFAULT_RENDER_LIMIT = 192  # px; rendering 256 px phantoms is about 5x slower per image than 192 px
IMAGES_PER_LESION = {1: 0.76, 2: 0.19, 3: 0.05}  # about 10015 images of 7470 lesions in HAM10000

# Plausible HAM10000-like metadata (roughly the published proportions; phantoms, not patients).
_DX_TYPES = {  # how the diagnosis was confirmed, per class
    "akiec": {"histo": 1.0}, "bcc": {"histo": 1.0}, "mel": {"histo": 1.0},
    "bkl": {"histo": 0.6, "consensus": 0.3, "confocal": 0.1}, "df": {"histo": 0.5, "consensus": 0.5},
    "nv": {"follow_up": 0.55, "histo": 0.35, "consensus": 0.1}, "vasc": {"consensus": 0.5, "histo": 0.5},
}
_MEAN_AGE = {"akiec": 67, "bcc": 67, "bkl": 64, "df": 52, "mel": 61, "nv": 47, "vasc": 50}
_SEXES = {"male": 0.54, "female": 0.455, "unknown": 0.005}
_LOCALIZATIONS = {
    "back": 0.22, "lower extremity": 0.21, "trunk": 0.14, "upper extremity": 0.11, "abdomen": 0.10,
    "face": 0.07, "chest": 0.04, "foot": 0.03, "unknown": 0.02, "neck": 0.02, "scalp": 0.01,
    "hand": 0.01, "ear": 0.005, "genital": 0.005, "acral": 0.001,
}


@dataclass
class _Job:
    """One image (and mask) to crop, scale, encode and write."""

    image: np.ndarray          # square uint8 (S, S, 3) as rendered
    mask: np.ndarray | None    # square bool (S, S)
    mirror: int                # 0 as rendered, 1 left-right, 2 upside down (another photo of the lesion)
    image_path: Path
    mask_path: Path | None


def export_phantoms(
    root: str | os.PathLike,
    layout: str,
    n: int = 200,
    size: int | tuple[int, int] | None = None,
    seed: int = 0,
    config: Any = None,
    jpeg_quality: int = 90,
    masks: bool = True,
    image_format: str = "png",
    overwrite: bool = False,
    render_size: int | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Return ``root`` after writing ``n`` phantom images there in the file layout of a real dataset.

    ``layout`` is one of ``LAYOUTS``; ``size`` is an int (square) or (width,
    height), by default 600 x 450 for ``ham10000`` / ``isic-seg``, 128 for
    ``folder`` and 64 for ``dermamnist`` (which needs one of 28, 64, 128, 224).
    ``config`` is a PhantomConfig (e.g. ``PhantomConfig(class_priors="ham10000")``
    for HAM10000's class balance). ``masks`` adds HAM10000 segmentation masks;
    ``image_format`` ("png" or "jpg") is for ``folder``. Files already in
    ``root`` are kept unless one would be replaced: then ``overwrite=True`` is needed.
    ``render_size`` is the side of the square phantom before scaling (28..256;
    smaller is faster, e.g. 128 when writing thousands of files for a benchmark).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 3:
        raise ValueError(f"n must be a whole number >= 3 (so every split gets an image), got {n!r}")
    if not 1 <= int(jpeg_quality) <= 95:
        raise ValueError(f"jpeg_quality must be between 1 and 95 (PIL's useful range), got {jpeg_quality!r}")
    if image_format not in ("png", "jpg"):
        raise ValueError(f"image_format must be 'png' or 'jpg', got {image_format!r}")
    width, height = _check_size(layout, DEFAULT_SIZES[layout] if size is None else size)
    from . import phantom

    if render_size is None:  # DermaMNIST sizes (<= 224) are rendered exactly
        limit = phantom.MAX_SIZE if layout == "dermamnist" else DEFAULT_RENDER_LIMIT
        render_size = min(max(width, height, phantom.MIN_SIZE), limit)
    if isinstance(render_size, bool) or not phantom.MIN_SIZE <= int(render_size) <= phantom.MAX_SIZE:
        raise ValueError(f"render_size must be between {phantom.MIN_SIZE} and {phantom.MAX_SIZE}, got {render_size!r}")
    root = Path(root).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"{root} is a file; pass a folder to export into")
    created_root = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    config = phantom.PhantomConfig() if config is None else config
    writer = _Writer(width, height, int(render_size), int(jpeg_quality), workers, progress)
    partial = Path(tempfile.mkdtemp(prefix=f".{root.name}.partial-", dir=root.parent))
    try:
        if layout == "ham10000":
            _write_ham10000(partial, int(n), seed, config, masks, writer, phantom.CLASS_NAMES)
        elif layout == "isic-seg":
            _write_isic(partial, int(n), seed, config, writer)
        elif layout == "folder":
            _write_folder(partial, int(n), seed, config, image_format, writer, phantom.CLASS_NAMES)
        else:
            _write_dermamnist(partial, int(n), width, int(render_size), seed, config, progress)
        _move_into(partial, root, overwrite)
    except BaseException:
        if created_root and not any(root.iterdir()):
            root.rmdir()  # leave no trace of a failed export
        raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return root


def _check_size(layout: str, size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        width = height = int(size)
    else:
        try:
            width, height = (int(v) for v in size)  # type: ignore[union-attr]
        except (TypeError, ValueError):
            raise ValueError(f"size must be an int or a (width, height) pair, got {size!r}") from None
    if layout == "dermamnist" and (width != height or width not in DERMAMNIST_SIZES):
        raise ValueError(f"DermaMNIST files come in sizes {DERMAMNIST_SIZES} (square); got size={size!r}")
    if not (16 <= width <= 4096 and 16 <= height <= 4096):
        raise ValueError(f"size must be between 16 and 4096 pixels per side, got {size!r}")
    return width, height


def _move_into(partial: Path, root: Path, overwrite: bool) -> None:
    """Move every top-level entry of ``partial`` into ``root`` (replacing existing ones only if ``overwrite``)."""
    entries = sorted(partial.iterdir())
    clashes = [root / e.name for e in entries if (root / e.name).exists()]
    if clashes and not overwrite:
        raise FileExistsError(
            f"{clashes[0]} already exists{' (and others)' if len(clashes) > 1 else ''}; "
            "pass overwrite=True to replace it, or export into an empty folder"
        )
    for entry in entries:
        target = root / entry.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        os.replace(entry, target)


class _Writer:
    """Crops, scales, encodes and writes images in a thread pool while the main thread renders the next chunk."""

    def __init__(self, width: int, height: int, render_size: int, jpeg_quality: int, workers: int | None,
                 progress: bool) -> None:
        self.size = (width, height)
        self.render_size = render_size
        self.jpeg_quality = jpeg_quality
        self.workers = max(1, int(workers)) if workers else max(1, min(8, os.cpu_count() or 1))
        self.progress = progress

    def write_all(self, chunks, total: int) -> None:
        """Write every job yielded (as lists) by ``chunks``, keeping at most two chunks in memory."""
        bar = tqdm(total=total, desc="writing phantoms", unit="img", disable=not self.progress)
        # PIL releases the GIL while resizing and encoding, so threads use all cores.
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            pending: list[Future] = []
            try:
                for jobs in chunks:
                    submitted = [pool.submit(self._write_one, job) for job in jobs]
                    for future in pending:  # finish the previous chunk before rendering another one
                        future.result()
                        bar.update(1)
                    pending = submitted
                for future in pending:
                    future.result()
                    bar.update(1)
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
            finally:
                bar.close()

    def _write_one(self, job: _Job) -> None:
        image = _mirror(job.image, job.mirror)
        picture = resize_and_center_crop(Image.fromarray(image), self.size, Image.Resampling.LANCZOS)
        if job.image_path.suffix.lower() in (".jpg", ".jpeg"):
            picture.save(job.image_path, format="JPEG", quality=self.jpeg_quality)
        else:
            picture.save(job.image_path, format="PNG")
        if job.mask_path is not None and job.mask is not None:
            mask = Image.fromarray(_mirror(job.mask, job.mirror).astype(np.uint8) * 255)
            # Bilinear + threshold keeps an up-scaled mask's edge smooth (nearest would make steps).
            mask = resize_and_center_crop(mask, self.size, Image.Resampling.BILINEAR)
            mask.point(lambda v: 255 if v >= 128 else 0).save(job.mask_path, format="PNG")


def _mirror(array: np.ndarray, mirror: int) -> np.ndarray:
    """Return ``array`` as rendered (0), mirrored left-right (1) or upside down (2)."""
    if mirror == 1:
        return np.ascontiguousarray(array[:, ::-1])
    if mirror == 2:
        return np.ascontiguousarray(array[::-1])
    return array


def _render_chunks(count: int, render_size: int, seed: int, config: Any, chunk: int = 32):
    """Yield (first index, PhantomBatch) for phantoms 0 .. count-1, ``chunk`` at a time."""
    from .phantom import render_phantoms

    for first in range(0, count, chunk):
        yield first, render_phantoms(min(chunk, count - first), size=render_size, seed=seed, config=config, start=first)


def _weighted_choice(rng: np.random.Generator, table: dict[str, float], count: int) -> np.ndarray:
    names = list(table)
    weights = np.array([table[k] for k in names], dtype=float)
    return np.array(names, dtype=object)[rng.choice(len(names), size=count, p=weights / weights.sum())]


# ----------------------------------------------------------------------------
# Layouts
# ----------------------------------------------------------------------------

def _write_ham10000(folder: Path, n: int, seed: int, config: Any, masks: bool, writer: _Writer, class_names) -> None:
    rng = np.random.default_rng([seed, 10015])
    # How many photos of each lesion: 1, 2 or 3, until n images are reached.
    per_lesion: list[int] = []
    while sum(per_lesion) < n:
        per_lesion.append(int(_weighted_choice(rng, {str(k): p for k, p in IMAGES_PER_LESION.items()}, 1)[0]))
    per_lesion[-1] -= sum(per_lesion) - n
    lesions = len(per_lesion)
    lesion_ids = [f"HAM_{k:07d}" for k in rng.choice(max(7470, 2 * lesions), size=lesions, replace=False)]
    id_numbers = np.sort(rng.choice(max(10015, 2 * n), size=n, replace=False)) + HAM10000_FIRST_IMAGE
    image_ids = [f"ISIC_{k:07d}" for k in rng.permutation(id_numbers)]
    half_id = np.sort(id_numbers)[(n + 1) // 2 - 1]  # part_1 holds the lower half of the ids, as in HAM10000
    for part in HAM10000_PARTS:
        (folder / part).mkdir()
    if masks:
        (folder / HAM10000_MASK_FOLDER).mkdir()
    rows: list[dict[str, Any]] = []

    def chunks():
        image_index = 0
        for first, batch in _render_chunks(lesions, writer.render_size, seed, config):
            jobs = []
            for j in range(len(batch.labels)):
                lesion = first + j
                dx = class_names[int(batch.labels[j])]
                lesion_meta = _lesion_metadata(np.random.default_rng([seed, 7, lesion]), dx)
                for copy in range(per_lesion[lesion]):
                    image_id = image_ids[image_index]
                    part = HAM10000_PARTS[0] if int(image_id[5:]) <= half_id else HAM10000_PARTS[1]
                    mask_path = folder / HAM10000_MASK_FOLDER / f"{image_id}_segmentation.png" if masks else None
                    jobs.append(_Job(batch.images[j], batch.masks[j], copy, folder / part / f"{image_id}.jpg", mask_path))
                    rows.append({"lesion_id": lesion_ids[lesion], "image_id": image_id, "dx": dx, **lesion_meta})
                    image_index += 1
            yield jobs

    writer.write_all(chunks(), total=n)
    table = pd.DataFrame(rows, columns=["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization"])
    table.to_csv(folder / "HAM10000_metadata.csv", index=False)


def _lesion_metadata(rng: np.random.Generator, dx: str) -> dict[str, Any]:
    """Return plausible dx_type, age, sex and localization for one lesion of class ``dx``."""
    age = float(np.clip(5 * round(rng.normal(_MEAN_AGE[dx], 15) / 5), 0, 85))
    return {
        "dx_type": _weighted_choice(rng, _DX_TYPES[dx], 1)[0],
        "age": np.nan if rng.random() < 0.005 else age,  # HAM10000 has a few unknown ages
        "sex": _weighted_choice(rng, _SEXES, 1)[0],
        "localization": _weighted_choice(rng, _LOCALIZATIONS, 1)[0],
    }


def _write_isic(folder: Path, n: int, seed: int, config: Any, writer: _Writer) -> None:
    (folder / ISIC_IMAGE_FOLDER).mkdir()
    (folder / ISIC_MASK_FOLDER).mkdir()

    def chunks():
        for first, batch in _render_chunks(n, writer.render_size, seed, config):
            yield [
                _Job(batch.images[j], batch.masks[j], 0,
                     folder / ISIC_IMAGE_FOLDER / f"ISIC_{first + j:07d}.jpg",
                     folder / ISIC_MASK_FOLDER / f"ISIC_{first + j:07d}_segmentation.png")
                for j in range(len(batch.labels))
            ]

    writer.write_all(chunks(), total=n)


def _write_folder(folder: Path, n: int, seed: int, config: Any, image_format: str, writer: _Writer, class_names) -> None:
    def chunks():
        for first, batch in _render_chunks(n, writer.render_size, seed, config):
            jobs = []
            for j in range(len(batch.labels)):
                class_folder = folder / class_names[int(batch.labels[j])]
                class_folder.mkdir(exist_ok=True)
                jobs.append(_Job(batch.images[j], None, 0, class_folder / f"phantom_{first + j:05d}.{image_format}", None))
            yield jobs

    writer.write_all(chunks(), total=n)


def _write_dermamnist(folder: Path, n: int, size: int, render_size: int, seed: int, config: Any, progress: bool) -> None:
    from .phantom import render_phantoms

    parts = []
    for first in tqdm(range(0, n, 256), desc="rendering phantoms", unit="chunk", disable=not progress):
        batch = render_phantoms(min(256, n - first), size=render_size, seed=seed, config=config, start=first)
        images = batch.images if render_size == size else np.stack([resize_and_center_crop(i, size) for i in batch.images])
        parts.append((images, batch.labels))
    images = np.concatenate([p[0] for p in parts]).astype(np.uint8)
    labels = np.concatenate([p[1] for p in parts]).astype(np.uint8).reshape(-1, 1)  # MedMNIST labels are N x 1
    total = sum(DERMAMNIST_SPLIT_SHARES.values())
    train_end = round(n * DERMAMNIST_SPLIT_SHARES["train"] / total)
    val_end = train_end + max(1, round(n * DERMAMNIST_SPLIT_SHARES["val"] / total))
    bounds = {"train": (0, train_end), "val": (train_end, val_end), "test": (val_end, n)}
    arrays = {}
    for split, (lo, hi) in bounds.items():
        arrays[f"{split}_images"] = images[lo:hi]
        arrays[f"{split}_labels"] = labels[lo:hi]
    with open(folder / dermamnist_file_name(size), "wb") as handle:
        np.savez_compressed(handle, **arrays)

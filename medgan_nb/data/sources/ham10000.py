"""The ``ham10000`` source: ``HAM10000_metadata.csv`` with ``<image_id>.jpg`` (and ``<image_id>_segmentation.png``).

The metadata table (CSV, or Harvard Dataverse's tab-separated ``.tab``) is
read and checked (required columns, known ``dx`` codes, one row per image),
every listed image is found under ``root``, and masks are attached when all
images have one (``masks="auto"``) or when asked. Labels follow DermaMNIST's
class order, and the ``lesion_id`` is the group, so the photographs of one
lesion never land in different splits.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .dataset import DERMAMNIST_CLASS_NAMES, HOW_TO_GET, _check_options, _Decoded, _Plan
from .files import MASK_SUFFIX, _decode_files, _fingerprint, _index_by_stem, _index_files, _masks_by_stem, _require_root

HAM10000_COLUMNS = ("lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization")
HAM10000_REQUIRED = ("lesion_id", "image_id", "dx")


def _prepare_ham10000(root, size: int, split: str, options: dict[str, Any], **kw: Any) -> _Plan:
    _check_options("ham10000", kw, ("masks", "metadata_file"))
    holds = "HAM10000_metadata.csv and the <image_id>.jpg images"
    root = _require_root(root, "ham10000", holds)
    want_masks = kw.get("masks", "auto")
    if want_masks not in ("auto", True, False):
        raise ValueError(f"masks must be 'auto', True or False, got {want_masks!r}")
    files = _index_files(root)
    csv_path = _find_ham_metadata(root, files, kw.get("metadata_file"))
    table = _read_ham_metadata(csv_path)
    images_by_id = _index_by_stem(files, (".jpg", ".jpeg", ".png"), exclude_suffix=MASK_SUFFIX)
    masks_by_id = _masks_by_stem(files)
    ids = table["image_id"].astype(str).tolist()
    absent = [i for i in ids if i not in images_by_id]
    if absent:
        row = ids.index(absent[0]) + 2  # +1 for the header, +1 for 1-based line numbers
        raise FileNotFoundError(
            f"{len(absent)} image(s) listed in {csv_path} are not under {root}: {absent[0]}.jpg (line {row})"
            f"{' and others' if len(absent) > 1 else ''}. Unpack both HAM10000_images_part_1 and "
            "HAM10000_images_part_2 under root, or remove those rows from the CSV"
        )
    with_mask = [i in masks_by_id for i in ids]
    use_masks = want_masks is True or (want_masks == "auto" and all(with_mask))
    if want_masks is True and not all(with_mask):
        missing = ids[with_mask.index(False)]
        raise FileNotFoundError(
            f"masks=True but {with_mask.count(False)} image(s) have no {missing}{MASK_SUFFIX}.png under {root}; "
            "unpack the HAM10000 lesion segmentations under root, or pass masks='auto'"
        )
    if want_masks == "auto" and any(with_mask) and not all(with_mask):
        warnings.warn(
            f"only {sum(with_mask)} of {len(ids)} images have a *_segmentation.png mask; masks are not attached "
            "(pass masks=False to silence this, or add the missing masks)",
            stacklevel=3,
        )
    items = [(images_by_id[i], masks_by_id[i] if use_masks else None) for i in ids]
    used = [csv_path, *[p for item in items for p in item if p is not None]]
    key = {"fingerprint": _fingerprint(root, used), "masks": use_masks, "csv": str(csv_path)}

    def build() -> _Decoded:
        images, masks = _decode_files(items, size, "decoding HAM10000", options["progress"], options["workers"])
        metadata = table.copy()
        metadata.insert(0, "source", "ham10000")
        metadata["path"] = [str(p.relative_to(root)) for p, _ in items]
        labels = np.array([DERMAMNIST_CLASS_NAMES.index(d) for d in table["dx"]], np.int64)
        groups = table["lesion_id"].astype(str).to_numpy(dtype=object)
        return _Decoded(images, labels, masks, metadata, DERMAMNIST_CLASS_NAMES, groups)

    return _Plan("ham10000", key, build)


def _find_ham_metadata(root: Path, files: Sequence[Path], metadata_file: str | os.PathLike | None) -> Path:
    if metadata_file is not None:
        path = Path(metadata_file).expanduser()
        path = path if path.is_absolute() else root / path
        if not path.is_file():
            raise FileNotFoundError(f"metadata_file {path} does not exist; pass the path of HAM10000_metadata.csv")
        return path
    # Harvard Dataverse may serve the table tab-separated as HAM10000_metadata.tab.
    for wanted in ("ham10000_metadata.csv", "ham10000_metadata.tab", "ham10000_metadata"):
        for file in files:
            if file.name.lower() == wanted:
                return file
    raise FileNotFoundError(
        f"no HAM10000_metadata.csv under {root}; HAM10000 ships it with the images. Put it in root "
        f"(or pass metadata_file=...); {HOW_TO_GET}"
    )


def _read_ham_metadata(path: Path) -> pd.DataFrame:
    separator = "\t" if path.suffix.lower() == ".tab" else ","
    try:
        table = pd.read_csv(path, sep=separator)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"cannot parse {path} as a CSV table: {exc}; use the original HAM10000_metadata.csv") from exc
    table.columns = [str(c).strip().strip('"') for c in table.columns]
    missing = [c for c in HAM10000_REQUIRED if c not in table.columns]
    if missing:
        raise ValueError(
            f"{path} lacks the column(s) {missing}; a HAM10000 metadata file has the columns "
            f"{list(HAM10000_COLUMNS)} ({', '.join(HAM10000_REQUIRED)} are required). "
            f"Found: {list(table.columns)}. Use the original HAM10000_metadata.csv or rename the columns"
        )
    table["image_id"] = table["image_id"].astype(str).str.strip()
    table["dx"] = table["dx"].astype(str).str.strip().str.lower()
    # Line numbers in messages: +1 for the header, +1 for 1-based counting.
    unknown_rows = np.flatnonzero(~table["dx"].isin(DERMAMNIST_CLASS_NAMES))
    if len(unknown_rows):
        unknown = sorted(set(table["dx"].iloc[unknown_rows]))
        raise ValueError(
            f"{path} has unknown dx value(s) {unknown} (first on line {unknown_rows[0] + 2}); expected the HAM10000 "
            f"codes {list(DERMAMNIST_CLASS_NAMES)}. Fix or drop those rows"
        )
    repeated = table["image_id"].duplicated(keep=False)
    if repeated.any():
        first = table["image_id"][repeated].iloc[0]
        lines = [int(i) + 2 for i in np.flatnonzero(table["image_id"] == first)]
        raise ValueError(
            f"{path} lists image_id {first!r} more than once (lines {', '.join(map(str, lines))}); "
            "keep one row per image"
        )
    return table.reset_index(drop=True)

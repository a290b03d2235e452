"""The ``dermamnist`` source: the MedMNIST ``dermamnist*.npz`` files (HAM10000 resized to 28/64/128/224 px).

The smallest file at least as large as ``size`` is looked up in ``root``, the
project's ``data/`` and ``data/raw/`` and ``~/.medmnist``, and fetched through
the ``medmnist`` package when missing and online. The npz is checked (a zip
archive with the train/val/test images and labels, labels 0..6) before it is
read, resized when its size differs from ``size``, and its fixed splits are
kept as they are.
"""
from __future__ import annotations

import socket
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...runtime import project_root
from .dataset import DERMAMNIST_CLASS_NAMES, HOW_TO_GET, _check_options, _Decoded, _Plan
from .files import _fingerprint, _resize_array

DERMAMNIST_SIZES = (28, 64, 128, 224)


def dermamnist_file_name(size: int) -> str:
    """Return the MedMNIST file name for DermaMNIST at ``size`` px: dermamnist.npz (28) or dermamnist_<size>.npz."""
    if size not in DERMAMNIST_SIZES:
        raise ValueError(f"DermaMNIST comes in sizes {DERMAMNIST_SIZES}, not {size}")
    return "dermamnist.npz" if size == 28 else f"dermamnist_{size}.npz"


def _dermamnist_folders(root: Path | None) -> list[Path]:
    """Return where to look for DermaMNIST files: root, the project's data/ and data/raw/, ~/.medmnist."""
    project = project_root()
    folders = [root] if root is not None else []
    folders += [project / "data", project / "data" / "raw", Path.home() / ".medmnist"]
    unique: list[Path] = []
    for folder in folders:
        if folder not in unique:
            unique.append(folder)
    return unique


def _prepare_dermamnist(root, size: int, split: str, options: dict[str, Any], **kw: Any) -> _Plan:
    _check_options("dermamnist", kw, ("download",))
    root_path = None
    if root is not None:
        root_path = Path(root).expanduser()
        if root_path.is_file():
            raise NotADirectoryError(
                f"dermamnist root {root_path.resolve()} is a file, not a folder; pass root= the folder that "
                f"holds it (root={str(root_path.resolve().parent)!r}), e.g. the folder with {dermamnist_file_name(64)}"
            )
        if not root_path.is_dir():
            raise FileNotFoundError(
                f"dermamnist root folder {root_path.resolve()} does not exist; pass root= the folder holding "
                f"{dermamnist_file_name(64)} (or root=None to use ~/.medmnist); {HOW_TO_GET}"
            )
        root_path = root_path.resolve()
    path = _find_or_fetch_dermamnist(root_path, size, download=kw.get("download", True))
    key = {"file": _fingerprint(path.parent, [path]), "name": path.name}
    return _Plan("dermamnist", key, lambda: _decode_dermamnist(path, size, options))


def _find_or_fetch_dermamnist(root: Path | None, size: int, download: bool) -> Path:
    folders = _dermamnist_folders(root)
    wanted = [s for s in DERMAMNIST_SIZES if s >= size] or [DERMAMNIST_SIZES[-1]]
    for file_size in wanted:  # the smallest file at least as large as asked
        for folder in folders:
            candidate = folder / dermamnist_file_name(file_size)
            if candidate.is_file():
                return candidate
    file_name = dermamnist_file_name(wanted[0])
    target = root if root is not None else Path.home() / ".medmnist"
    reason = _download_dermamnist(target, wanted[0]) if download else "download=False was passed"
    if (target / file_name).is_file():
        return target / file_name
    smaller = [
        f"{folder / dermamnist_file_name(s)}" for s in DERMAMNIST_SIZES if s < size
        for folder in folders if (folder / dermamnist_file_name(s)).is_file()
    ]
    hint = f" Smaller files exist ({', '.join(smaller)}): pass a smaller size= to use them." if smaller else ""
    raise FileNotFoundError(
        f"DermaMNIST file {file_name} (for size={size}) was not found in {', '.join(str(f) for f in folders)}, "
        f"and it could not be downloaded ({reason}). To get it: `pip install medmnist` and run again online "
        f"(it downloads to {target}), or download {file_name} from the MedMNIST record on Zenodo "
        f"(linked from medmnist.com) and put it in {target}.{hint}"
    )


def _online(host: str = "zenodo.org", port: int = 443, timeout: float = 3.0) -> bool:
    """Return True when a TCP connection to ``host`` opens within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _download_dermamnist(folder: Path, file_size: int) -> str:
    """Download DermaMNIST at ``file_size`` into ``folder`` through the medmnist package; return why not, if not."""
    try:
        import medmnist
    except ImportError:
        return "the medmnist package is not installed"
    if not _online():
        return "no network connection to zenodo.org"
    folder.mkdir(parents=True, exist_ok=True)
    extra = {} if file_size == 28 else {"size": file_size}  # older medmnist versions only know 28 px
    try:
        medmnist.DermaMNIST(split="train", download=True, root=str(folder), **extra)
    except Exception as exc:  # network errors, checksum errors, old medmnist without ``size``
        return f"medmnist download failed: {exc}"
    return "medmnist reported success but wrote no file"


def _decode_dermamnist(path: Path, size: int, options: dict[str, Any]) -> _Decoded:
    damaged = f"The download is incomplete or damaged: delete {path} and download it again ({HOW_TO_GET})"
    # An npz is a zip archive; checking first avoids numpy's advice to unpickle an unknown file.
    if not zipfile.is_zipfile(path):
        raise ValueError(f"cannot read {path}: it is not an npz (zip) archive. {damaged}")
    needed = [f"{s}_{kind}" for s in ("train", "val", "test") for kind in ("images", "labels")]
    try:
        with np.load(path, allow_pickle=False) as data:
            found = sorted(data.files)
            parts = None if set(needed) - set(found) else {
                s: (data[f"{s}_images"], data[f"{s}_labels"].reshape(-1).astype(np.int64)) for s in ("train", "val", "test")
            }
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error) as exc:  # truncated or damaged member
        raise ValueError(f"cannot read {path}: {exc}. {damaged}") from exc
    if parts is None:
        raise ValueError(
            f"{path} lacks the array(s) {[k for k in needed if k not in found]} (found {found}); a MedMNIST npz "
            f"holds {needed}. It is not DermaMNIST: delete it and download the original file again ({HOW_TO_GET})"
        )
    for split_name, (_, split_labels) in parts.items():
        bad = split_labels[(split_labels < 0) | (split_labels >= len(DERMAMNIST_CLASS_NAMES))]
        if len(bad):
            raise ValueError(
                f"{path} has {len(bad)} label(s) outside 0..{len(DERMAMNIST_CLASS_NAMES) - 1} in {split_name}_labels "
                f"(e.g. {int(bad[0])}); DermaMNIST's labels are 0..6 ({', '.join(DERMAMNIST_CLASS_NAMES)}). "
                "It is another MedMNIST set or a damaged file: download dermamnist again, or use "
                "dataset='folder' for images with other classes"
            )
    images = np.concatenate([p[0] for p in parts.values()])
    labels = np.concatenate([p[1] for p in parts.values()])
    if images.ndim == 3:  # grey MedMNIST sets: repeat the channel
        images = np.repeat(images[..., None], 3, axis=-1)
    if images.shape[1:3] != (size, size):
        if images.shape[1] < size:
            warnings.warn(f"{path.name} is {images.shape[1]} px; upsampling to {size} px adds no detail", stacklevel=4)
        images = _resize_array(images, size, f"resizing {path.name}", options)
    metadata = pd.DataFrame({
        "source": "dermamnist",
        "file": path.name,
        "split": np.concatenate([[s] * len(p[1]) for s, p in parts.items()]),
        "index_in_split": np.concatenate([np.arange(len(p[1])) for p in parts.values()]),
    })
    return _Decoded(images=np.ascontiguousarray(images, np.uint8), labels=labels, masks=None,
                    metadata=metadata, class_names=DERMAMNIST_CLASS_NAMES)

"""The cache of decoded datasets: one uncompressed ``.npz`` per source, fingerprint of ``root`` and size.

:func:`_load_through_cache` reads the cache file of a :class:`_Plan` when it
exists and is readable, else runs the plan's build step and writes the result
atomically (a temp file, then ``os.replace``). The file name holds a digest of
the plan's key (the source's fingerprint of its files and options), the size
and :data:`CACHE_VERSION`, so a changed file, option or decoder misses the old
cache. The folder is ``$MEDGAN_CACHE_DIR``, else ``<project>/data/cache``, else
``~/.cache/medgan_nb`` (:func:`cache_dir`).
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ...runtime import project_root
from .dataset import _Decoded, _Plan

CACHE_VERSION = 1  # bump when the decoded content changes for the same inputs


def cache_dir() -> Path:
    """Return the folder for decoded-dataset caches: $MEDGAN_CACHE_DIR, else <project>/data/cache, else ~/.cache/medgan_nb."""
    env = os.environ.get("MEDGAN_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    project = project_root()
    if (project / "pyproject.toml").is_file() and (project / "medgan_nb").is_dir():
        return project / "data" / "cache"
    return Path.home() / ".cache" / "medgan_nb"


def _cache_file(plan: _Plan, size: int) -> Path:
    payload = json.dumps({"version": CACHE_VERSION, "size": size, **plan.key}, sort_keys=True, default=str)
    digest = hashlib.sha1(payload.encode()).hexdigest()[:16]
    return cache_dir() / f"{plan.source}_{size}px_{plan.tag}_{digest}.npz"


def _load_through_cache(plan: _Plan, size: int, use_cache: bool) -> tuple[_Decoded, bool, Path | None]:
    path = _cache_file(plan, size) if use_cache else None
    if path is not None and path.is_file():
        try:
            return _read_cache(path), True, path
        except Exception as exc:  # a damaged cache is rebuilt, never fatal
            warnings.warn(f"ignoring unreadable cache file {path} ({exc}); decoding again", stacklevel=3)
    decoded = plan.build()
    if path is not None:
        try:
            _write_cache(path, decoded)
        except OSError as exc:
            warnings.warn(f"could not write the cache {path} ({exc}); pass cache=False to skip caching", stacklevel=3)
            path = None
    return decoded, False, path


def _write_cache(path: Path, decoded: _Decoded) -> None:
    """Write ``decoded`` to ``path`` atomically (a temp file in the same folder, then os.replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {
        "images": decoded.images,
        "labels": decoded.labels.astype(np.int64),
        "class_names": np.array(json.dumps(list(decoded.class_names))),
        "metadata": np.array(_metadata_to_json(decoded.metadata)),
    }
    if decoded.masks is not None:
        arrays["masks"] = decoded.masks
    if decoded.groups is not None:
        arrays["groups"] = np.array(json.dumps([str(g) for g in decoded.groups]))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)  # uncompressed: reading back is then as fast as the disk
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_cache(path: Path) -> _Decoded:
    with np.load(path, allow_pickle=False) as data:
        return _Decoded(
            images=data["images"],
            labels=data["labels"],
            masks=data["masks"] if "masks" in data.files else None,
            metadata=_metadata_from_json(str(data["metadata"])),
            class_names=tuple(json.loads(str(data["class_names"]))),
            groups=np.array(json.loads(str(data["groups"])), dtype=object) if "groups" in data.files else None,
        )


def _metadata_to_json(metadata: pd.DataFrame) -> str:
    """Return the table as JSON; Python floats keep every digit, so it reads back exactly."""
    table = metadata.to_dict(orient="split", index=False)  # native Python values
    return json.dumps({"columns": [str(c) for c in table["columns"]], "data": table["data"]})


def _metadata_from_json(text: str) -> pd.DataFrame:
    table = json.loads(text)
    return pd.DataFrame(table["data"], columns=table["columns"])

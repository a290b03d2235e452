"""The ``phantom`` source: DermSynth phantoms rendered by :func:`medgan_nb.data.phantom.render_phantoms`.

No files and no network: ``n`` images (default 4000) are rendered in chunks
from ``seed``, and the splits are consecutive index ranges of them (the
phantom draws i.i.d. images), so only the asked range is rendered. The cache
key holds the renderer's source hash, so a change to the renderer renders
again. Sizes outside the renderer's range are rendered at the nearest size it
supports and resized.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..transforms import resize_and_center_crop
from .dataset import _check_options, _Decoded, _Plan


def _prepare_phantom(root, size: int, split: str, options: dict[str, Any], **kw: Any) -> _Plan:
    _check_options("phantom", kw, ("n", "config", "prior"))
    from .. import phantom

    n = int(kw.get("n") or 4000)
    if n < 3:
        raise ValueError(f"phantom needs n >= 3 images (train, val and test get one each at least), got n={n}")
    config = _phantom_config(phantom, kw.get("config"), kw.get("prior"))
    f_train, f_val, _ = options["fractions"]
    bounds = {"train": (0, round(n * f_train)), "val": (round(n * f_train), round(n * (f_train + f_val)))}
    bounds.update({"test": (bounds["val"][1], n), "all": (0, n)})
    start, stop = bounds[split]
    key = {
        "n": n, "seed": options["seed"], "config": repr(config), "split": split, "range": (start, stop),
        # Changing the renderer's code invalidates the cache.
        "renderer": _renderer_hash(phantom),
    }

    def build() -> _Decoded:
        return _render_phantom_range(phantom, start, stop, size, options, config, split if split != "all" else None, bounds)

    return _Plan("phantom", key, build, tag=split)


def _phantom_config(phantom: Any, config: Any, prior: Any) -> Any:
    """Return ``config`` with its class priors replaced by ``prior`` when one is given."""
    if prior is None:
        return config
    import dataclasses

    base = config if config is not None else phantom.PhantomConfig()
    return dataclasses.replace(base, class_priors=prior)  # PhantomConfig checks the value


def _render_phantom_range(phantom, start, stop, size, options, config, split, bounds) -> _Decoded:
    count = stop - start
    chunk = 512
    # The renderer draws 28..256 px; other sizes are rendered at the nearest one and resized.
    render_size = min(max(size, getattr(phantom, "MIN_SIZE", 28)), getattr(phantom, "MAX_SIZE", 256))
    images, masks, labels, attributes = [], [], [], {}
    class_names: tuple[str, ...] = ()
    bar = tqdm(total=count, desc="rendering phantoms", unit="img", disable=not options["progress"] or count <= chunk)
    for first in range(start, stop, chunk):
        batch = phantom.render_phantoms(min(chunk, stop - first), size=render_size, seed=options["seed"],
                                        config=config, start=first)
        batch_images, batch_masks = np.asarray(batch.images, np.uint8), np.asarray(batch.masks, bool)
        if render_size != size:
            batch_images = np.stack([resize_and_center_crop(image, size) for image in batch_images])
            batch_masks = np.stack([resize_and_center_crop(mask, size) for mask in batch_masks])
        images.append(batch_images)
        masks.append(batch_masks)
        labels.append(np.asarray(batch.labels, np.int64))
        for key, value in (batch.attributes or {}).items():
            value = np.asarray(value)
            if value.ndim == 1 and value.dtype.kind in "biuf":  # keep per-image scalars only
                # float64 / int64, the types the table has when read back from the cache
                value = value if value.dtype.kind == "b" else value.astype(np.float64 if value.dtype.kind == "f" else np.int64)
                attributes.setdefault(key, []).append(value)
        class_names = tuple(batch.class_names)
        bar.update(len(batch.labels))
    bar.close()
    index = np.arange(start, stop)
    metadata = pd.DataFrame({"source": "phantom", "index": index})
    if split is None:  # split="all": tell each image's split by its index range
        names = np.full(count, "test", dtype=object)
        names[index < bounds["val"][1]] = "val"
        names[index < bounds["train"][1]] = "train"
        metadata["split"] = names
    else:
        metadata["split"] = split
    for key, parts in attributes.items():
        values = np.concatenate(parts)
        if len(values) == count:
            metadata[key] = values
    empty_images = np.empty((0, size, size, 3), np.uint8)
    return _Decoded(
        images=np.concatenate(images) if images else empty_images,
        labels=np.concatenate(labels) if labels else np.empty(0, np.int64),
        masks=np.concatenate(masks) if masks else np.empty((0, size, size), bool),
        metadata=metadata,
        class_names=class_names or tuple(f"{c}-like" for c in phantom.CLASS_NAMES),
    )


def _renderer_hash(phantom: Any) -> str:
    """Return a hash of the phantom renderer's code: every module of the ``data.phantom`` package, in name order."""
    package = Path(getattr(phantom, "__file__", "") or "").parent
    digest = hashlib.sha1()
    for module in sorted(package.glob("*.py")):  # a change to any stage (geometry, pigment, ...) counts
        digest.update(module.name.encode())
        digest.update(module.read_bytes())
    return digest.hexdigest()

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

import hashlib
import json
import os
import socket
import tempfile
import warnings
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch
from PIL import Image
from tqdm.auto import tqdm

from ..runtime import project_root
from .transforms import from_tensor, resize_and_center_crop, to_tensor_minus1_1

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

KNOWN_DATASETS = ("phantom", "dermamnist", "ham10000", "isic-seg", "folder")
SPLITS = ("train", "val", "test", "all")
DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)
MIN_SIZE, MAX_SIZE = 16, 512
# HAM10000 ``dx`` codes in DermaMNIST's label order (0 akiec ... 6 vasc).
DERMAMNIST_CLASS_NAMES = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
DERMAMNIST_SIZES = (28, 64, 128, 224)
HAM10000_COLUMNS = ("lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization")
HAM10000_REQUIRED = ("lesion_id", "image_id", "dx")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
MASK_SUFFIX = "_segmentation"
ASPECT_TOLERANCE = 0.01  # a mask may differ in size from its image if the aspect ratios agree within 1 %
CACHE_VERSION = 1  # bump when the decoded content changes for the same inputs
HOW_TO_GET = "see data/README.md for where to get it and how to lay it out"


# ----------------------------------------------------------------------------
# The dataset object
# ----------------------------------------------------------------------------

def random_subset(images: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """Return ``n`` rows of ``images`` (or all, if fewer) drawn at random without replacement, seeded.

    Use it instead of ``images[:n]``: real datasets list the images of one lesion
    (or one class) together, so the first rows are not a fair sample.
    """
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[: min(n, len(images))]
    return images[order]


class LesionDataset(torch.utils.data.Dataset):
    """Images (float32 N x 3 x H x W in [-1, 1]), labels, optional masks and per-image metadata of one split.

    ``dataset[i]`` returns ``(image, label)``, so it plugs into a
    :class:`torch.utils.data.DataLoader`; for GAN training it is usually faster
    to index ``dataset.images`` directly (the whole split is already in memory).
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        class_names: Sequence[str],
        masks: torch.Tensor | None = None,
        metadata: pd.DataFrame | None = None,
        name: str = "custom",
        split: str = "all",
        from_cache: bool = False,
        cache_path: Path | None = None,
    ) -> None:
        if images.ndim != 4 or images.shape[1] != 3 or images.dtype != torch.float32:
            raise ValueError(f"images must be float32 (N, 3, H, W), got {images.dtype} {tuple(images.shape)}")
        if labels.shape != (len(images),):
            raise ValueError(f"labels must have shape ({len(images)},), got {tuple(labels.shape)}")
        if masks is not None and (masks.dtype != torch.bool or masks.shape != (len(images), *images.shape[2:])):
            raise ValueError(f"masks must be bool (N, H, W) matching the images, got {masks.dtype} {tuple(masks.shape)}")
        self.images = images
        self.labels = labels.long()
        self.masks = masks
        self.class_names = tuple(class_names)
        self.metadata = metadata if metadata is not None else pd.DataFrame(index=range(len(images)))
        self.name = name
        self.split = split
        self.from_cache = from_cache
        self.cache_path = cache_path

    def __len__(self) -> int:
        """Return the number of images."""
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(image, label)``: a float (3, H, W) tensor in [-1, 1] and an int64 scalar."""
        return self.images[index], self.labels[index]

    @property
    def image_size(self) -> int:
        """Return the side of the (square) images in pixels."""
        return int(self.images.shape[-1])

    @property
    def num_classes(self) -> int:
        """Return the number of classes."""
        return len(self.class_names)

    def class_counts(self) -> dict[str, int]:
        """Return the number of images per class name."""
        counts = torch.bincount(self.labels, minlength=self.num_classes).tolist()
        return dict(zip(self.class_names, counts))

    def uint8_images(self) -> np.ndarray:
        """Return the images as a uint8 numpy array (N, H, W, 3), e.g. for scikit-image."""
        return from_tensor(self.images)

    def __repr__(self) -> str:
        masks = "with masks" if self.masks is not None else "no masks"
        cached = ", from cache" if self.from_cache else ""
        return (
            f"LesionDataset({self.name!r}, split={self.split!r}, {len(self)} images of "
            f"{self.image_size}x{self.image_size}, {self.num_classes} classes, {masks}{cached})"
        )


@dataclass
class _Decoded:
    """What a source yields before the split: uint8 images and everything that goes with them."""

    images: np.ndarray              # uint8 (N, H, W, 3)
    labels: np.ndarray              # int64 (N,)
    masks: np.ndarray | None        # bool (N, H, W) or None
    metadata: pd.DataFrame          # one row per image; a "split" column when the source fixes the splits
    class_names: tuple[str, ...]
    groups: np.ndarray | None = None  # images with the same group never go to different splits


@dataclass
class _Plan:
    """How to build one source: the cache key's ingredients and the function that decodes."""

    source: str
    key: dict[str, Any]
    build: Callable[[], _Decoded]
    tag: str = "all"


# ----------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------

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


def _check_name(name: str) -> str:
    key = str(name).strip().lower().replace("_", "-")
    if key not in KNOWN_DATASETS:
        raise ValueError(
            f"unknown dataset {name!r}; known datasets: {', '.join(KNOWN_DATASETS)} "
            "(use 'folder' for any one-subfolder-per-class image collection)"
        )
    return key


def _check_size(size: Any) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(
            f"size must be an integer number of pixels between {MIN_SIZE} and {MAX_SIZE}, got {size!r}; "
            "typical values are 32, 64 or 128"
        )
    return int(size)


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(float(f) for f in fractions)
    if len(values) != 3 or min(values) < 0 or abs(sum(values) - 1.0) > 1e-6:
        raise ValueError(
            f"fractions must be three non-negative numbers (train, val, test) summing to 1, got {fractions!r}; "
            f"e.g. {DEFAULT_FRACTIONS}"
        )
    return values  # type: ignore[return-value]


def _check_options(source: str, given: dict[str, Any], accepted: Sequence[str]) -> None:
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        raise TypeError(
            f"load_dataset({source!r}) got unknown option(s) {unknown}; "
            f"it accepts {', '.join(accepted) if accepted else 'no extra options'}"
        )


# ----------------------------------------------------------------------------
# Splits
# ----------------------------------------------------------------------------

def assign_splits(
    labels: Sequence[int] | np.ndarray,
    groups: Sequence[Any] | np.ndarray | None = None,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
) -> np.ndarray:
    """Return the split name ("train", "val", "test") of every item, stratified by label and never splitting a group.

    Written by hand because scikit-learn (which has ``StratifiedGroupKFold``)
    is not a dependency of this kit and the rule fits in a dozen lines.
    """
    labels = np.asarray(labels)
    groups = np.arange(len(labels)) if groups is None else np.asarray(groups)
    f_train, f_val, _ = _check_fractions(fractions)
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({"label": labels, "group": groups})
    per_group = table.groupby("group", sort=True).agg(label=("label", "first"), count=("label", "size"))
    split_of_group: dict[Any, str] = {}
    for _, members in per_group.groupby("label", sort=True):
        order = members.iloc[rng.permutation(len(members))]        # groups of this class, shuffled
        ends = np.cumsum(order["count"].to_numpy())
        middles = (ends - order["count"].to_numpy() / 2) / ends[-1]  # q: where each group's middle falls
        names = np.where(middles < f_train, "train", np.where(middles < f_train + f_val, "val", "test"))
        split_of_group.update(zip(order.index, names.tolist()))
    return np.array([split_of_group[g] for g in groups], dtype=object)


def _select_split(
    decoded: _Decoded,
    source: str,
    split: str,
    seed: int,
    fractions: tuple[float, float, float],
    from_cache: bool,
    cache_path: Path | None,
) -> LesionDataset:
    metadata = decoded.metadata.reset_index(drop=True)
    if "split" not in metadata.columns:
        groups = decoded.groups if decoded.groups is not None else metadata.get("group")
        metadata["split"] = assign_splits(decoded.labels, groups, fractions, seed)
    keep = np.ones(len(metadata), bool) if split == "all" else (metadata["split"].to_numpy() == split)
    index = np.flatnonzero(keep)
    masks = None if decoded.masks is None else torch.from_numpy(np.ascontiguousarray(decoded.masks[index]))
    return LesionDataset(
        images=to_tensor_minus1_1(decoded.images[index]),
        labels=torch.from_numpy(decoded.labels[index].astype(np.int64)),
        class_names=decoded.class_names,
        masks=masks,
        metadata=metadata.iloc[index].reset_index(drop=True),
        name=source,
        split=split,
        from_cache=from_cache,
        cache_path=cache_path,
    )


# ----------------------------------------------------------------------------
# Cache
# ----------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------
# phantom
# ----------------------------------------------------------------------------

def _prepare_phantom(root, size: int, split: str, options: dict[str, Any], **kw: Any) -> _Plan:
    _check_options("phantom", kw, ("n", "config", "prior"))
    from . import phantom

    n = int(kw.get("n") or 4000)
    if n < 3:
        raise ValueError(f"phantom needs n >= 3 images (train, val and test get one each at least), got n={n}")
    config = _phantom_config(phantom, kw.get("config"), kw.get("prior"))
    f_train, f_val, _ = options["fractions"]
    bounds = {"train": (0, round(n * f_train)), "val": (round(n * f_train), round(n * (f_train + f_val)))}
    bounds.update({"test": (bounds["val"][1], n), "all": (0, n)})
    start, stop = bounds[split]
    source_file = Path(getattr(phantom, "__file__", "") or "")
    key = {
        "n": n, "seed": options["seed"], "config": repr(config), "split": split, "range": (start, stop),
        # Changing the renderer's code invalidates the cache.
        "renderer": hashlib.sha1(source_file.read_bytes()).hexdigest() if source_file.suffix == ".py" else "",
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


# ----------------------------------------------------------------------------
# dermamnist
# ----------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------
# ham10000
# ----------------------------------------------------------------------------

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
# isic-seg
# ----------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------
# folder
# ----------------------------------------------------------------------------

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


_PREPARERS: dict[str, Callable[..., _Plan]] = {
    "phantom": _prepare_phantom,
    "dermamnist": _prepare_dermamnist,
    "ham10000": _prepare_ham10000,
    "isic-seg": _prepare_isic_seg,
    "folder": _prepare_folder,
}

"""What every source ends in: :class:`LesionDataset`, the checks of ``load_dataset``'s arguments, and the splits.

A source's build step yields a :class:`_Decoded` (uint8 images, labels, masks,
metadata, class names, groups); :func:`_select_split` picks one split of it
and converts it to the float tensors of a :class:`LesionDataset`. The split is
the source's own where it ships one (a ``split`` column), else drawn by
:func:`assign_splits`, stratified by class and never splitting a group. The
constants shared by the loader and several sources live here too.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..transforms import from_tensor, to_tensor_minus1_1

KNOWN_DATASETS = ("phantom", "dermamnist", "ham10000", "isic-seg", "folder")
SPLITS = ("train", "val", "test", "all")
DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)
MIN_SIZE, MAX_SIZE = 16, 512
# HAM10000 ``dx`` codes in DermaMNIST's label order (0 akiec ... 6 vasc).
DERMAMNIST_CLASS_NAMES = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
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
# Checks
# ----------------------------------------------------------------------------

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

r"""Near-duplicate images across a dataset's own splits, found by a perceptual hash.

A generator that "copies the test set" may only be copying a training image that also sits in
the test set: public datasets leak into themselves. DermaMNIST, for one, has near-duplicate
images across its train, validation and test splits (Abhishek et al. 2025, Scientific Data),
because HAM10000 holds several photographs of one lesion. Before blaming a generator for a
near-copy, check the data.

**Perceptual hash** (pHash; Zauner 2010, "Implementation and Benchmarking of Perceptual Image
Hash Functions"). Turn an image into grey, resize it to :math:`32 \times 32`, take the 2-D
discrete cosine transform :math:`C = \mathrm{DCT}_2(Y)` and keep the :math:`h \times h`
lowest frequencies (:math:`h = 8` by default); the hash is one bit per coefficient,

.. math::
    b_{uv} = \mathbb{1}\big[C_{uv} > \operatorname{median}(C_{[0,h) \times [0,h)})\big],

so it describes the coarse layout of light and dark, and survives resizing, re-compression and
small colour changes. Two images are near-duplicates when the Hamming distance
:math:`\sum_{uv} b_{uv} \oplus b'_{uv}` of their hashes is at most a few bits.

Written with ``scipy.fft.dctn`` rather than the ``imagehash`` package: that package is not part of
the kit's environment, and the algorithm (the same as ``imagehash.phash``) is a handful of array
operations that run on a whole batch at once.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.fft import dctn

from .checks import check_finite_images

HASH_RESIZE = 32  # images are shrunk to this many pixels per side before the DCT (as imagehash does)


def perceptual_hash(images: torch.Tensor, hash_size: int = 8) -> np.ndarray:
    """Return the pHash bits (N, hash_size**2), bool, of images (N, 3, H, W) in [-1, 1]."""
    check_finite_images(images, "images")
    if not (isinstance(hash_size, int) and 2 <= hash_size <= HASH_RESIZE // 2):
        raise ValueError(f"hash_size must be an integer from 2 to {HASH_RESIZE // 2}, got {hash_size!r}; 8 gives the usual 64-bit hash")
    # ITU-R BT.601 luma (as PIL's convert("L"), which imagehash uses), then an antialiased resize to 32 x 32.
    grey = (0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2])[:, None].float()
    small = F.interpolate(grey, size=(HASH_RESIZE, HASH_RESIZE), mode="bilinear", antialias=True, align_corners=False)
    coefficients = dctn(small[:, 0].numpy().astype(np.float64), axes=(1, 2), type=2)  # C = DCT_2(Y)
    low = coefficients[:, :hash_size, :hash_size].reshape(len(images), -1)  # the h x h lowest frequencies
    return low > np.median(low, axis=1, keepdims=True)  # b_uv = [C_uv > median]


def hamming_distances(hashes_a: np.ndarray, hashes_b: np.ndarray) -> np.ndarray:
    """Return the (N_a, N_b) matrix of Hamming distances (differing bits) between two sets of hashes."""
    a, b = np.asarray(hashes_a, bool), np.asarray(hashes_b, bool)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"hashes must be 2-D (N, bits) with the same number of bits, got {a.shape} and {b.shape}; "
                         "compute both with perceptual_hash(..., hash_size=the same)")
    # differing bits = |a| + |b| - 2 |a AND b|, with integer matrix products instead of an (N_a, N_b, bits) array
    a_int, b_int = a.astype(np.int32), b.astype(np.int32)
    return a_int.sum(1)[:, None] + b_int.sum(1)[None, :] - 2 * a_int @ b_int.T


def near_duplicates(images_a: torch.Tensor, images_b: torch.Tensor, max_distance: int = 5,
                    hash_size: int = 8) -> list[tuple[int, int, int]]:
    """Return (index in a, index in b, Hamming distance) for every pair whose hashes differ by at most max_distance bits."""
    if not (isinstance(max_distance, int) and 0 <= max_distance < hash_size**2):
        raise ValueError(f"max_distance must be an integer from 0 to {hash_size**2 - 1} bits, got {max_distance!r}; "
                         "0 finds exact hash matches, 5 (the default) separates copies from distinct lesions")
    distances = hamming_distances(perceptual_hash(images_a, hash_size), perceptual_hash(images_b, hash_size))
    rows, cols = np.nonzero(distances <= max_distance)
    return [(int(i), int(j), int(distances[i, j])) for i, j in zip(rows, cols)]


def split_leaks(images: torch.Tensor, splits, max_distance: int = 5, hash_size: int = 8) -> dict[str, dict[str, int]]:
    """Return, per pair of splits ("train-test", ...), how many near-duplicate pairs and distinct images of the second split leak."""
    splits = np.asarray(splits).astype(str)
    if len(splits) != len(images):
        raise ValueError(f"splits has {len(splits)} entries for {len(images)} images; pass one split name per image "
                         "(e.g. dataset.metadata['split'] of load_dataset(..., split='all'))")
    names = [name for name in ("train", "val", "test") if (splits == name).any()]
    hashes = perceptual_hash(images, hash_size)
    report: dict[str, dict[str, int]] = {}
    for first, second in (("train", "val"), ("train", "test"), ("val", "test")):
        if first not in names or second not in names:
            continue
        distances = hamming_distances(hashes[splits == first], hashes[splits == second])
        close = distances <= max_distance
        report[f"{first}-{second}"] = {"pairs": int(close.sum()), f"{second}_images_with_a_twin": int(close.any(0).sum()),
                                       f"{second}_images": int((splits == second).sum())}
    return report


def dataset_split_leaks(name: str, root=None, size: int = 28, max_distance: int = 5, **options) -> dict[str, dict[str, int]]:
    """Return :func:`split_leaks` for all splits of dataset ``name`` (FileNotFoundError when its files are absent)."""
    from ..data import load_dataset

    if name == "dermamnist":
        options.setdefault("download", False)  # a check, never a download
    data = load_dataset(name, root=root, size=size, split="all", progress=False, **options)
    return split_leaks(data.images, data.metadata["split"], max_distance=max_distance)

r"""Notebook 06's experiments: lesions drawn from masks (SPADE, pix2pix) and translated between domains (CycleGAN).

**Does a generated lesion respect its mask?** We segment each generated image
:math:`\hat x = G(z, m)` with the kit's Otsu segmentation :math:`S`
(:func:`~medgan_nb.metrics.morphology.segment_lesion`) and score the overlap
with the input mask,

.. math::
    \mathrm{Dice}(S(\hat x), m) = \frac{2\,|S(\hat x) \cap m|}{|S(\hat x)| + |m|},

beside the same number on real pairs, :math:`\mathrm{Dice}(S(x), m)`: Otsu is
not a perfect segmenter, so the real pairs, not 1, are the reference (a painted
lesion without hairs or glints can even be easier to segment than a real one),
and the untrained generator's images the floor.

**Hair removal with a ground truth.** The phantom renders the *same* lesion
with and without hairs (same seed, ``PhantomConfig(hairs=...)``), so a hair
remover's output :math:`\hat y` can be compared with the true hair-free image
:math:`y` (8-bit pixels, :math:`L = 255`):

.. math::
    \mathrm{PSNR}(\hat y, y) = 10 \log_{10} \frac{L^2}{\tfrac{1}{n}\sum_i (\hat y_i - y_i)^2},
    \qquad
    \mathrm{SSIM}(\hat y, y) = \frac{(2\mu_{\hat y}\mu_y + c_1)(2\sigma_{\hat y y} + c_2)}
                                {(\mu_{\hat y}^2 + \mu_y^2 + c_1)(\sigma_{\hat y}^2 + \sigma_y^2 + c_2)},

SSIM averaged over 7x7 windows (both from scikit-image). CycleGAN is trained on
*unpaired* hairy and hair-free images; the pairing is used only here, to score it.

**Synthetic training pairs.** :func:`save_synthetic_pairs` writes every
(generated image, input mask) pair to one ``.npz`` (images uint8 NHWC, masks
bool NHW) for the evaluation notebook's "train a segmenter on synthetic pairs,
test it on real ones"; :func:`load_synthetic_pairs` reads it back.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from .. import viz
from ..data.phantom import PhantomConfig, render_phantoms
from ..data.transforms import remove_hair, to_uint8_images
from ..metrics.fid import sample_generator
from ..metrics.morphology import dice_score, segment_lesions
from ..metrics.uncertainty import NO_CLEAR_DIFFERENCE, differs, mean_se
from ..models.sampling import model_device
from ..models.translation import attention_a_to_b, cycle_loss
from ..train import TrainConfig, family_config

Tensor = torch.Tensor
PAIRS_FILE = "synthetic_pairs.npz"


# ----------------------------------------------------------------------------
# Masks and training settings
# ----------------------------------------------------------------------------

def dataset_masks(dataset) -> tuple[Tensor, str]:
    """Return (bool masks (N, H, W), where they come from): the dataset's own masks, else Otsu masks of its images."""
    if getattr(dataset, "masks", None) is not None:
        return dataset.masks.bool(), "the dataset's masks"
    # no masks (DermaMNIST, a class folder): the Otsu segmentation of each image stands in for one
    return torch.from_numpy(segment_lesions(dataset.images)), "Otsu masks (the dataset has none)"


def translation_config(name: str, image_size: int, steps: int, batch_size: int, seed: int, device: str,
                       amp: str = "off", **overrides) -> TrainConfig:
    """Return the family's recommended TrainConfig (losses, hooks) with this run's steps, batch, seed and device."""
    return family_config(name, image_size, steps=steps, batch_size=batch_size, seed=seed, device=device, amp=amp,
                         log_every=max(1, steps // 100), sample_every=0, **overrides)


# Hair removal is lossy: from a hair-free image F cannot know where the hairs were, so the paper's cycle term
# (lambda_cyc = 10) rewards a G that repaints every pixel and hides the hairs in faint patterns F can read back
# (Chu et al. 2017, "CycleGAN, a master of steganography"). The hair remover of section 8 therefore takes the
# attention-gated generator (it can leave the skin untouched) and a cycle term ten times lighter, with the
# identity term at half the cycle weight as in the paper.
HAIR_BUILD = {"attention": True}
HAIR_CYCLE_WEIGHTS = {"weight_cycle": 1.0, "weight_identity": 0.5}


def hair_config(image_size: int, steps: int, batch_size: int, seed: int, device: str, amp: str = "off") -> TrainConfig:
    """Return the TrainConfig of section 8's hair remover: CycleGAN's settings with the lighter cycle term above."""
    return translation_config("cyclegan", image_size, steps, batch_size, seed, device, amp,
                              generator_loss=cycle_loss(**HAIR_CYCLE_WEIGHTS))


def loss_trend(history, column: str) -> tuple[float, float]:
    """Return (mean of the first few, mean of the last few) recorded values of ``column`` (a fifth, 1 to 10 values)."""
    values = np.asarray(history[column], dtype=float)
    if len(values) == 0:
        raise ValueError(f"the history has no {column!r} values; train at least one step")
    k = max(1, min(10, len(values) // 5))
    return float(values[:k].mean()), float(values[-k:].mean())


# ----------------------------------------------------------------------------
# One mask, several lesions
# ----------------------------------------------------------------------------

@contextmanager
def _dropout_only(generator: nn.Module):
    """Evaluation mode for everything except dropout layers (pix2pix's only noise); the mode is restored."""
    was_training = generator.training
    generator.eval()
    for module in generator.modules():
        if isinstance(module, nn.Dropout):
            module.train()
    try:
        yield generator
    finally:
        generator.train(was_training)


@torch.no_grad()
def samples_per_mask(generator: nn.Module, masks: Tensor, n_per_mask: int, seed: int = 0,
                     dropout: bool = False) -> Tensor:
    """Return images (n_masks, n_per_mask, 3, S, S): ``n_per_mask`` draws of G(z, m) for each mask m.

    In evaluation mode (``dropout=False``) only z varies; ``dropout=True``
    keeps the dropout layers active, which is where pix2pix's noise lives.
    """
    masks = torch.as_tensor(masks).float()
    repeated = masks.repeat_interleave(n_per_mask, dim=0)  # m_1 x k, m_2 x k, ...
    if not dropout:
        images = sample_generator(generator, len(repeated), seed=seed, labels=repeated)
    else:
        torch.manual_seed(seed)  # the dropout masks are drawn from the global generator
        z = torch.randn(len(repeated), generator.latent_dim, generator=torch.Generator().manual_seed(seed))
        device = model_device(generator)
        with _dropout_only(generator):
            images = generator(z.to(device), repeated.to(device)).float().cpu()
    return images.view(len(masks), n_per_mask, *images.shape[1:])


def sample_diversity(samples: Tensor) -> float:
    """Return the mean over pixels of the standard deviation across the draws of one mask (0 = identical draws)."""
    return float(samples.std(dim=1).mean())  # samples: (n_masks, k, 3, S, S); std over the k draws


def plot_samples_per_mask(masks: Tensor, rows: dict[str, Tensor], title: str = "One mask, several generated lesions"):
    """Return a figure: one row per mask, the mask first, then each method's draws side by side."""
    n_masks = len(masks)
    columns = [("input mask", None, 0)] + [(name, name, j) for name, s in rows.items() for j in range(s.shape[1])]
    fig, axes = plt.subplots(n_masks, len(columns), figsize=(1.1 * len(columns), 1.2 * n_masks + 0.6), squeeze=False)
    for i in range(n_masks):
        for c, (label, name, j) in enumerate(columns):
            ax = axes[i, c]
            if name is None:
                ax.imshow(np.asarray(masks[i]).reshape(masks.shape[-2:]), cmap="gray", vmin=0, vmax=1)
            else:
                ax.imshow(to_uint8_images(rows[name][i, j : j + 1])[0])
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_title(label if name is None else f"{label} #{j + 1}", fontsize=7)
    fig.suptitle(title)
    viz.finish(fig)
    return fig


# ----------------------------------------------------------------------------
# Does the lesion follow its mask?
# ----------------------------------------------------------------------------

def mask_dice(images, masks) -> np.ndarray:
    """Return the Dice (N,) of the Otsu segmentation of each image against its mask."""
    masks = torch.as_tensor(masks)
    if masks.dim() == 4 and masks.shape[1] == 1:
        masks = masks[:, 0]  # (N, 1, S, S), the generators' condition, -> (N, S, S)
    if masks.dim() != 3:
        raise ValueError(f"masks must have shape (N, S, S) or (N, 1, S, S), got {tuple(masks.shape)}; "
                         "use a dataset's .masks or the condition the images were generated from")
    if len(images) != len(masks):
        raise ValueError(f"{len(images)} images but {len(masks)} masks: give exactly one mask per image "
                         "(the mask each image was generated from)")
    pictures = to_uint8_images(images)  # uint8 (N, S, S, 3), whether float NCHW or uint8 NHWC came in
    if pictures.shape[1:3] != tuple(masks.shape[1:]):
        raise ValueError(f"images are {pictures.shape[1]}x{pictures.shape[2]} but masks {masks.shape[1]}x"
                         f"{masks.shape[2]}; load both at one size (load_dataset(..., size=S))")
    return dice_score(segment_lesions(pictures), masks.bool().numpy())


def dice_verdict(name: str, generated: float, real: float) -> str:
    """Return a one-line verdict comparing a family's mean mask Dice with the real pairs' Dice."""
    ratio = generated / real if real > 0 else float("nan")
    if ratio >= 1.1:  # Otsu finds a clean painted lesion more easily than one under hairs, rulers and glints
        judgement = "follows its masks at least as well as real images do (its lesions are easier to segment)"
    elif ratio >= 0.9:
        judgement = "respects its masks about as well as real images do"
    elif ratio >= 0.6:
        judgement = "follows its masks only partly"
    else:
        judgement = "largely ignores its masks"
    return f"{name}: mask Dice {generated:.3f} vs {real:.3f} on real pairs ({ratio:.0%}): {judgement}"


def restoration_verdict(scores: dict[str, dict[str, np.ndarray]], kind: str = "psnr") -> str:
    """Return which method restores best by ``kind`` ("psnr" or "ssim"), named only when clearly ahead of every other.

    All methods are scored on the same held-out images, so each rival is compared with the leader through the
    per-image differences: the leader wins when every mean difference exceeds two of its standard errors.
    """
    means = {name: float(np.mean(values[kind])) for name, values in scores.items()}
    leader = max(means, key=means.get)
    unit = " dB" if kind == "psnr" else ""
    for rival in means:
        if rival == leader:
            continue
        gaps = np.asarray(scores[leader][kind], float) - np.asarray(scores[rival][kind], float)
        if not differs(float(gaps.mean()), 0.0, mean_se(gaps)):
            return (f"best {kind.upper()}: {NO_CLEAR_DIFFERENCE} between {leader} ({means[leader]:.3f}{unit}) and "
                    f"{rival} ({means[rival]:.3f}{unit})")
    return f"best {kind.upper()}: {leader} ({means[leader]:.3f}{unit}), clearly ahead of every other method"


def paired_gain(scores: dict[str, dict[str, np.ndarray]], name: str, baseline: str, kind: str = "psnr"
                ) -> tuple[float, float]:
    """Return the mean per-image gain of method ``name`` over ``baseline`` by ``kind`` and its standard error
    (paired: both were scored on the same images)."""
    gains = np.asarray(scores[name][kind], float) - np.asarray(scores[baseline][kind], float)
    return float(gains.mean()), mean_se(gains)


def gain_verdict(scores: dict[str, dict[str, np.ndarray]], name: str, baseline: str, kind: str = "psnr") -> str:
    """Return whether method ``name`` beats ``baseline`` by ``kind``, from the paired per-image gains and 2 SE."""
    mean, se = paired_gain(scores, name, baseline, kind)
    unit = " dB" if kind == "psnr" else ""
    numbers = f"{mean:+.2f} ± {2 * se:.2f}{unit} {kind.upper()} over {len(scores[name][kind])} images"
    if not differs(mean, 0.0, se):
        return f"{name} vs {baseline}: {NO_CLEAR_DIFFERENCE} ({numbers})"
    return f"{name} {'beats' if mean > 0 else 'is worse than'} {baseline}: {numbers}"


def attention_verdict(shares: dict[str, dict[str, float]]) -> str:
    """Return, per generator, whether its attention is clearly higher on the true hairs than elsewhere.

    ``shares`` maps a name to :func:`attention_on_hair`'s numbers; the per-image gap must exceed two standard errors.
    """
    parts = []
    for name, share in shares.items():
        numbers = (f"{share['on_hair']:.2f} on the hairs vs {share['elsewhere']:.2f} elsewhere, gap "
                   f"{share['gap']:+.2f} ± {2 * share['gap_se']:.2f}")
        found = share["gap"] > 0 and differs(share["gap"], 0.0, share["gap_se"])
        parts.append(f"{name}: the attention {'found the hairs' if found else 'is not clearly on the hairs'} ({numbers})")
    return "; ".join(parts)


HAIR_METHOD_KEYS = {"identity (hairy input)": "identity", "DullRazor": "dullrazor", "CycleGAN": "cyclegan",
                    "CycleGAN, untrained": "cyclegan_untrained", "CycleGAN on hairs only": "hair_only",
                    "CycleGAN, reference": "cyclegan_reference"}  # section 8's rows -> metrics.json keys


def hair_section_metrics(scores: dict[str, dict[str, np.ndarray]], attention_share: dict[str, dict[str, float]],
                         baseline: str = "identity (hairy input)") -> dict:
    """Return section 8's numbers for metrics.json: mean PSNR/SSIM per method, each CycleGAN's paired PSNR gain over
    doing nothing with its standard error, the attention on and off the true hairs, and whether the reference ran."""
    values = {f"{HAIR_METHOD_KEYS[name]}_{kind}": float(np.mean(result[kind]))
              for name, result in scores.items() for kind in ("psnr", "ssim")}
    for name in ("CycleGAN", "CycleGAN, reference"):
        if name in scores:
            key = HAIR_METHOD_KEYS[name]
            values[f"{key}_psnr_gain"], values[f"{key}_psnr_gain_se"] = paired_gain(scores, name, baseline)
    for name, share in attention_share.items():
        key = "cyclegan" if name == "your run" else "cyclegan_reference"
        values.update({f"{key}_attention_on_hair": share["on_hair"], f"{key}_attention_elsewhere": share["elsewhere"]})
    values["hair_reference_loaded"] = "CycleGAN, reference" in scores
    return values


def phantom_section_metrics(values: dict, dataset: str) -> dict:
    """Return ``values`` (metrics of the sections that always run on phantom pairs) keyed for ``dataset``'s metrics.json.

    On the phantom the keys stay as they are; on any other dataset they get a ``phantom_`` prefix, so that no reader
    takes the hair-removal and skin-tone numbers for numbers of that dataset.
    """
    prefix = "" if dataset == "phantom" else "phantom_"
    return {prefix + key: value for key, value in values.items()}


def skin_tone_verdict(before: np.ndarray, after: np.ndarray, untrained: np.ndarray, kept_bar: float = 0.85) -> str:
    """Return whether a light-to-dark translation keeps the lesion, decided against an untrained generator.

    ``before``, ``after`` and ``untrained`` are per-image Dice scores (Otsu mask vs the true mask) of the
    light inputs, the trained translation and the untrained generator's output on the same held-out lesions.
    The kept share is after / before; training is said to have helped only when the paired per-image
    difference after - untrained exceeds two standard errors (Otsu on an untrained generator's noise can
    still find part of a dark blob, so "keeps 56%" means nothing without that baseline).
    """
    before, after, untrained = (np.asarray(v, float) for v in (before, after, untrained))
    kept = after.mean() / max(before.mean(), 1e-9)
    kept_untrained = untrained.mean() / max(before.mean(), 1e-9)
    se = mean_se(after - untrained)  # paired: the same held-out lesions
    numbers = (f"Dice {after.mean():.3f} after vs {before.mean():.3f} before ({kept:.0%} kept); untrained generator "
               f"{untrained.mean():.3f} ({kept_untrained:.0%})")
    if not differs(after.mean(), untrained.mean(), se):
        return f"{NO_CLEAR_DIFFERENCE}: the trained translation keeps the lesion no better than the untrained one ({numbers})"
    if after.mean() < untrained.mean():
        return f"the trained translation keeps the lesion worse than the untrained one ({numbers})"
    if kept >= kept_bar:
        return f"the lesion is kept through the translation ({numbers})"
    return f"training helps, but the outline suffers: below {kept_bar:.0%} of the untranslated Dice ({numbers})"


def plot_dice(scores: dict[str, np.ndarray], title: str = "Does the generated lesion follow its mask?"):
    """Return a box plot of per-image Dice (Otsu segmentation vs input mask) for each group."""
    fig, ax = plt.subplots(figsize=(1.6 * len(scores) + 2, 3.6))
    ax.boxplot(list(scores.values()), showmeans=True)
    ax.set_xticks(range(1, len(scores) + 1), list(scores))
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("Dice of Otsu segmentation vs input mask (0-1)")
    ax.set_xlabel("image source")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_with_mask_outlines(rows: dict[str, Tensor], masks: Tensor, title: str):
    """Return a figure of image rows with the input mask's outline drawn on every image (green)."""
    masks = torch.as_tensor(masks).float().reshape(len(masks), *torch.as_tensor(masks).shape[-2:])
    n = len(masks)
    fig, axes = plt.subplots(len(rows), n, figsize=(1.1 * n, 1.2 * len(rows) + 0.6), squeeze=False)
    for r, (name, images) in enumerate(rows.items()):
        pictures = to_uint8_images(images[:n])
        for i in range(n):
            ax = axes[r, i]
            ax.imshow(pictures[i])
            ax.contour(masks[i].numpy(), levels=[0.5], colors="lime", linewidths=0.8)
            ax.set_xticks([]), ax.set_yticks([])
        axes[r, 0].set_ylabel(name, fontsize=8)
    fig.suptitle(title)
    viz.finish(fig)
    return fig


# ----------------------------------------------------------------------------
# Synthetic (image, mask) pairs as a dataset
# ----------------------------------------------------------------------------

@dataclass
class SyntheticPairs:
    """Generated images (float32 N x 3 x S x S in [-1, 1]) and their input masks (bool N x S x S)."""

    images: Tensor
    masks: Tensor

    def __len__(self) -> int:
        """Return the number of pairs."""
        return len(self.images)


def _check_pair_masks(masks, image_size: int | None) -> Tensor:
    """Return masks as bool (N, S, S); ValueError naming the shape or the values when they are not binary S x S."""
    masks = torch.as_tensor(np.asarray(masks) if not isinstance(masks, Tensor) else masks)
    if masks.dim() == 4 and masks.shape[1] == 1:
        masks = masks[:, 0]
    if masks.dim() != 3 or masks.shape[1] != masks.shape[2]:
        raise ValueError(f"masks must have shape (N, S, S) or (N, 1, S, S), got {tuple(masks.shape)}; "
                         "use a dataset's .masks")
    if image_size is not None and masks.shape[-1] != image_size:
        raise ValueError(f"masks are {masks.shape[-1]}x{masks.shape[-1]} but the generator makes {image_size}x"
                         f"{image_size} images; load the masks at that size (load_dataset(..., size={image_size}))")
    if masks.dtype != torch.bool and not bool(((masks == 0) | (masks == 1)).all()):
        shown = ", ".join(f"{float(v):.3g}" for v in masks.unique()[:5])
        raise ValueError(f"masks must be binary (bool, or values in {{0, 1}}), got values {shown}, ...; "
                         "threshold them, e.g. masks > 0.5")
    return masks.bool()


def save_synthetic_pairs(generator, masks, folder, seed: int = 0, file_name: str = PAIRS_FILE) -> Path:
    """Write (G(z, m), m) for every mask to ``folder/file_name`` atomically and return its path.

    ``generator`` is a mask-conditional generator (SPADE, pix2pix), or the
    images it already made (N, 3, S, S) in [-1, 1], one per mask. The file
    holds ``images`` (uint8 N x S x S x 3) and ``masks`` (bool N x S x S).
    """
    if isinstance(generator, nn.Module):
        size = getattr(generator, "image_size", None)
        masks = _check_pair_masks(masks, size)
        images = sample_generator(generator, len(masks), seed=seed, labels=masks[:, None].float())
    else:
        images = torch.as_tensor(generator)
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must have shape (N, 3, S, S), got {tuple(images.shape)}; "
                             "pass a generator or the images it made")
        masks = _check_pair_masks(masks, images.shape[-1])
        if len(images) != len(masks):
            raise ValueError(f"{len(images)} images but {len(masks)} masks: give exactly one mask per image "
                             "(the masks the images were generated from)")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name
    # a temporary file in the same folder, then an atomic rename: a crash never leaves half an npz behind
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{file_name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez_compressed(stream, images=to_uint8_images(images), masks=masks.numpy())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def load_synthetic_pairs(path) -> SyntheticPairs:
    """Return the SyntheticPairs stored by :func:`save_synthetic_pairs` (images back in [-1, 1])."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no synthetic pairs at {path}; write them with save_synthetic_pairs(generator, "
                                "masks, folder)")
    with np.load(path) as stored:
        missing = {"images", "masks"} - set(stored.files)
        if missing:
            raise ValueError(f"{path} lacks {sorted(missing)}; it was not written by save_synthetic_pairs")
        images, masks = stored["images"], stored["masks"]
    images = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)  # uint8 NHWC -> [-1, 1] NCHW
    return SyntheticPairs(images.contiguous(), torch.from_numpy(masks).bool())


# ----------------------------------------------------------------------------
# Paired phantoms for unpaired translation: hairy / hair-free, light / dark skin
# ----------------------------------------------------------------------------

@dataclass
class PhantomPairs:
    """The same lesions rendered twice: domain A and domain B images (float N x 3 x S x S), their masks (bool)."""

    a: Tensor
    b: Tensor
    masks: Tensor

    def split(self, n_test: int) -> tuple["PhantomPairs", "PhantomPairs"]:
        """Return (train, test): the last ``n_test`` lesions are held out."""
        cut = len(self.a) - n_test
        return (PhantomPairs(self.a[:cut], self.b[:cut], self.masks[:cut]),
                PhantomPairs(self.a[cut:], self.b[cut:], self.masks[cut:]))


def render_hair_pairs(n: int, size: int, seed: int = 0) -> PhantomPairs:
    """Return hairy (A) and hair-free (B) renderings of the same lesions; lesions that drew no hair are left out."""
    hairy = render_phantoms(n, size, seed, PhantomConfig.clean(hairs=True, hair_probability=1.0))
    clean = render_phantoms(n, size, seed, PhantomConfig.clean())  # same seed: the same lesion, no hair
    keep = hairy.attributes["has_hair"]  # a hair drawn outside the picture leaves an identical pair
    to_tensor = lambda batch: torch.from_numpy(batch.images[keep]).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return PhantomPairs(to_tensor(hairy), to_tensor(clean), torch.from_numpy(hairy.masks[keep]))


def render_skin_tone_pairs(n: int, size: int, seed: int = 0) -> PhantomPairs:
    """Return light-skin (A, type I) and dark-skin (B, type VI) renderings of the same lesions with their masks."""
    light = render_phantoms(n, size, seed, PhantomConfig.clean(skin_tones=(1, 1)))
    dark = render_phantoms(n, size, seed, PhantomConfig.clean(skin_tones=(6, 6)))
    to_tensor = lambda batch: torch.from_numpy(batch.images).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return PhantomPairs(to_tensor(light), to_tensor(dark), torch.from_numpy(light.masks))


HAIR_REFERENCE, TONE_REFERENCE = "cyclegan_hair", "cyclegan_skin_tone"  # the shipped long runs of sections 8 and 9


def translation_reference(name: str, image_size: int) -> tuple[nn.Module | None, dict, str]:
    """Return (a shipped CycleGAN reference, its model card, a line saying what was loaded) or (None, card, why not).

    The references of sections 8 and 9 were trained on phantom lesions at one size; those sections always run on
    the phantom, whatever the notebook's dataset, so a reference fits every run at its size and no other.
    """
    from ..weights import reference_card, reference_for_run

    kind = "an attention-gated CycleGAN" if reference_card(name)["build"].get("attention") else "a CycleGAN"
    return reference_for_run(name, "phantom", image_size, what=kind)


def hair_pixels(hairy, clean, threshold: float = 0.1) -> Tensor:
    """Return bool (N, S, S): the pixels where the hairy and the true hair-free rendering differ (the true hairs)."""
    return (torch.as_tensor(hairy) - torch.as_tensor(clean)).abs().amax(dim=1) > threshold


def attention_maps(model: nn.Module, images) -> Tensor:
    """Return the attention a (N, S, S) in (0, 1) of an attention CycleGAN's G_AB: where it repaints the image."""
    return attention_a_to_b(model, images)[:, 0]


def attention_on_hair(attention: Tensor, hair: Tensor) -> dict[str, float]:
    """Return the mean attention on the true hair pixels and on the rest, and their per-image gap with its standard error.

    Each image's two means are taken first (images with no hair pixel, or nothing but hair, are left out), then
    averaged over images: a remover that found the hairs has ``on_hair`` far above ``elsewhere``.
    """
    hair = hair.bool()
    usable = hair.flatten(1).any(dim=1) & (~hair).flatten(1).any(dim=1)
    if not bool(usable.any()):
        raise ValueError("attention_on_hair needs images with hair pixels and other pixels; none of these has both")
    on = np.array([float(m[h].mean()) for m, h in zip(attention[usable], hair[usable])])
    off = np.array([float(m[~h].mean()) for m, h in zip(attention[usable], hair[usable])])
    return {"on_hair": float(on.mean()), "elsewhere": float(off.mean()), "gap": float((on - off).mean()),
            "gap_se": mean_se(on - off)}


def as_picture(maps: Tensor) -> Tensor:
    """Return maps in [0, 1] of shape (N, S, S) as grey images (N, 3, S, S) in [-1, 1], to draw beside images."""
    return (maps.float()[:, None] * 2 - 1).expand(-1, 3, -1, -1)


def dullrazor(images) -> Tensor:
    """Return DullRazor-style hair removal (:func:`~medgan_nb.data.transforms.remove_hair`) of each image, in [-1, 1]."""
    cleaned = np.stack([remove_hair(image) for image in to_uint8_images(images)])
    return torch.from_numpy(cleaned).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def restoration_scores(restored, truth, max_psnr: float = 100.0) -> dict[str, np.ndarray]:
    """Return per-image {'psnr': dB, 'ssim': 0-1} of ``restored`` against ``truth`` on 8-bit pixels (scikit-image)."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    restored, truth = to_uint8_images(restored), to_uint8_images(truth)
    if restored.shape != truth.shape:
        raise ValueError(f"restored images {restored.shape} and true images {truth.shape} differ in shape; "
                         "give one true image per restored image")
    with np.errstate(divide="ignore"):
        psnr = np.array([peak_signal_noise_ratio(y, x, data_range=255) for x, y in zip(restored, truth)])
    ssim = np.array([structural_similarity(y, x, channel_axis=-1, data_range=255) for x, y in zip(restored, truth)])
    # an exact copy has infinite PSNR; cap it so that a mean over images stays a number
    return {"psnr": np.minimum(psnr, max_psnr), "ssim": ssim}


def plot_restoration_scores(scores: dict[str, dict[str, np.ndarray]], title: str = "Hair removal against the truth"):
    """Return a figure: mean PSNR (dB) and mean SSIM per method, with the spread over images as whiskers."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    names = list(scores)
    for ax, key, unit in ((axes[0], "psnr", "PSNR vs true hair-free image (dB)"),
                          (axes[1], "ssim", "SSIM vs true hair-free image (0-1)")):
        means = [scores[name][key].mean() for name in names]
        spreads = [scores[name][key].std() for name in names]
        ax.bar(names, means, yerr=spreads, capsize=4, color=["0.6", "0.8", "tab:orange", "tab:blue"][: len(names)])
        ax.tick_params(axis="x", labelrotation=20, labelsize=8)
        ax.set_ylabel(unit)
        ax.set_xlabel("method")
        ax.set_title(f"mean {key.upper()} (higher is better)")
    fig.suptitle(title)
    viz.finish(fig)
    return fig


def plot_auxiliary_losses(curves: dict[str, tuple], title: str = "Reconstruction terms during training"):
    """Return a figure with one panel per (label -> (history, column)): the term against the step."""
    fig, axes = plt.subplots(1, len(curves), figsize=(4 * len(curves), 3.2), squeeze=False)
    for ax, (label, (history, column)) in zip(axes[0], curves.items()):
        ax.plot(history["step"], history[column])
        ax.set_xlabel("generator step")
        ax.set_ylabel(f"{column} (weighted L1)")
        ax.set_title(label, fontsize=9)
    fig.suptitle(title)
    viz.finish(fig)
    return fig

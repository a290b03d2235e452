r"""Downstream utility: are generated images good enough to *train* something on?

A medical reader cares less about how close two feature distributions are than about whether
synthetic images help a model that will be used. Two standard tests answer that directly.

**Train on synthetic, test on real (TSTR)** (Esteban, Hyland & Rätsch 2017, "Real-valued
(Medical) Time Series Generation with Recurrent Conditional GANs"). A class-conditional
generator draws labelled images :math:`\{(G(z_i, y_i), y_i)\}`; a fresh classifier :math:`f_S`
is trained on them alone and scored on *real* held-out images. The same classifier trained on
real training images, :math:`f_R` (TRTR), is the reference, and one trained on real plus
synthetic images, :math:`f_{R+S}`, says whether the synthetic images *add* anything:

.. math::
    \mathrm{TSTR} = \mathrm{acc}(f_S;\ \mathcal{D}^{real}_{test}),\qquad
    \mathrm{TRTR} = \mathrm{acc}(f_R;\ \mathcal{D}^{real}_{test}),\qquad
    \mathrm{TR{+}S} = \mathrm{acc}(f_{R+S};\ \mathcal{D}^{real}_{test}).

Accuracy here is the *balanced* accuracy, the mean recall over classes,
:math:`\frac{1}{K}\sum_k \frac{|\{i: \hat y_i = y_i = k\}|}{|\{i: y_i = k\}|}`, because lesion
data are dominated by one class (naevi are two thirds of HAM10000) and a classifier that always
says "naevus" would otherwise look good.

**Segmentation analogue** (the survey's test for mask-conditioned generators such as SPADE and
pix2pix): a small U-Net (Ronneberger, Fischer & Brox 2015) is trained on generated
:math:`(G(m_i), m_i)` pairs and on real pairs, each scored by its mean Dice on real test masks,

.. math::
    \mathrm{Dice}(\hat M, M) = \frac{2\,|\hat M \cap M|}{|\hat M| + |M|}.

Both networks are small and trained for a few epochs from a fixed seed (the caller's global random
state is left untouched), so the numbers compare generators with one another, not with the
literature.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .checks import check_finite_images
from .morphology import dice_score


@dataclass
class UtilityResult:
    """Balanced accuracy on real test images of a classifier trained on synthetic, real, and real + synthetic images."""

    tstr: float
    trtr: float
    real_plus_synthetic: float

    def __str__(self) -> str:
        """Return the three accuracies on one line."""
        return (f"train synthetic {self.tstr:.3f} | train real {self.trtr:.3f} | "
                f"train real + synthetic {self.real_plus_synthetic:.3f} (balanced accuracy on real test images)")


def small_classifier(num_classes: int, width: int = 16) -> nn.Module:
    """Return a small CNN mapping images (N, 3, H, W) to ``num_classes`` logits."""
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(2 * width, 4 * width, 3, padding=1), nn.BatchNorm2d(4 * width), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * width, num_classes),
    )


class SmallUNet(nn.Module):
    """A two-level U-Net: images (N, 3, H, W) -> one lesion logit per pixel (N, 1, H, W); H, W divisible by 4."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> nn.Module:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                                 nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())

        self.down1, self.down2, self.bottom = block(3, width), block(width, 2 * width), block(2 * width, 4 * width)
        self.up2, self.dec2 = nn.ConvTranspose2d(4 * width, 2 * width, 2, stride=2), block(4 * width, 2 * width)
        self.up1, self.dec1 = nn.ConvTranspose2d(2 * width, width, 2, stride=2), block(2 * width, width)
        self.head = nn.Conv2d(width, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return per-pixel logits (N, 1, H, W); the skip connections carry the outline past the bottleneck."""
        d1 = self.down1(x)
        d2 = self.down2(F.max_pool2d(d1, 2))
        bottom = self.bottom(F.max_pool2d(d2, 2))
        u2 = self.dec2(torch.cat([self.up2(bottom), d2], dim=1))
        u1 = self.dec1(torch.cat([self.up1(u2), d1], dim=1))
        return self.head(u1)


def _check_labelled(images: torch.Tensor, labels: torch.Tensor, name: str) -> torch.Tensor:
    """Return labels as int64 (N,) after checking they match the images; else raise a ValueError."""
    check_finite_images(images, f"{name} images")
    labels = torch.as_tensor(labels)
    if labels.shape != (len(images),) or labels.is_floating_point():
        raise ValueError(f"{name} labels must be integers of shape ({len(images)},), one per image, got "
                         f"{labels.dtype} {tuple(labels.shape)}; pass dataset.labels (or the labels given to the generator)")
    return labels.long()


def _train(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn, epochs: int, batch_size: int,
           lr: float, seed: int, desc: str, progress: bool) -> nn.Module:
    """Train ``model`` with Adam on (inputs, targets) for ``epochs`` seeded epochs; return it in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in tqdm(range(epochs), desc=desc, disable=not progress, leave=False):
        order = torch.randperm(len(inputs), generator=generator)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            if len(batch) < 2:
                continue  # batch norm needs two images
            loss = loss_fn(model(inputs[batch].float()), targets[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def balanced_accuracy(predicted: torch.Tensor, truth: torch.Tensor) -> float:
    """Return the mean over the classes present in ``truth`` of the share of that class predicted correctly."""
    recalls = [float((predicted[truth == k] == k).float().mean()) for k in torch.unique(truth)]
    return float(np.mean(recalls))


def classifier_accuracy(train_images: torch.Tensor, train_labels, test_images: torch.Tensor, test_labels,
                        num_classes: int | None = None, epochs: int = 8, batch_size: int = 64, lr: float = 2e-3,
                        seed: int = 0, width: int = 16, progress: bool = True) -> float:
    """Return the balanced accuracy on (test_images, test_labels) of a fresh small CNN trained on the training pair."""
    train_labels = _check_labelled(train_images, train_labels, "training")
    test_labels = _check_labelled(test_images, test_labels, "test")
    if train_images.shape[1:] != test_images.shape[1:]:
        raise ValueError(f"training images are {tuple(train_images.shape[1:])} but test images are "
                         f"{tuple(test_images.shape[1:])}; resize one set to the other's size")
    num_classes = num_classes or int(max(train_labels.max(), test_labels.max())) + 1
    with torch.random.fork_rng(devices=[]):  # seeded weights without touching the caller's RNG
        torch.manual_seed(seed)
        model = small_classifier(num_classes, width)
    model = _train(model, train_images, train_labels, F.cross_entropy, epochs, batch_size, lr, seed,
                   "classifier", progress)
    with torch.no_grad():
        predicted = torch.cat([model(test_images[s : s + 256].float()).argmax(1) for s in range(0, len(test_images), 256)])
    return balanced_accuracy(predicted, test_labels)


def train_synthetic_test_real(synthetic_images: torch.Tensor, synthetic_labels, real_images: torch.Tensor, real_labels,
                              test_images: torch.Tensor, test_labels, **kwargs) -> UtilityResult:
    """Return TSTR, TRTR and real+synthetic balanced accuracies on the real test images (same classifier, same seed)."""
    num_classes = int(max(torch.as_tensor(lab).max() for lab in (synthetic_labels, real_labels, test_labels))) + 1
    kwargs = {"num_classes": num_classes, **kwargs}
    tstr = classifier_accuracy(synthetic_images, synthetic_labels, test_images, test_labels, **kwargs)
    trtr = classifier_accuracy(real_images, real_labels, test_images, test_labels, **kwargs)
    both = classifier_accuracy(torch.cat([real_images, synthetic_images]),
                               torch.cat([torch.as_tensor(real_labels), torch.as_tensor(synthetic_labels)]),
                               test_images, test_labels, **kwargs)
    return UtilityResult(tstr, trtr, both)


def _check_pairs(images: torch.Tensor, masks, name: str) -> torch.Tensor:
    """Return masks as float (N, 1, H, W) in {0, 1} after checking they match the images; else raise a ValueError."""
    check_finite_images(images, f"{name} images")
    masks = torch.as_tensor(masks)
    if masks.ndim == 4 and masks.shape[1] == 1:
        masks = masks[:, 0]
    if masks.shape != (len(images), *images.shape[2:]):
        raise ValueError(f"{name} masks must have shape ({len(images)}, {images.shape[2]}, {images.shape[3]}) "
                         f"(or with a channel of 1), one per image, got {tuple(masks.shape)}")
    if images.shape[-1] % 4 or images.shape[-2] % 4:
        raise ValueError(f"the U-Net halves the image twice, so its sides must be divisible by 4, got "
                         f"{tuple(images.shape[-2:])}; resize to e.g. 32 or 64 px")
    return (masks > 0.5).float()[:, None]


def _bce_dice_loss(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Return binary cross-entropy plus (1 - soft Dice), the usual segmentation loss pair."""
    probabilities = torch.sigmoid(logits)
    soft_dice = (2 * (probabilities * masks).sum((1, 2, 3)) + 1) / (probabilities.sum((1, 2, 3)) + masks.sum((1, 2, 3)) + 1)
    return F.binary_cross_entropy_with_logits(logits, masks) + (1 - soft_dice).mean()


def segmentation_dice(train_images: torch.Tensor, train_masks, test_images: torch.Tensor, test_masks,
                      epochs: int = 10, batch_size: int = 32, lr: float = 2e-3, seed: int = 0, width: int = 16,
                      progress: bool = True) -> float:
    """Return the mean Dice on real (test_images, test_masks) of a small U-Net trained on the (image, mask) pairs."""
    train_targets = _check_pairs(train_images, train_masks, "training")
    test_targets = _check_pairs(test_images, test_masks, "test")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SmallUNet(width)
    model = _train(model, train_images, train_targets, _bce_dice_loss, epochs, batch_size, lr, seed, "U-Net", progress)
    with torch.no_grad():
        logits = torch.cat([model(test_images[s : s + 128].float()) for s in range(0, len(test_images), 128)])
    return float(dice_score((logits[:, 0] > 0).numpy(), test_targets[:, 0].bool().numpy()).mean())

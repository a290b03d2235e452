r"""Classifier two-sample test (C2ST): can a fresh classifier tell generated images from real ones?

Lopez-Paz & Oquab (2017, "Revisiting Classifier Two-Sample Tests") turn "are these two samples
from one distribution?" into a supervised problem. Label real images 0 and generated images 1,
train a classifier :math:`f` on half of each (balanced: the same number of both), and measure its
accuracy on the held-out halves,

.. math::

    \hat t = \frac{1}{n_{te}} \sum_{(x_i, y_i) \in \mathcal{D}_{te}}
             \mathbb{1}\big[\mathbb{1}[f(x_i) > \tfrac12] = y_i\big].

Under the null hypothesis (same distribution) :math:`n_{te} \hat t \sim \mathrm{Binomial}(n_{te}, \tfrac12)`,
so 0.5 means indistinguishable and the one-sided binomial p-value says how surprising a higher
accuracy is. Unlike a distance in a fixed feature space, the classifier *learns* what differs
(a checkerboard artefact, a colour cast), so it finds flaws that the features miss. Its
real-vs-real floor (two random halves of the real set) shows what "indistinguishable" looks
like with this classifier, this many images and this much training.

The classifier is a small CNN (three stride-2 3x3 convolutions, global average pooling, one
linear output) trained from scratch with Adam and binary cross-entropy for a few epochs; it is
seeded, and the caller's global random state is left untouched.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from scipy.stats import binomtest
from torch import nn
from tqdm.auto import tqdm

from .checks import check_finite_images, check_image_pair


@dataclass
class TwoSampleResult:
    """Held-out accuracy of a C2ST classifier, the number of held-out images and the binomial p-value."""

    accuracy: float
    n_test: int
    p_value: float

    def __str__(self) -> str:
        """Return 'accuracy 0.xx on N held-out images (p = ...)'."""
        return f"accuracy {self.accuracy:.3f} on {self.n_test} held-out images (p = {self.p_value:.2g})"


def two_sample_classifier(width: int = 32) -> nn.Module:
    """Return a small CNN mapping images (N, 3, H, W) to one logit each (positive = 'generated')."""
    return nn.Sequential(
        nn.Conv2d(3, width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, 1),
    )


def classifier_two_sample_test(real_images: torch.Tensor, fake_images: torch.Tensor, epochs: int = 10,
                               batch_size: int = 64, lr: float = 1e-3, seed: int = 0, width: int = 32,
                               progress: bool = True) -> TwoSampleResult:
    """Return the held-out accuracy (0.5 = indistinguishable) of a fresh CNN trained to tell fake from real images."""
    check_image_pair(real_images, fake_images)
    n = min(len(real_images), len(fake_images))  # balanced: as many of each
    if n < 4:
        raise ValueError(f"a two-sample test needs at least 4 images per set (2 to train, 2 to test), got {n}")
    generator = torch.Generator().manual_seed(seed)
    real = real_images[torch.randperm(len(real_images), generator=generator)[:n]]
    fake = fake_images[torch.randperm(len(fake_images), generator=generator)[:n]]
    n_train = n // 2  # the first half of each set trains, the second half tests
    train_x = torch.cat([real[:n_train], fake[:n_train]]).float()
    train_y = torch.cat([torch.zeros(n_train), torch.ones(n_train)])
    test_x = torch.cat([real[n_train:], fake[n_train:]]).float()
    test_y = torch.cat([torch.zeros(n - n_train), torch.ones(n - n_train)])

    with torch.random.fork_rng(devices=[]):  # seeded weights without touching the caller's RNG
        torch.manual_seed(seed)
        model = two_sample_classifier(width)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in tqdm(range(epochs), desc="C2ST classifier", disable=not progress, leave=False):
        order = torch.randperm(len(train_x), generator=generator)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            loss = F.binary_cross_entropy_with_logits(model(train_x[batch]).squeeze(1), train_y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        predictions = torch.cat([model(test_x[s : s + 256]).squeeze(1) > 0 for s in range(0, len(test_x), 256)])
    correct = int((predictions.float() == test_y).sum())
    # One-sided: only accuracy above chance is evidence that the sets differ.
    p_value = binomtest(correct, len(test_y), 0.5, alternative="greater").pvalue
    return TwoSampleResult(correct / len(test_y), len(test_y), float(p_value))


def two_sample_floor(real_images: torch.Tensor, seed: int = 0, **kwargs) -> TwoSampleResult:
    """Return the C2ST result between two random disjoint halves of the real images (should be about 0.5)."""
    check_finite_images(real_images, "real_images")
    order = torch.randperm(len(real_images), generator=torch.Generator().manual_seed(seed))
    half = len(real_images) // 2
    return classifier_two_sample_test(real_images[order[:half]], real_images[order[half : 2 * half]], seed=seed, **kwargs)

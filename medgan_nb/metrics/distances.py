r"""Fréchet distance and kernel (MMD) distance between two sets of feature vectors.

Both distances compare the *distributions* of features :math:`\phi(x) \in \mathbb{R}^D` of real
images :math:`\{r_i\}_{i=1}^{n}` and generated images :math:`\{g_j\}_{j=1}^{m}`. They work on any
features, so a researcher can bring their own encoder; the image-level wrappers use the kit's
fixed :class:`~medgan_nb.metrics.features.LesionFeatureExtractor` by default.

**Fréchet distance** (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge
to a Local Nash Equilibrium" — FID when :math:`\phi` is Inception-v3). Fit Gaussians
:math:`\mathcal{N}(\mu_r, \Sigma_r)`, :math:`\mathcal{N}(\mu_g, \Sigma_g)`; their 2-Wasserstein distance is

.. math::

    d_F^2 = \lVert \mu_r - \mu_g \rVert_2^2
            + \operatorname{Tr}\Sigma_r + \operatorname{Tr}\Sigma_g
            - 2 \operatorname{Tr}\big((\Sigma_r \Sigma_g)^{1/2}\big),
    \qquad
    \operatorname{Tr}\big((\Sigma_r \Sigma_g)^{1/2}\big) = \sum_k \sqrt{\lambda_k(\Sigma_r \Sigma_g)} .

The eigenvalues :math:`\lambda_k` of :math:`\Sigma_r \Sigma_g` are those of the symmetric PSD matrix
:math:`\Sigma_r^{1/2} \Sigma_g \Sigma_r^{1/2}`, so they are real and :math:`\ge 0`; one
``torch.linalg.eigvals`` in float64 replaces the slow iterative ``scipy.linalg.sqrtm`` of the
original code (the same route torchmetrics takes). For diagonal covariances
:math:`d_F^2 = \lVert \mu_r - \mu_g \rVert^2 + \sum_k (\sigma_{r,k} - \sigma_{g,k})^2`.
:math:`\Sigma` estimated from :math:`N` vectors has rank :math:`\le N - 1`: with :math:`N < D`
the distance is biased upwards and noisy (use the KID, which has no such bias, or more images).

**Kernel distance, KID** (Bińkowski et al. 2018, "Demystifying MMD GANs"): the squared maximum
mean discrepancy with the cubic polynomial kernel
:math:`k(x, y) = (\gamma\, x^\top y + c)^3`, :math:`\gamma = 1/D`, :math:`c = 1`, estimated without bias

.. math::

    \widehat{\mathrm{MMD}}^2_u = \frac{1}{m(m-1)} \sum_{i \ne i'} k(r_i, r_{i'})
        + \frac{1}{m(m-1)} \sum_{j \ne j'} k(g_j, g_{j'})
        - \frac{2}{m^2} \sum_{i, j} k(r_i, g_j),

averaged over ``subsets`` random subsets of ``subset_size`` = :math:`m` vectors from each set
(the mean and the standard deviation over subsets are returned). Being unbiased, it is about 0
for two samples of one distribution (it can be slightly negative) at any :math:`N`.
"""
from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from ..models.sampling import model_device
from .checks import check_feature_pair, check_image_pair
from .features import default_extractor

MIN_SAMPLES = 2  # a covariance needs at least two points


class KernelDistance(NamedTuple):
    """The KID as a mean and a standard deviation over random subsets."""

    mean: float
    std: float


def feature_statistics(features) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the mean (D,) and the covariance (D, D), float64, of features (N, D)."""
    features, _ = check_feature_pair(features, features, ("features", "features"))
    mu = features.mean(dim=0)
    centred = features - mu
    sigma = centred.T @ centred / (len(features) - 1)  # unbiased sample covariance, as numpy.cov
    return mu, sigma


def frechet_distance_from_statistics(mu1, sigma1, mu2, sigma2) -> float:
    r"""Return :math:`d_F^2` between the Gaussians N(mu1, sigma1) and N(mu2, sigma2) (float64 eigenvalue form)."""
    mu1, mu2 = (torch.as_tensor(m, dtype=torch.float64).flatten() for m in (mu1, mu2))
    sigma1, sigma2 = (torch.as_tensor(s, dtype=torch.float64) for s in (sigma1, sigma2))
    dim = mu1.numel()
    for name, value, shape in (("mu2", mu2, (dim,)), ("sigma1", sigma1, (dim, dim)), ("sigma2", sigma2, (dim, dim))):
        if tuple(value.shape) != shape:
            raise ValueError(f"{name} has shape {tuple(value.shape)}, expected {shape} to match mu1 of length {dim}")
        if not bool(torch.isfinite(value).all()):
            raise ValueError(f"{name} contains NaN or inf; recompute the statistics from finite features")
    mean_term = (mu1 - mu2).square().sum()  # ||mu_r - mu_g||^2
    # Tr((S_r S_g)^{1/2}) = sum_k sqrt(lambda_k(S_r S_g)); round-off leaves tiny imaginary or negative
    # parts on eigenvalues that are truly >= 0, so take the complex square root and keep the real part.
    trace_sqrt = torch.linalg.eigvals(sigma1 @ sigma2).sqrt().real.sum()
    value = float(mean_term + sigma1.trace() + sigma2.trace() - 2 * trace_sqrt)
    # Identical sets give a hair below zero from round-off; the distance itself is never negative.
    return max(value, 0.0) if math.isfinite(value) else value


def check_enough_for_frechet(n_real: int, n_fake: int, dim: int) -> None:
    """Return None if both sets have >= 2 vectors (warn below D); else raise a ValueError saying how many are needed."""
    for name, n in (("real", n_real), ("fake", n_fake)):
        if n < MIN_SAMPLES:
            raise ValueError(f"the {name} set has {n} vector(s); a Fréchet distance needs at least {MIN_SAMPLES} per set "
                             f"and preferably more than the feature size D = {dim} - use more images, "
                             "or kid_from_features, which is unbiased at any size")
    if min(n_real, n_fake) <= dim:
        warnings.warn(f"Fréchet distance from {n_real} real and {n_fake} fake vectors of D = {dim} features: "
                      f"the covariances are rank-deficient (N <= D), so the value is biased upwards; use more than "
                      f"{dim} images per set (thousands for publishable numbers), or compare with kid_from_features",
                      UserWarning, stacklevel=3)


def frechet_distance_from_features(real_feats, fake_feats) -> float:
    r"""Return the Fréchet distance :math:`d_F^2` between the Gaussians fitted to two feature sets (N, D)."""
    real_feats, fake_feats = check_feature_pair(real_feats, fake_feats)
    check_enough_for_frechet(len(real_feats), len(fake_feats), real_feats.shape[1])
    if min(len(real_feats), len(fake_feats)) < real_feats.shape[1]:
        return frechet_distance_few_samples(real_feats, fake_feats)  # same value, an N x M problem instead of D x D
    return frechet_distance_from_statistics(*feature_statistics(real_feats), *feature_statistics(fake_feats))


def frechet_distance_few_samples(real_feats: torch.Tensor, fake_feats: torch.Tensor) -> float:
    r"""Return :math:`d_F^2` of two float64 feature sets through their :math:`n \times m` cross-Gram matrix (fast for N < D).

    With centred data matrices :math:`A_r` (:math:`n \times D`) and :math:`A_g` (:math:`m \times D`),
    :math:`\Sigma_r = A_r^\top A_r / (n-1)` and :math:`\Sigma_g = A_g^\top A_g / (m-1)`. The non-zero eigenvalues
    of :math:`\Sigma_r \Sigma_g` are those of :math:`M M^\top / ((n-1)(m-1))` with :math:`M = A_r A_g^\top`
    (:math:`XY` and :math:`YX` share them), i.e. the squared singular values of :math:`M` scaled, so
    :math:`\operatorname{Tr}((\Sigma_r\Sigma_g)^{1/2}) = \lVert M \rVert_* / \sqrt{(n-1)(m-1)}`: one SVD of an
    :math:`n \times m` matrix, exact, and much faster than a :math:`D \times D` eigen-decomposition when n, m < D
    (a bootstrap recomputes the distance hundreds of times).
    """
    n, m = len(real_feats), len(fake_feats)
    centred_real = real_feats - real_feats.mean(dim=0)  # A_r
    centred_fake = fake_feats - fake_feats.mean(dim=0)  # A_g
    mean_term = (real_feats.mean(dim=0) - fake_feats.mean(dim=0)).square().sum()  # ||mu_r - mu_g||^2
    traces = centred_real.square().sum() / (n - 1) + centred_fake.square().sum() / (m - 1)  # Tr S_r + Tr S_g
    trace_sqrt = torch.linalg.svdvals(centred_real @ centred_fake.T).sum() / math.sqrt((n - 1) * (m - 1))
    value = float(mean_term + traces - 2 * trace_sqrt)
    return max(value, 0.0) if math.isfinite(value) else value


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor, degree: int = 3, gamma: float | None = None,
                      coef: float = 1.0) -> torch.Tensor:
    r"""Return the kernel matrix :math:`k(x_i, y_j) = (\gamma x_i^\top y_j + c)^{degree}`, :math:`\gamma = 1/D` by default."""
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    return (gamma * x @ y.T + coef) ** degree


def unbiased_mmd2(k_xx: torch.Tensor, k_yy: torch.Tensor, k_xy: torch.Tensor) -> torch.Tensor:
    r"""Return :math:`\widehat{\mathrm{MMD}}^2_u` from the three kernel matrices of m samples each."""
    m = k_xx.shape[0]
    within = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))  # i != i'
    return within - 2 * k_xy.sum() / (m * m)


def kid_from_features(real_feats, fake_feats, subsets: int = 100, subset_size: int = 1000, seed: int = 0,
                      degree: int = 3, gamma: float | None = None, coef: float = 1.0) -> KernelDistance:
    r"""Return the KID (mean and std of the unbiased polynomial-kernel MMD² over random subsets) of two feature sets."""
    real_feats, fake_feats = check_feature_pair(real_feats, fake_feats)
    if not (isinstance(subsets, int) and subsets >= 1):
        raise ValueError(f"subsets must be a positive integer, got {subsets!r}; e.g. 100")
    smallest = min(len(real_feats), len(fake_feats))
    if not (isinstance(subset_size, int) and 2 <= subset_size <= smallest):
        raise ValueError(f"subset_size = {subset_size!r} must be an integer from 2 to the smaller set's size ({smallest}); "
                         f"pass subset_size={max(2, min(smallest, 1000))} or use more images")
    # torch.randperm from a seeded generator: the same draws as torchmetrics after torch.manual_seed(seed).
    generator = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(subsets):
        r = real_feats[torch.randperm(len(real_feats), generator=generator)[:subset_size]]
        g = fake_feats[torch.randperm(len(fake_feats), generator=generator)[:subset_size]]
        k_rr, k_gg, k_rg = (polynomial_kernel(a, b, degree, gamma, coef) for a, b in ((r, r), (g, g), (r, g)))
        values.append(unbiased_mmd2(k_rr, k_gg, k_rg))
    values = torch.stack(values)
    # Population std over subsets, as torchmetrics reports it.
    return KernelDistance(float(values.mean()), float(values.std(unbiased=False)))


def _feed(metric, real_images: torch.Tensor, fake_images: torch.Tensor, device: torch.device, batch_size: int) -> None:
    """Pass both image sets through a torchmetrics feature metric in batches."""
    for real, images in ((True, real_images), (False, fake_images)):
        for start in range(0, len(images), batch_size):
            metric.update(images[start : start + batch_size].to(device).float(), real=real)


def torchmetrics_frechet_distance(real_images: torch.Tensor, fake_images: torch.Tensor,
                                  extractor: nn.Module | None = None, batch_size: int = 256) -> float:
    """Return torchmetrics' FID of two image sets (N, 3, H, W) in [-1, 1] computed in the extractor's feature space."""
    extractor = extractor or default_extractor()
    check_image_pair(real_images, fake_images)
    check_enough_for_frechet(len(real_images), len(fake_images), int(getattr(extractor, "num_features", 0)) or 10**9)
    device = model_device(extractor)
    # A custom module gets the images as they are: torchmetrics only rescales to uint8 (normalize=True) for its
    # own Inception, and only probes the module with an input_img_size dummy when it lacks .num_features.
    metric = FrechetInceptionDistance(feature=extractor, normalize=True, reset_real_features=True,
                                      input_img_size=tuple(real_images.shape[1:])).to(device)
    _feed(metric, real_images, fake_images, device, batch_size)
    return max(float(metric.compute()), 0.0)


def kernel_distance(real_images: torch.Tensor, fake_images: torch.Tensor, extractor: nn.Module | None = None,
                    subsets: int = 100, subset_size: int = 1000, seed: int = 0, batch_size: int = 256) -> KernelDistance:
    """Return torchmetrics' KID (mean, std) of two image sets (N, 3, H, W) in [-1, 1] in the extractor's feature space."""
    extractor = extractor or default_extractor()
    check_image_pair(real_images, fake_images)
    subset_size = min(subset_size, len(real_images), len(fake_images))
    if subset_size < 2:
        raise ValueError(f"the KID needs at least 2 images per set, got {len(real_images)} real and {len(fake_images)} fake")
    device = model_device(extractor)
    with warnings.catch_warnings():  # torchmetrics warns that it stores all features; that is the point here
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        metric = KernelInceptionDistance(feature=extractor, subsets=subsets, subset_size=subset_size,
                                         normalize=True, reset_real_features=True).to(device)
    _feed(metric, real_images, fake_images, device, batch_size)
    # torchmetrics draws its subsets from the global RNG: fork it so a seed gives the same subsets
    # without disturbing the caller's random stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return KernelDistance(float(mean), float(std))

r"""The azimuthally averaged power spectrum of images, and how far a generator's spectrum is from the data's.

Durall, Keuper & Keuper (2020, "Watch your Up-Convolution: CNN Based Generative
Deep Neural Networks are Failing to Reproduce Spectral Distributions", CVPR)
showed that generated images give themselves away in the frequency domain:
the up-sampling layers of a generator leave too much (or too little) power at
high spatial frequencies, even when the images look right. The tool is the
power spectrum of each grey image, averaged over all directions.

For a grey image :math:`x` of side :math:`S` (mean removed), its 2-D discrete
Fourier transform :math:`\hat x(k_y, k_x)` and power
:math:`P(k_y, k_x) = |\hat x(k_y, k_x)|^2 / S^2`, the *azimuthal average* at
radial frequency :math:`f` is the mean power over the ring of frequencies at
that distance from the origin,

.. math::
    \bar P(f) = \operatorname{mean}\big\{ P(k_y, k_x) : \operatorname{round}\big(\sqrt{k_y^2 + k_x^2}\big) = f S \big\},
    \qquad f = 0, \tfrac1S, \tfrac2S, \dots

in cycles per pixel, averaged over the images of a set. :math:`f = 0.5` is
the Nyquist frequency along an axis (a pattern that alternates every pixel
along rows or columns, e.g. stripes); the rings go on to the corners of the
spectrum, :math:`f \approx 0.5\sqrt2 \approx 0.71`, where a one-pixel
checkerboard :math:`(-1)^{i+j}` puts all its power (the diagonal Nyquist
frequency).

To compare two sets we use the mean absolute difference of the log spectra
over the high-frequency half (:math:`f \ge 0.25` by default), where
up-sampling artefacts live:

.. math::
    E_{\text{high}} = \operatorname{mean}_{f \ge f_0}\,
    \big|\log_{10} \bar P_{\text{gen}}(f) - \log_{10} \bar P_{\text{real}}(f)\big| .

:math:`E_{\text{high}} = 1` means the generated power is off by a factor of
10 on average at those frequencies; 0 means the spectra agree.
"""
from __future__ import annotations

import torch

Tensor = torch.Tensor

# ITU-R BT.601 luma weights: how much red, green and blue contribute to perceived brightness.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
HIGH_FREQUENCY_START = 0.25  # cycles per pixel: the upper half of the axis frequencies 0 .. 0.5
LOG_FLOOR = 1e-12  # keeps log10 finite where a set has exactly zero power


def to_grey(images: Tensor) -> Tensor:
    """Return grey images (N, H, W) from (N, 3, H, W) colour, (N, 1, H, W) or (N, H, W) grey images."""
    images = torch.as_tensor(images)
    if not torch.is_floating_point(images):
        images = images.float()
    if images.dim() == 3:
        return images
    if images.dim() == 4 and images.shape[1] == 1:
        return images[:, 0]
    if images.dim() == 4 and images.shape[1] == 3:
        weights = torch.tensor(LUMA_WEIGHTS, dtype=images.dtype, device=images.device)
        return torch.einsum("nchw,c->nhw", images, weights)  # Y = 0.299 R + 0.587 G + 0.114 B
    raise ValueError(f"images must have shape (N, 3, H, W), (N, 1, H, W) or (N, H, W), got {tuple(images.shape)}; "
                     "pass a batch of colour or grey images (add a batch dimension with images[None] for one image)")


def radial_power_spectrum(images: Tensor) -> tuple[Tensor, Tensor]:
    """Return (frequencies in cycles per pixel, mean power per frequency) of a set of square images."""
    grey = to_grey(images).double()
    n, height, width = grey.shape
    if n == 0:
        raise ValueError("images is empty (N = 0); pass at least one image")
    if height != width:
        raise ValueError(f"radial_power_spectrum needs square images, got {height} x {width}; "
                         "centre-crop them to a square first (e.g. load_dataset(..., size=64) does)")
    size = height
    grey = grey - grey.mean(dim=(1, 2), keepdim=True)  # remove each image's mean: no spike at f = 0
    power = torch.fft.fft2(grey).abs().pow(2) / size**2  # P(k_y, k_x) = |x_hat|^2 / S^2
    k = torch.fft.fftfreq(size, d=1.0 / size, dtype=torch.float64)  # integer frequencies 0, 1, ..., -1
    radius = torch.sqrt(k[:, None] ** 2 + k[None, :] ** 2).round().long()  # ring index of each (k_y, k_x)
    # The azimuthal average is written by hand: it is a mean per ring, i.e. two bincounts (no library
    # routine does exactly this for a batch of FFTs).
    n_rings = int(radius.max()) + 1
    ring_sum = torch.bincount(radius.flatten(), weights=power.mean(dim=0).flatten(), minlength=n_rings)
    ring_count = torch.bincount(radius.flatten(), minlength=n_rings)
    frequencies = torch.arange(n_rings, dtype=torch.float64) / size  # cycles per pixel
    return frequencies.float(), (ring_sum / ring_count).float()


def high_frequency_error(real_images: Tensor, fake_images: Tensor, start: float = HIGH_FREQUENCY_START) -> float:
    """Return the mean |log10 P_fake(f) - log10 P_real(f)| over frequencies f >= ``start`` (0 = same spectrum)."""
    if not 0.0 <= start < 0.5:
        raise ValueError(f"start must be a frequency in [0, 0.5) cycles per pixel (0.25 = the upper half), got {start}")
    real_frequencies, real_power = radial_power_spectrum(real_images)
    fake_frequencies, fake_power = radial_power_spectrum(fake_images)
    if len(real_frequencies) != len(fake_frequencies):
        raise ValueError(f"real and fake images must have the same size to compare their spectra, got "
                         f"{tuple(real_images.shape[-2:])} and {tuple(fake_images.shape[-2:])}; resize one set")
    band = real_frequencies >= start
    gap = torch.log10(fake_power[band].clamp_min(LOG_FLOOR)) - torch.log10(real_power[band].clamp_min(LOG_FLOOR))
    return float(gap.abs().mean())

r"""A fixed feature space for comparing sets of lesion images, with no download.

Fréchet distances compare two *sets* of images through the statistics of
their features, :math:`\phi(x) \in \mathbb{R}^D`. The usual choice of
:math:`\phi` is the pool layer of an ImageNet Inception-v3 (FID), but its
weights are a download, and this kit must run offline on a CPU. So until the
evaluation notebook swaps in a domain encoder (or Inception, when its weights
are available), every notebook measures in this fixed space:

.. math::

    \phi(x) = \big[\; c(x),\; \underbrace{g_\ell \operatorname{mean}_{u}\, h_\ell(x)_u,\;
                  g_\ell \operatorname{std}_{u}\, h_\ell(x)_u}_{\ell = 1, 2, 3} \;\big],
    \qquad h_\ell = \operatorname{ReLU}(W_\ell * \operatorname{pool}(h_{\ell-1})),\; h_0 = x,

where :math:`x` is resized to 64×64, :math:`W_\ell` are 3×3 convolutions
with *random* weights drawn once from a fixed seed (He-normal, never
trained; the first layer's filters have their mean removed, so they see
edges and texture rather than flat colour), :math:`u` runs over spatial
positions, :math:`g_1 = 4` (``TEXTURE_GAIN``) and :math:`g_2 = g_3 = 1` are
fixed weights that keep the small edge responses from drowning in the
colour terms, and :math:`c(x)` are colour
statistics: the mean colour in each cell of a 3×3 grid (where is the dark
lesion, where is the skin) and the standard deviation of each channel and of
the luminance. With widths (16, 32, 64) that is
:math:`D = 2(16+32+64) + 27 + 3 + 2 = 256` numbers per image.

Why random weights can work: a random conv net is a fixed bank of multi-scale
texture and colour filters; the mean and spread of its responses change when
images get blurrier, noisier, differently coloured or differently laid out.
Naeem et al. (2020, "Reliable Fidelity and Diversity Metrics for Generative
Models") found that embeddings from randomly initialised networks rank
generative models much like trained ones when the data are far from
ImageNet, as dermoscopy is. The numbers are only comparable *within* this
feature space and the same data: they are not FID values and must never be
reported as such.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

FEATURE_IMAGE_SIZE = 64  # every image is resized to this before the conv stack
FEATURE_SEED = 20240611  # the one seed that defines the random weights: change it and all distances change
GRID_CELLS = 3  # the colour layout is summarised on a GRID_CELLS x GRID_CELLS grid
# First-stage (edge/texture) responses are small numbers: edges cover few pixels. Scaled by this fixed
# gain, a blur moves the distance about as clearly as a colour shift does (checked on the phantom:
# blur sigma 2 px goes from ~2x to ~5x the real-vs-real distance).
TEXTURE_GAIN = 4.0
# On a CPU the extractor works through a batch 64 images at a time: each stage's activations then stay in the
# processor's cache (1.6x faster on one core than 256 at once; the features are the same to float rounding).
CPU_CHUNK = 64


class LesionFeatureExtractor(nn.Module):
    """Fixed random-conv + colour-statistics features: images (N, 3, H, W) in [-1, 1] -> (N, D)."""

    def __init__(self, widths: tuple[int, ...] = (16, 32, 64), seed: int = FEATURE_SEED) -> None:
        super().__init__()
        if not widths or any(int(w) < 1 for w in widths):
            raise ValueError(f"widths must be positive channel counts, got {widths!r}; e.g. (16, 32, 64)")
        self.widths = tuple(int(w) for w in widths)
        self.seed = int(seed)
        generator = torch.Generator().manual_seed(self.seed)  # own generator: global RNG state is untouched
        in_channels = 3
        for stage, width in enumerate(self.widths):
            fan_in = in_channels * 9
            # He-normal init, W ~ N(0, 2 / fan_in), keeps the ReLU responses at a similar scale per stage.
            weight = torch.randn(width, in_channels, 3, 3, generator=generator) * (2.0 / fan_in) ** 0.5
            if stage == 0:
                # Zero-mean first-layer filters respond to edges and texture, not to flat colour
                # (colour has its own statistics below), so blur and noise show up clearly.
                weight = weight - weight.mean(dim=(1, 2, 3), keepdim=True)
            # A buffer, not a Parameter: it moves with .to(device) but is never trained.
            self.register_buffer(f"weight_{stage}", weight)
            in_channels = width
        colour_features = 3 * GRID_CELLS * GRID_CELLS + 3 + 2
        # torchmetrics reads ``num_features`` instead of probing the module with a dummy image.
        self.num_features = 2 * sum(self.widths) + colour_features
        self.eval()

    def train(self, mode: bool = True) -> "LesionFeatureExtractor":
        """Return self, always in eval mode: the feature space must never change."""
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Return the features (N, num_features), float32, of images (N, 3, H, W) in [-1, 1]."""
        x = check_images(images, "images").float()
        if x.device.type == "cpu" and len(x) > CPU_CHUNK:  # small chunks keep each stage's activations in cache
            return torch.cat([self._features(x[start:start + CPU_CHUNK]) for start in range(0, len(x), CPU_CHUNK)])
        return self._features(x)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (FEATURE_IMAGE_SIZE, FEATURE_IMAGE_SIZE):
            x = F.interpolate(x, size=(FEATURE_IMAGE_SIZE, FEATURE_IMAGE_SIZE), mode="bilinear",
                              align_corners=False, antialias=True)
        parts = [colour_statistics(x)]
        h = x
        for stage in range(len(self.widths)):
            if stage > 0:
                h = F.avg_pool2d(h, 2)  # halve the resolution between stages: 64 -> 32 -> 16
            h = F.relu_(F.conv2d(h, getattr(self, f"weight_{stage}"), padding=1))  # h_l = ReLU(W_l * h_{l-1})
            flat = h.flatten(2)  # (N, C_l, positions u)
            mean = flat.mean(dim=2)
            # the standard deviation over u as the norm of the centred responses: the same numbers as Tensor.std
            # (to float rounding), several times faster on a CPU than std or std_mean
            std = torch.linalg.vector_norm(flat - mean[..., None], dim=2) / math.sqrt(max(flat.shape[2] - 1, 1))
            gain = TEXTURE_GAIN if stage == 0 else 1.0
            parts.append(gain * mean)  # mean response of each random filter
            parts.append(gain * std)  # how much it varies across the image (texture, edges)
        return torch.cat(parts, dim=1)


def colour_statistics(images: torch.Tensor) -> torch.Tensor:
    """Return (N, 32): mean colour on a 3x3 grid (27), per-channel std (3), luminance mean and std (2)."""
    grid = F.adaptive_avg_pool2d(images, GRID_CELLS).flatten(1)
    channel_std = images.flatten(2).std(dim=2)
    # ITU-R BT.601 luma weights, the usual grey conversion.
    luminance = (0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]).flatten(1)
    return torch.cat([grid, channel_std, luminance.mean(1, keepdim=True), luminance.std(1, keepdim=True)], dim=1)


def check_images(images: torch.Tensor, name: str = "images") -> torch.Tensor:
    """Return ``images`` unchanged if it is a float tensor (N, 3, H, W); else raise a ValueError saying how to fix it."""
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor (N, 3, H, W) in [-1, 1], got {type(images).__name__}; "
                         "convert with torch.as_tensor(...) or use dataset.images")
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"{name} must have shape (N, 3, H, W), got {tuple(images.shape)}; "
                         "grey images need .repeat(1, 3, 1, 1), NHWC arrays need .permute(0, 3, 1, 2)")
    if not images.is_floating_point():
        raise ValueError(f"{name} must be float in [-1, 1], got dtype {images.dtype}; "
                         "convert uint8 with images.float() / 127.5 - 1")
    return images


_DEFAULT_EXTRACTOR: LesionFeatureExtractor | None = None


def default_extractor() -> LesionFeatureExtractor:
    """Return the kit's shared default LesionFeatureExtractor (built once, on the CPU)."""
    global _DEFAULT_EXTRACTOR
    if _DEFAULT_EXTRACTOR is None:
        _DEFAULT_EXTRACTOR = LesionFeatureExtractor()
    return _DEFAULT_EXTRACTOR

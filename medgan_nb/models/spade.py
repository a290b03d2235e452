r"""SPADE: mask-to-image synthesis with spatially-adaptive normalisation (Park, Liu, Wang & Zhu, 2019).

"Semantic Image Synthesis with Spatially-Adaptive Normalization" draws an
image whose layout follows a segmentation mask :math:`m` (here: the lesion
mask, so the generator paints a lesion of a *given* shape). Feeding :math:`m`
only at the input would let the normalisation layers wash it out (a
uniform region of the mask becomes a constant that batch norm subtracts
away). SPADE feeds the mask into *every* normalisation layer instead:

.. math::
    \gamma_{c,y,x}(m)\,\frac{h_{n,c,y,x} - \mu_c}{\sigma_c} + \beta_{c,y,x}(m),
    \qquad
    \mu_c = \tfrac{1}{NHW}\textstyle\sum_{n,y,x} h_{n,c,y,x},\;
    \sigma_c^2 = \tfrac{1}{NHW}\textstyle\sum_{n,y,x} h_{n,c,y,x}^2 - \mu_c^2,

a parameter-free batch normalisation whose scale :math:`\gamma` and shift
:math:`\beta` are *maps*, predicted from the mask (resized to the layer's
resolution) by a small convolutional network: a shared 3x3 convolution with
ReLU, then one 3x3 convolution for :math:`\gamma` and one for :math:`\beta`.
As in the authors' code, the scale is predicted around 1
(:math:`1 + \gamma(m)`), so an untrained layer is close to plain batch norm.

* :class:`SPADE`: the layer above; :class:`SPADEResBlock`: two
  SPADE-LeakyReLU-conv3x3 units with a (SPADE-conv1x1) learned shortcut when
  the channel count changes.
* :class:`SPADEGenerator`: :math:`z \sim \mathcal N(0, I)` through a linear
  projection to a 4x4 map, then SPADE residual blocks each followed by x2
  nearest upsampling up to the image size, then LeakyReLU, a 3x3 convolution
  and tanh. The mask decides the layout, :math:`z` the appearance (skin tone,
  texture) -- the paper's multi-modal synthesis without its image encoder.
* :class:`MultiScaleDiscriminator`: two PatchGANs
  (:class:`~medgan_nb.models.translation.PatchDiscriminator`) on the channel
  concatenation :math:`[x, m]`, one at full resolution and one at half
  (average pooled), as in pix2pixHD and SPADE. It returns the two patch-logit
  maps as two channels (the coarse one nearest-upsampled to the fine one's
  size), so in the losses' mean each scale weighs about the same.

**Masks** are float tensors ``(N, 1, S, S)`` with values in :math:`\{0, 1\}`
(1 = lesion); :func:`mask_condition` turns a dataset's boolean ``.masks``
``(N, S, S)`` into that form. A mask of another size or with other values is
a ``ValueError``.

Training: the images are the engine's data, the masks its condition,
``train_gan(G, D, data.images, config, labels=mask_condition(data.masks))``.

Left out of this small version: the paper's VGG perceptual and
discriminator feature-matching losses, spectral normalisation in both
networks, and the image encoder (the VAE variant). The paper uses the hinge
loss with TTUR (:math:`lr_G = 10^{-4}`, :math:`lr_D = 4\cdot10^{-4}`, Adam
:math:`\beta = (0, 0.999)`); for a short CPU run the least-squares loss with
equal learning rates was steadier. Recommended settings (32 px, ``width=16``)::

    SPADE = dict(loss="lsgan", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), n_critic=1, batch_size=16)

(no R1, no gradient penalty; ``ema_decay=0.999`` helps only for runs of
thousands of steps).

Reading order: :class:`SPADEGenerator`, then the blocks it is made of
(:class:`SPADEResBlock`, and the :class:`SPADE` layer inside it);
:class:`MultiScaleDiscriminator`; the builder; and last the masks' format
(:func:`mask_condition`) and its check (:func:`check_mask`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .translation import PatchDiscriminator, _check_power_of_two, _check_width

Tensor = torch.Tensor


# ----------------------------------------------------------------------------
# Generator
# ----------------------------------------------------------------------------

class SPADEGenerator(nn.Module):
    """SPADE generator: z (N, latent_dim), masks (N, 1, S, S) in {0, 1} -> images (N, 3, S, S) in [-1, 1].

    Args:
        image_size: the side S, a power of two >= 8: log2(S) - 2 SPADE blocks, each followed by
            x2 upsampling from 4x4, then one more block at S x S.
        latent_dim: the length of z (256 in the paper; 64 here, for small images on a CPU).
        width: the channels at full resolution; every coarser resolution doubles them, up to
            ``8 * width`` at the 4x4 end (the paper: 16 * 64 = 1024 channels at its coarse end).
        channels: channels of the images made (3 for RGB).
        mask_channels: channels of the masks, 1 for a binary lesion mask (the paper's label maps
            have one channel per semantic class).
        hidden: channels of the small mask network inside every :class:`SPADE` layer.
    """

    def __init__(self, image_size: int = 32, latent_dim: int = 64, width: int = 16, channels: int = 3,
                 mask_channels: int = 1, hidden: int = 32) -> None:
        super().__init__()
        n_up = _check_power_of_two(image_size) - 2  # 4x4 -> S in n_up doublings
        _check_width(width)
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive integer (256 in the paper), got {latent_dim!r}")
        self.image_size, self.latent_dim, self.width = image_size, latent_dim, width
        self.channels, self.mask_channels = channels, mask_channels
        sizes = [width * 2 ** min(n_up - i, 3) for i in range(n_up + 1)]  # e.g. 8w, 4w, 2w, w at 4, 8, 16, 32 px
        self.first_channels = sizes[0]
        self.project = nn.Linear(latent_dim, sizes[0] * 4 * 4)  # the linear projection of z to a 4x4 map
        self.blocks = nn.ModuleList(SPADEResBlock(sizes[i], sizes[i + 1], mask_channels, hidden) for i in range(n_up))
        self.final = SPADEResBlock(sizes[-1], sizes[-1], mask_channels, hidden)  # one more block at full size
        self.to_rgb = nn.Conv2d(sizes[-1], channels, 3, padding=1)

    def forward(self, z: Tensor, mask: Tensor) -> Tensor:
        """Return G(z, m): images (N, channels, S, S) in [-1, 1] with the layout of the masks."""
        check_mask(mask, self.mask_channels, self.image_size, self)
        if z.dim() != 2 or z.shape[1] != self.latent_dim or len(z) != len(mask):
            raise ValueError(f"{type(self).__name__} expects latent vectors of shape ({len(mask)}, {self.latent_dim}) "
                             f"for {len(mask)} masks, got {tuple(z.shape)}; draw them with torch.randn")
        h = self.project(z).view(len(z), self.first_channels, 4, 4)
        for block in self.blocks:
            h = F.interpolate(block(h, mask), scale_factor=2.0, mode="nearest")  # SPADE block, then x2
        h = self.final(h, mask)
        return torch.tanh(self.to_rgb(F.leaky_relu(h, 0.2)))


class SPADEResBlock(nn.Module):
    """SPADE residual block: [SPADE-LReLU-conv3] x 2, plus a SPADE-conv1 shortcut when the channels change.

    Args:
        c_in, c_out: input and output channels; the first convolution outputs ``min(c_in, c_out)``.
        mask_channels, hidden: those of each of its :class:`SPADE` layers.
    """

    def __init__(self, c_in: int, c_out: int, mask_channels: int = 1, hidden: int = 32) -> None:
        super().__init__()
        c_mid = min(c_in, c_out)
        self.norm1, self.conv1 = SPADE(c_in, mask_channels, hidden), nn.Conv2d(c_in, c_mid, 3, padding=1)
        self.norm2, self.conv2 = SPADE(c_mid, mask_channels, hidden), nn.Conv2d(c_mid, c_out, 3, padding=1)
        self.learned_shortcut = c_in != c_out
        if self.learned_shortcut:
            self.norm_skip = SPADE(c_in, mask_channels, hidden)
            self.conv_skip = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, h: Tensor, mask: Tensor) -> Tensor:
        """Return h + the block's residual (same resolution, c_out channels)."""
        skip = self.conv_skip(self.norm_skip(h, mask)) if self.learned_shortcut else h
        out = self.conv1(F.leaky_relu(self.norm1(h, mask), 0.2))
        out = self.conv2(F.leaky_relu(self.norm2(out, mask), 0.2))
        return skip + out


class SPADE(nn.Module):
    """Spatially-adaptive normalisation: (1 + gamma(m)) * BN(h) + beta(m), gamma and beta maps predicted from m.

    Args:
        channels: channels of the activations h that it normalises (and of the gamma and beta maps).
        mask_channels: channels of the mask m (1 for a binary lesion mask).
        hidden: channels of the shared 3x3 convolution (with ReLU) that turns the resized mask into
            features for the gamma and beta convolutions; 128 in the paper, 32 here, where the mask
            is a single binary channel at 32-64 px rather than a map of many semantic classes.

    The normalisation is :class:`torch.nn.BatchNorm2d` without its own scale and shift
    (``affine=False``): mean and variance per channel over the batch and all positions in
    training, running averages in evaluation mode (the paper uses synchronised batch norm across GPUs).
    """

    def __init__(self, channels: int, mask_channels: int = 1, hidden: int = 32) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)  # parameter-free: (h - mu_c) / sigma_c
        self.shared = nn.Sequential(nn.Conv2d(mask_channels, hidden, 3, padding=1), nn.ReLU())
        self.gamma = nn.Conv2d(hidden, channels, 3, padding=1)  # gamma_{c,y,x}(m)
        self.beta = nn.Conv2d(hidden, channels, 3, padding=1)  # beta_{c,y,x}(m)

    def forward(self, h: Tensor, mask: Tensor) -> Tensor:
        """Return the normalised and mask-modulated activations, same shape as h."""
        mask = F.interpolate(mask, size=h.shape[2:], mode="nearest")  # the mask at this layer's resolution
        features = self.shared(mask)
        return self.norm(h) * (1 + self.gamma(features)) + self.beta(features)


# ----------------------------------------------------------------------------
# Discriminator
# ----------------------------------------------------------------------------

class MultiScaleDiscriminator(nn.Module):
    """Two PatchGANs on [x, m] at full and half resolution -> patch logits (N, 2, h, w), one channel per scale.

    Args:
        image_size: the side S, a power of two >= 16 (the half-size scale needs at least 8x8).
        width: the first-layer channels of both PatchGANs.
        channels, mask_channels: of the images and the masks; each PatchGAN sees their
            ``channels + mask_channels`` stack.
        n_layers: the stride-2 layers of the full-size PatchGAN (None: 3 from 64 px up, else 2, as
            in :class:`~medgan_nb.models.translation.PatchDiscriminator`); the half-size one has as
            many as its image allows, at most ``n_layers``.
    """

    def __init__(self, image_size: int = 32, width: int = 16, channels: int = 3, mask_channels: int = 1,
                 n_layers: int | None = None) -> None:
        super().__init__()
        _check_power_of_two(image_size, smallest=16)  # the half-size scale needs at least 8x8 pixels
        self.image_size, self.width, self.channels, self.mask_channels = image_size, width, channels, mask_channels
        n_layers = (3 if image_size >= 64 else 2) if n_layers is None else n_layers
        self.fine = PatchDiscriminator(image_size, channels + mask_channels, width, n_layers)
        coarse_layers = min(n_layers, _check_power_of_two(image_size // 2) - 2)  # as deep as the half size allows
        self.coarse = PatchDiscriminator(image_size // 2, channels + mask_channels, width, coarse_layers)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """Return the fine and the (upsampled) coarse patch logits stacked as 2 channels, shape (N, 2, h, w)."""
        check_mask(mask, self.mask_channels, self.image_size, self)
        if x.dim() != 4 or tuple(x.shape[1:]) != (self.channels, self.image_size, self.image_size):
            raise ValueError(f"{type(self).__name__} expects images of shape (N, {self.channels}, {self.image_size}, "
                             f"{self.image_size}), got {tuple(x.shape)}")
        joint = torch.cat([x, mask], dim=1)  # condition by channel concatenation [x, m]
        fine = self.fine(joint)
        half = F.avg_pool2d(joint, 3, stride=2, padding=1, count_include_pad=False)  # pix2pixHD's downsampling
        coarse = F.interpolate(self.coarse(half), size=fine.shape[2:], mode="nearest")  # repeat coarse logits
        return torch.cat([fine, coarse], dim=1)


# ----------------------------------------------------------------------------
# Builder
# ----------------------------------------------------------------------------

def build_spade(image_size: int = 32, width: int = 16, latent_dim: int = 64, channels: int = 3,
                mask_channels: int = 1, hidden: int = 32) -> tuple[SPADEGenerator, MultiScaleDiscriminator]:
    """Return a SPADE (generator, multi-scale discriminator) pair (PyTorch's default initialisation).

    The arguments are those of :class:`SPADEGenerator`; the discriminator gets the same
    ``image_size``, ``width``, ``channels`` and ``mask_channels`` (``n_layers`` by image size).
    """
    generator = SPADEGenerator(image_size, latent_dim, width, channels, mask_channels, hidden)
    discriminator = MultiScaleDiscriminator(image_size, width, channels, mask_channels)
    return generator, discriminator


# ----------------------------------------------------------------------------
# Masks: the condition's format, and its check
# ----------------------------------------------------------------------------

def mask_condition(masks: Tensor) -> Tensor:
    """Return masks as float (N, 1, S, S) in {0, 1} from bool/0-1 masks (N, S, S) or (N, 1, S, S)."""
    masks = torch.as_tensor(masks)
    if masks.dim() == 3:
        masks = masks[:, None]
    if masks.dim() != 4 or masks.shape[1] != 1:
        raise ValueError(f"masks must have shape (N, S, S) or (N, 1, S, S), got {tuple(masks.shape)}; "
                         "use a dataset's .masks (load_dataset('phantom', ...).masks)")
    return masks.float()


def check_mask(mask: Tensor, mask_channels: int, image_size: int, model: nn.Module) -> None:
    """Raise a ValueError naming the shape or the values when ``mask`` is not (N, C, S, S) with values in {0, 1}."""
    name = type(model).__name__
    if mask.dim() != 4 or tuple(mask.shape[1:]) != (mask_channels, image_size, image_size):
        raise ValueError(f"{name} expects masks of shape (N, {mask_channels}, {image_size}, {image_size}), got "
                         f"{tuple(mask.shape)}; resize the masks to the model's image_size (load_dataset(..., "
                         f"size={image_size})) and add the channel axis with mask_condition(masks)")
    if not bool(((mask == 0) | (mask == 1)).all()):
        values = mask.unique()
        shown = ", ".join(f"{float(v):.3g}" for v in values[:5]) + (", ..." if len(values) > 5 else "")
        raise ValueError(f"{name} expects binary masks with values in {{0, 1}}, got values {shown}; "
                         "threshold them, e.g. (mask > 0).float() (a {-1, 1} mask: (mask > 0).float() too)")

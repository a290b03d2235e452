r"""A small StyleGAN2 (Karras et al., 2020, "Analyzing and Improving the Image Quality of StyleGAN").

StyleGAN separates *what* is drawn from *where the randomness enters*:

1. **Mapping network** :math:`f: z \mapsto w`. The latent
   :math:`z \sim \mathcal N(0, I)` is pixel-normalised,
   :math:`z \leftarrow z / \sqrt{\tfrac1d \sum_j z_j^2 + \epsilon}`, and sent
   through a few fully connected layers (LeakyReLU 0.2) to an intermediate
   latent :math:`w \in \mathcal W`, which need not follow the data's
   entanglement the way a fixed Gaussian must.
2. **Synthesis network** from a *learned constant* 4x4 input. Each
   convolution layer :math:`\ell` gets its own copy :math:`w_\ell` of
   :math:`w`, turned by a learned affine map into per-input-channel *styles*
   :math:`s = A_\ell(w_\ell)`. Instead of AdaIN on the activations, StyleGAN2
   scales the convolution weights (**modulation**) and renormalises them
   (**demodulation**):

   .. math::
       w'_{ijk} = s_i \cdot w_{ijk}, \qquad
       w''_{ijk} = \frac{w'_{ijk}}{\sqrt{\sum_{i,k} {w'_{ijk}}^2 + \epsilon}},

   with :math:`i` the input channel, :math:`j` the output channel and
   :math:`k` the kernel position; if the inputs have unit variance, each output
   channel of the demodulated convolution has unit variance again. Every
   sample has its own weights, so the convolution is computed as one *grouped*
   convolution with the batch folded into the channels
   (:class:`ModulatedConv2d`).
3. **Noise inputs**: after each convolution a fresh single-channel image of
   :math:`\mathcal N(0, 1)` noise is added, scaled by a learned per-channel
   strength -- the stochastic detail (hair strands, pores, speckle) that does
   not change the image's identity.
4. **toRGB skips**: at every resolution a 1x1 modulated convolution (not
   demodulated) maps the features to RGB, and the RGB images are upsampled and
   summed: :math:`\mathrm{rgb}_{2r} = \mathrm{up}(\mathrm{rgb}_r) + \mathrm{toRGB}_{2r}(h_{2r})`.
5. **Style mixing** regularisation: with probability :math:`p` a training
   batch draws a second :math:`w^{(2)} = f(z^{(2)})` which replaces
   :math:`w` from a random layer on, so the network cannot assume that
   neighbouring layers' styles are correlated.
6. **Truncation** at sampling time: :math:`w' = \bar w + \psi\,(w - \bar w)`
   with :math:`\bar w` a running average of :math:`w` kept during training;
   :math:`\psi < 1` trades variety for typicality (:math:`\psi = 0` gives the
   "average lesion" :math:`\bar w` for every :math:`z`).

The discriminator is the paper's *residual* network (each block:
two 3x3 convolutions and a 2x average-pooled 1x1 skip, summed and scaled by
:math:`1/\sqrt2`) with the **minibatch standard deviation** layer before
the last block (:func:`minibatch_stddev`): the standard deviation of
each feature over a group of samples, averaged into one extra feature map, so
the discriminator can see when the generator's batch lacks variety.

Simplifications for 32-64 px on a CPU: bilinear x2 upsampling followed by a
3x3 modulated convolution instead of the paper's transposed convolution with
FIR filtering, PyTorch's default layer initialisation instead of equalised
learning rates, and 2-4 mapping layers instead of 8; no path-length
regularisation. With no equalised learning rate there is no learning-rate
multiplier either: the paper's mapping network learns 100 times more slowly
than the synthesis network (``lr_multiplier = 0.01``); here every layer
learns at the optimiser's ``lr_g``.

The engine calls ``G(z)``: in training mode it maps :math:`z`, updates
:math:`\bar w`, applies style mixing and draws fresh noise. For figures use
:meth:`StyleGANGenerator.generate` (truncation ``psi``, a second latent
``mix_z`` from layer ``mix_layer`` on, and explicit ``noise`` maps from
:meth:`StyleGANGenerator.make_noise`).

Recommended settings for a CPU budget (32 px, ``width=8``; the grouped convolutions are slow on a CPU, and
``width=16`` costs about four times as much per step), the paper's
non-saturating loss with lazy R1 (:math:`\gamma` is small at small
resolutions; 0.01-1 in the paper's configurations)::

    STYLEGAN = dict(loss="bce", lr_g=2e-3, lr_d=2e-3, betas=(0.0, 0.99), n_critic=1,
                    r1_gamma=0.1, r1_every=4, ema_decay=0.999, batch_size=16)

(``loss="bce"`` is the non-saturating loss in :mod:`medgan_nb.losses`.)

Reading order: :class:`StyleGANGenerator`, then its parts top-down
(:class:`MappingNetwork`, :class:`StyleLayer`, :class:`ToRGB`, and the
:class:`ModulatedConv2d` both are built on); :class:`StyleGANDiscriminator`,
then its parts (:class:`ResidualDownBlock`, :func:`minibatch_stddev`); the
builder; the argument check last.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

Tensor = torch.Tensor


# ----------------------------------------------------------------------------
# Generator
# ----------------------------------------------------------------------------

class StyleGANGenerator(nn.Module):
    r"""StyleGAN2 generator: z (N, latent_dim) -> images (N, channels, S, S) in [-1, 1].

    Args:
        image_size: the side S of the images, a power of two from 8 to 256. The synthesis network
            runs 4x4, 8x8, ..., SxS: one :class:`StyleLayer` at 4x4 and two at every larger
            resolution, ``num_layers = 2 log2(S) - 3`` copies of w in all (7 at 32 px).
        latent_dim: the length of z, and of w (``w_dim = latent_dim``). 512 in the paper; 64 here,
            which keeps the mapping network and the style maps A cheap for 32-64 px on a CPU.
        width: the channels at full resolution S; each coarser resolution has twice as many, up
            to ``4 * width`` (the paper caps at 512). 16 by default; the registry's CPU budget uses 8,
            because the per-sample (grouped) convolutions are slow on a CPU.
        channels: channels of the images made (3 for RGB).
        mapping_layers: the depth of the mapping network f: z -> w, in fully connected layers
            (each ``w_dim`` wide, LeakyReLU 0.2). 8 in the paper; 4 here, half the cost, one of this
            version's simplifications for 32-64 px (see the module docstring).
        mixing_prob: p in [0, 1], the probability that a training forward pass uses style mixing
            (a second latent takes over from a random layer on). 0.9 as in the paper; 0 turns the
            regulariser off. Only training mode mixes; :meth:`generate` mixes when asked (``mix_z``).
        w_avg_beta: beta in [0, 1], the decay of :math:`\bar w`, the running mean of w that
            truncation pulls towards: every training forward pass sets
            :math:`\bar w \leftarrow \beta\,\bar w + (1 - \beta)\,\mathrm{mean}_n(w_n)`. 0.995 as in the
            paper's code: :math:`\bar w` remembers about :math:`1 / (1 - \beta) = 200` batches, so it
            follows the mapping network as it trains without the noise of single batches. It starts
            at zero (no bias correction), so it is meaningful only after a few hundred steps.

    Noise: every :class:`StyleLayer` adds a single-channel :math:`\mathcal N(0, 1)` map per sample,
    scaled by a learned per-channel strength that starts at zero (an untrained generator ignores
    its noise and learns how much to use). ``noise=None`` draws fresh maps on every call; maps from
    :meth:`make_noise` (with a seed) make figures reproducible.

    Truncation: ``forward(z, truncation=psi)`` in evaluation mode, and :meth:`generate` /
    :meth:`map` with ``psi``, use :math:`w' = \bar w + \psi (w - \bar w)`; psi = 1 (the default)
    is no truncation, 0.5-0.7 is typical for figures, 0 gives :math:`\bar w` for every z.
    """

    def __init__(self, image_size: int = 32, latent_dim: int = 64, width: int = 16, channels: int = 3,
                 mapping_layers: int = 4, mixing_prob: float = 0.9, w_avg_beta: float = 0.995) -> None:
        super().__init__()
        n_up = _check_image_size(image_size)
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive integer (channels at full resolution, e.g. 16), got {width!r}")
        if not 0.0 <= mixing_prob <= 1.0:
            raise ValueError(f"mixing_prob must be a probability in [0, 1] (0.9 in the paper), got {mixing_prob!r}")
        self.image_size, self.latent_dim, self.width, self.channels = image_size, latent_dim, width, channels
        self.w_dim, self.mixing_prob, self.w_avg_beta = latent_dim, mixing_prob, w_avg_beta
        sizes = [width * 2 ** min(n_up - i, 2) for i in range(n_up + 1)]  # channels at 4, 8, ..., S px (<= 4 width)
        self.mapping = MappingNetwork(latent_dim, self.w_dim, mapping_layers)
        # running mean of w, for truncation; a parameter without gradient rather than a buffer so that the
        # engine's weight average (EMA, which averages parameters only) carries it into the averaged generator
        self.w_avg = nn.Parameter(torch.zeros(self.w_dim), requires_grad=False)
        self.constant = nn.Parameter(torch.randn(1, sizes[0], 4, 4))  # the learned constant input
        self.layers = nn.ModuleList([StyleLayer(sizes[0], sizes[0], self.w_dim)])  # 4x4
        self.to_rgb = nn.ModuleList([ToRGB(sizes[0], self.w_dim, channels)])
        self.resolutions = [4]  # output resolution of every layer
        for i in range(n_up):  # per resolution: an upsampling layer and a plain layer, then toRGB
            self.layers.append(StyleLayer(sizes[i], sizes[i + 1], self.w_dim, upsample=True))
            self.layers.append(StyleLayer(sizes[i + 1], sizes[i + 1], self.w_dim))
            self.to_rgb.append(ToRGB(sizes[i + 1], self.w_dim, channels))
            self.resolutions += [4 * 2 ** (i + 1)] * 2
        self.num_layers = len(self.layers)  # number of w copies: one per StyleLayer

    # --- latents --------------------------------------------------------------------
    def map(self, z: Tensor, psi: float = 1.0) -> Tensor:
        """Return w = f(z) truncated towards the average: w_avg + psi (w - w_avg), shape (N, w_dim)."""
        self._check_latent(z)
        w = self.mapping(z)
        if psi != 1.0:
            w = self.w_avg + psi * (w - self.w_avg)  # w' = w_avg + psi (w - w_avg)
        return w

    def training_styles(self, z: Tensor) -> Tensor:
        """Return per-layer styles (N, num_layers, w_dim) as in training: w_avg updated, style mixing with prob p."""
        w = self.map(z)
        with torch.no_grad():  # w_avg <- beta w_avg + (1 - beta) mean(w)
            self.w_avg.copy_(w.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        ws = w[:, None].repeat(1, self.num_layers, 1)
        if self.mixing_prob > 0 and float(torch.rand(())) < self.mixing_prob:  # style mixing regularisation
            cutoff = int(torch.randint(1, self.num_layers, ()))
            ws[:, cutoff:] = self.map(torch.randn_like(z))[:, None]  # w^(2) takes over from layer `cutoff`
        return ws

    def make_noise(self, n: int, seed: int | None = None) -> list[Tensor]:
        """Return one N(0, 1) noise map (n, 1, r, r) per layer (r = that layer's resolution), on the model's device."""
        rng = torch.Generator().manual_seed(seed) if seed is not None else None
        device = self.constant.device
        return [torch.randn(n, 1, r, r, generator=rng).to(device) for r in self.resolutions]

    # --- synthesis ------------------------------------------------------------------
    def synthesis(self, ws: Tensor, noise: list[Tensor] | None = None) -> Tensor:
        """Return images from per-layer styles ws (N, num_layers, w_dim) and noise maps (fresh ones if None)."""
        n = len(ws)
        if noise is None:
            noise = [torch.randn(n, 1, r, r, device=ws.device, dtype=ws.dtype) for r in self.resolutions]
        elif len(noise) != self.num_layers:
            raise ValueError(f"noise must be a list of {self.num_layers} maps (one per layer, see make_noise), "
                             f"got {len(noise)}")
        h = self.constant.expand(n, -1, -1, -1)
        h = self.layers[0](h, ws[:, 0], noise[0])
        rgb = self.to_rgb[0](h, ws[:, 0])
        for r in range(1, len(self.to_rgb)):  # each resolution: up-layer, layer, toRGB skip
            first = 2 * r - 1
            h = self.layers[first](h, ws[:, first], noise[first])
            h = self.layers[first + 1](h, ws[:, first + 1], noise[first + 1])
            rgb = F.interpolate(rgb, scale_factor=2.0, mode="bilinear", align_corners=False)
            rgb = rgb + self.to_rgb[r](h, ws[:, first + 1])  # rgb_2r = up(rgb_r) + toRGB(h_2r)
        return torch.tanh(rgb)

    def forward(self, z: Tensor, *, truncation: float = 1.0) -> Tensor:
        """Return G(z): in training mode with style mixing and w_avg updates, else truncated by ``truncation``."""
        if self.training:
            return self.synthesis(self.training_styles(z))
        return self.synthesis(self.map(z, truncation)[:, None].repeat(1, self.num_layers, 1))

    def generate(self, z: Tensor, psi: float = 1.0, mix_z: Tensor | None = None, mix_layer: int | None = None,
                 noise: list[Tensor] | None = None) -> Tensor:
        """Return images for z (truncation psi; mix_z's style from layer mix_layer on; given noise), no w_avg update.

        Args:
            z: latents (N, latent_dim).
            psi: the truncation (see the class docstring), 1 = none.
            mix_z: second latents, the shape of z, whose styles take over from ``mix_layer`` on.
            mix_layer: index 0..num_layers-1 of the first layer styled by ``mix_z``: small values
                hand over the coarse structure too, large ones only the finest detail.
            noise: one map per layer (:meth:`make_noise`), or None for fresh noise.
        """
        ws = self.map(z, psi)[:, None].repeat(1, self.num_layers, 1)
        if (mix_z is None) != (mix_layer is None):
            raise ValueError("style mixing needs both mix_z (the second latents) and mix_layer (where they take over)")
        if mix_z is not None:
            if isinstance(mix_layer, bool) or not isinstance(mix_layer, int) or not 0 <= mix_layer < self.num_layers:
                raise ValueError(f"mix_layer {mix_layer!r} is out of range: this generator has {self.num_layers} "
                                 f"layers, valid indices are 0..{self.num_layers - 1} (0 = every layer from mix_z, "
                                 f"{self.num_layers - 1} = only the last, finest one)")
            if mix_z.shape != z.shape:
                raise ValueError(f"mix_z must have the shape of z {tuple(z.shape)}, got {tuple(mix_z.shape)}")
            ws[:, mix_layer:] = self.map(mix_z, psi)[:, None]  # coarse styles from z, the rest from mix_z
        return self.synthesis(ws, noise)

    def _check_latent(self, z: Tensor) -> None:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"{type(self).__name__} expects latent vectors of shape (N, {self.latent_dim}), got "
                             f"{tuple(z.shape)}; draw them with torch.randn(N, {self.latent_dim})")


class MappingNetwork(nn.Module):
    """f: z -> w, pixel norm then ``layers`` fully connected layers with LeakyReLU 0.2.

    Args:
        latent_dim: the length of z.
        w_dim: the length of w, the width of every layer.
        layers: the number of fully connected layers (8 in the paper, ``mapping_layers`` of the generator).
    """

    def __init__(self, latent_dim: int, w_dim: int, layers: int = 4) -> None:
        super().__init__()
        sizes = [latent_dim] + [w_dim] * layers
        self.net = nn.Sequential(*[m for a, b in zip(sizes, sizes[1:]) for m in (nn.Linear(a, b), nn.LeakyReLU(0.2))])

    def forward(self, z: Tensor) -> Tensor:
        """Return w = f(z), shape (N, w_dim)."""
        return self.net(pixel_norm(z))


def pixel_norm(x: Tensor, eps: float = 1e-8) -> Tensor:
    """Return x / sqrt(mean(x^2 over dim 1) + eps): every vector (or pixel) scaled to unit root mean square."""
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + eps)


class StyleLayer(nn.Module):
    """Modulated 3x3 convolution, + per-channel-scaled noise, + bias, LeakyReLU 0.2.

    Args:
        c_in, c_out: input and output channels.
        w_dim: the length of the w that styles this layer.
        upsample: True for the first layer of every resolution above 4x4: the input is doubled in
            height and width (bilinear) before the convolution.

    The noise strength (one number per output channel) and the bias start at zero.
    """

    def __init__(self, c_in: int, c_out: int, w_dim: int, upsample: bool = False) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(c_in, c_out, 3, w_dim, upsample=upsample)
        self.noise_strength = nn.Parameter(torch.zeros(1, c_out, 1, 1))  # learned per-channel noise scale
        self.bias = nn.Parameter(torch.zeros(1, c_out, 1, 1))

    def forward(self, x: Tensor, w: Tensor, noise: Tensor) -> Tensor:
        """Return the layer's activations; ``noise`` is (N, 1, H, W) of N(0, 1) at the output resolution."""
        h = self.conv(x, w)
        return F.leaky_relu(h + self.noise_strength * noise + self.bias, 0.2)


class ToRGB(nn.Module):
    """1x1 modulated convolution to RGB, without demodulation (the paper's toRGB).

    Args:
        c_in: channels of the features at this resolution.
        w_dim: the length of the w that styles it.
        channels: channels of the image (3 for RGB).

    No demodulation: the output is an image, not features for a next layer, so its scale is kept.
    """

    def __init__(self, c_in: int, w_dim: int, channels: int = 3) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(c_in, channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        """Return an RGB image (N, channels, H, W) of the features x."""
        return self.conv(x, w) + self.bias


class ModulatedConv2d(nn.Module):
    """Convolution whose weights are scaled per sample by styles s = A(w) (and demodulated).

    Args:
        c_in, c_out: input and output channels.
        kernel: the side of the (odd) kernel, 3 in a :class:`StyleLayer`, 1 in :class:`ToRGB`;
            the padding ``kernel // 2`` keeps height and width.
        w_dim: the length of w; the affine map A: w -> s has one output per input channel.
        demodulate: True renormalises every output channel to unit variance (StyleGAN2's
            replacement for AdaIN); False (toRGB) keeps the modulated weights.
        upsample: True doubles the input (bilinear) before the convolution.

    The weights are drawn from N(0, 1) and scaled at run time by 1 / sqrt(c_in * kernel^2); the
    affine map's bias starts at 1, so the styles start around 1 (an unmodulated convolution).
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, w_dim: int, demodulate: bool = True,
                 upsample: bool = False) -> None:
        super().__init__()
        self.c_in, self.c_out, self.kernel = c_in, c_out, kernel
        self.demodulate, self.upsample = demodulate, upsample
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))  # w_ijk (j = out, i = in)
        self.scale = 1 / math.sqrt(c_in * kernel * kernel)  # He's constant: unit-variance outputs at start
        self.affine = nn.Linear(w_dim, c_in)  # A: w -> styles s
        nn.init.ones_(self.affine.bias)  # styles start around 1 (the paper's bias initialisation)

    def modulated_weight(self, styles: Tensor) -> Tensor:
        """Return the per-sample weights w'' (or w' without demodulation), shape (N, c_out, c_in, k, k)."""
        weight = self.scale * self.weight[None] * styles[:, None, :, None, None]  # w'_ijk = s_i * w_ijk
        if self.demodulate:  # w''_ijk = w'_ijk / sqrt(sum_{i,k} w'_ijk^2 + eps)
            weight = weight * torch.rsqrt(weight.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
        return weight

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        """Return the modulated convolution of x (N, c_in, H, W) with styles A(w) (doubling H, W if upsample)."""
        if self.upsample:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        n, _, height, width = x.shape
        weight = self.modulated_weight(self.affine(w))  # (N, c_out, c_in, k, k): one kernel per sample
        # grouped convolution: sample n's channels form group n and meet only sample n's kernel
        out = F.conv2d(x.reshape(1, n * self.c_in, height, width),
                       weight.reshape(n * self.c_out, self.c_in, self.kernel, self.kernel),
                       padding=self.kernel // 2, groups=n)
        return out.view(n, self.c_out, height, width)


# ----------------------------------------------------------------------------
# Discriminator
# ----------------------------------------------------------------------------

class StyleGANDiscriminator(nn.Module):
    """StyleGAN2 residual discriminator with minibatch standard deviation: images -> logits (N,).

    Args:
        image_size: the side S of the images judged, a power of two from 8 to 256.
        width: the channels at full resolution; each halving doubles them up to ``4 * width``,
            the mirror of the generator's.
        channels: channels of the images (3 for RGB).
        group_size: the number of samples whose feature standard deviation the minibatch-std
            layer takes together (4 in the paper). A batch it does not divide uses the largest
            group size below it that does (a batch of 6 makes groups of 3).
    """

    def __init__(self, image_size: int = 32, width: int = 16, channels: int = 3, group_size: int = 4) -> None:
        super().__init__()
        n_down = _check_image_size(image_size)
        self.image_size, self.width, self.channels, self.group_size = image_size, width, channels, group_size
        sizes = [width * 2 ** min(i, 2) for i in range(n_down + 1)]  # mirror of the generator's channels
        self.from_rgb = nn.Conv2d(channels, sizes[0], 1)
        self.blocks = nn.Sequential(*[ResidualDownBlock(sizes[i], sizes[i + 1]) for i in range(n_down)])
        self.final_conv = nn.Conv2d(sizes[-1] + 1, sizes[-1], 3, padding=1)  # +1: the minibatch-std map
        self.final_linear = nn.Sequential(nn.Linear(sizes[-1] * 16, sizes[-1]), nn.LeakyReLU(0.2),
                                          nn.Linear(sizes[-1], 1))

    def forward(self, x: Tensor) -> Tensor:
        """Return the logits D(x), shape (N,)."""
        if x.dim() != 4 or tuple(x.shape[1:]) != (self.channels, self.image_size, self.image_size):
            raise ValueError(f"{type(self).__name__} expects images of shape (N, {self.channels}, {self.image_size}, "
                             f"{self.image_size}), got {tuple(x.shape)}")
        h = self.blocks(F.leaky_relu(self.from_rgb(x), 0.2))  # down to 4x4
        h = F.leaky_relu(self.final_conv(minibatch_stddev(h, self.group_size)), 0.2)
        return self.final_linear(h.flatten(1)).squeeze(1)


class ResidualDownBlock(nn.Module):
    """conv3-LReLU-conv3-LReLU-avgpool, plus an avgpool-conv1 skip, summed and scaled by 1/sqrt(2).

    Args:
        c_in, c_out: input and output channels (the 1x1 skip convolution changes c_in to c_out).
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(c_in, c_in, 3, padding=1), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """Return the block's output at half the resolution of x."""
        h = F.leaky_relu(self.conv2(F.leaky_relu(self.conv1(x), 0.2)), 0.2)
        return (F.avg_pool2d(h, 2) + self.skip(F.avg_pool2d(x, 2))) / math.sqrt(2)  # keeps the variance


def minibatch_stddev(x: Tensor, group_size: int = 4, eps: float = 1e-8) -> Tensor:
    """Return x with one more channel: the features' standard deviation over groups of samples, averaged.

    ``group_size`` samples are taken together (fewer when it does not divide the batch, see
    :class:`StyleGANDiscriminator`); ``eps`` keeps the square root away from zero.
    """
    n, c, h, w = x.shape
    groups = min(group_size, n)
    while n % groups:  # the largest group size <= group_size that divides the batch
        groups -= 1
    y = x.view(groups, -1, c, h, w)  # sample g*M + m is member g of group m
    y = (y - y.mean(dim=0)).square().mean(dim=0).add(eps).sqrt()  # std over each group, per feature and pixel
    y = y.mean(dim=(1, 2, 3))  # one number per group
    y = y.view(-1, 1, 1, 1).repeat(groups, 1, h, w)  # broadcast back to the group's members
    return torch.cat([x, y], dim=1)


# ----------------------------------------------------------------------------
# Builder
# ----------------------------------------------------------------------------

def build_stylegan(image_size: int = 32, latent_dim: int = 64, width: int = 16, channels: int = 3,
                   mapping_layers: int = 4, mixing_prob: float = 0.9) -> tuple[StyleGANGenerator, StyleGANDiscriminator]:
    """Return a small StyleGAN2 (generator, discriminator) pair (train with loss="bce", r1_gamma, r1_every=4).

    The arguments are those of :class:`StyleGANGenerator` (``image_size``, ``width`` and ``channels``
    also go to :class:`StyleGANDiscriminator`); ``w_avg_beta`` and ``group_size`` keep their
    defaults, 0.995 and 4.
    """
    generator = StyleGANGenerator(image_size, latent_dim, width, channels, mapping_layers, mixing_prob)
    discriminator = StyleGANDiscriminator(image_size, width, channels)
    return generator, discriminator


# ----------------------------------------------------------------------------
# Argument checks
# ----------------------------------------------------------------------------

def _check_image_size(image_size: int) -> int:
    """Return the number of x2 steps from 4x4 to image_size; ValueError unless a power of two from 8 to 256."""
    if isinstance(image_size, bool) or not isinstance(image_size, int) or not 8 <= image_size <= 256 or (
        image_size & (image_size - 1)
    ):
        raise ValueError(f"StyleGAN image_size must be a power of two from 8 to 256 (e.g. 32 or 64), got "
                         f"{image_size!r}; resize the images (load_dataset(..., size=32))")
    return int(math.log2(image_size)) - 2

r"""Progressive growing of GANs (Karras, Aila, Laine & Lehtinen, 2018, "Progressive Growing of GANs for
Improved Quality, Stability, and Variation").

Both networks start at 4x4 and grow: a new pair of layers at twice the
resolution is added to the generator and mirrored in the discriminator, so
the game is first learned on the coarse structure and each later stage only
adds detail. A new block is **faded in** smoothly: with the new resolution
:math:`2r`,

.. math::
    G_\alpha(z) = (1 - \alpha)\,\mathrm{up}\big(\mathrm{toRGB}_r(h_r)\big) + \alpha\,\mathrm{toRGB}_{2r}\big(\mathrm{block}_{2r}(h_r)\big),

    D_\alpha(x) = D_{<r}\Big((1 - \alpha)\,\mathrm{fromRGB}_r\big(\mathrm{pool}(x)\big) + \alpha\,\mathrm{block}'_{2r}\big(\mathrm{fromRGB}_{2r}(x)\big)\Big),

with :math:`\alpha` rising linearly from 0 to 1 over the fade-in, after which
the stage is trained at :math:`\alpha = 1` (stabilisation) before the next
one. The paper's other ingredients:

* **equalised learning rate**: weights drawn from :math:`\mathcal N(0, 1)`
  and multiplied at run time by He's constant :math:`c = \sqrt{2 / \text{fan-in}}`
  (:class:`EqualizedConv2d`, :class:`EqualizedLinear`), so Adam's
  scale-invariant steps change every layer at the same relative speed;
* **pixel normalisation** in G after every convolution,
  :math:`b_{x,y} = a_{x,y} / \sqrt{\tfrac1C \sum_j (a^j_{x,y})^2 + 10^{-8}}`;
* **minibatch standard deviation** in D's last block
  (:func:`~medgan_nb.models.stylegan.minibatch_stddev`).

To fit the one engine, every layer of every resolution exists from the start
(the optimisers hold all parameters) and the stage is two attributes,
``resolution`` and ``alpha``, set by :meth:`ProgressiveGenerator.set_stage`.
The generator always returns full-size images (its current output
nearest-upsampled) and the discriminator average-pools its input down to the
current resolution, so the data and the losses never change.
:func:`progressive_schedule` returns the ``TrainConfig.schedule`` hook that
walks the stages over the run. (The engine's EMA copy of G does not follow
the stage: leave ``ema_decay=None``, or call
``result.ema_generator.set_stage(G.resolution, G.alpha)`` after training.)

Output: tanh on the RGB output (the paper's is linear), so images stay in
:math:`[-1, 1]` like the data.

Recommended settings for a CPU budget (32 px, ``width=8``): the least-squares
loss, which in a few hundred CPU steps trains as well as the paper's WGAN-GP
at about half the time per step (no gradient penalty's double backward)::

    PROGRESSIVE = dict(loss="lsgan", n_critic=1, lr_g=1e-3, lr_d=1e-3, betas=(0.0, 0.99),
                       batch_size=16, schedule=progressive_schedule(32))

The paper's choice is WGAN-GP with one critic step,
``loss="wasserstein", gp_weight=10.0`` with the same learning rates and betas
(it also adds a small drift term :math:`0.001\,\mathbb E[D(x)^2]` that the
engine does not have; short runs do without it). No EMA (see above), no R1.

Reading order: the stage both networks carry (:class:`_StageMixin`, their
base class, so Python needs it first), :class:`ProgressiveGenerator`,
:class:`ProgressiveDiscriminator`, the parts they are built of (equalised
layers, the channel plan), :func:`progressive_schedule` that walks the stages
during a run, the builder, and last the argument check.
"""
from __future__ import annotations

import math
from copy import deepcopy

import torch
import torch.nn.functional as F
from torch import nn

from .stylegan import minibatch_stddev, pixel_norm

Tensor = torch.Tensor


# ----------------------------------------------------------------------------
# The stage (resolution, fade-in alpha) both networks share
# (their base class, so it has to come before them)
# ----------------------------------------------------------------------------

class _StageMixin:
    """The current stage (resolution, fade-in alpha) shared by the progressive generator and discriminator.

    Attributes:
        max_resolution: the largest resolution, the ``image_size`` the model was built for.
        resolution: the current resolution in pixels, a power of two from 4 to ``max_resolution``.
        alpha: the fade-in weight in [0, 1] of the newest block: 0 = only the previous resolution
            (upsampled in G, pooled in D), 1 = only the new block; always 1 at 4x4.
    """

    max_resolution: int
    resolution: int
    alpha: float

    def set_stage(self, resolution: int, alpha: float = 1.0) -> None:
        """Set the current resolution (power of two from 4 to max_resolution) and fade-in alpha in [0, 1]."""
        _check_resolution(resolution, 4, self.max_resolution, f"{type(self).__name__} resolution")
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"alpha must be in [0, 1] (0 = only the previous resolution, 1 = only the new block), "
                             f"got {alpha!r}")
        self.resolution, self.alpha = resolution, float(alpha if resolution > 4 else 1.0)  # 4x4 has nothing to fade

    @property
    def stage(self) -> int:
        """Return the index of the current resolution (0 for 4x4)."""
        return int(math.log2(self.resolution)) - 2


# ----------------------------------------------------------------------------
# Generator and discriminator
# ----------------------------------------------------------------------------

class ProgressiveGenerator(_StageMixin, nn.Module):
    """PGGAN generator: z (N, latent_dim) -> images (N, channels, S, S) in [-1, 1] at any stage.

    Args:
        image_size: the final side S (also ``max_resolution``), a power of two from 8 to 1024. The
            stages are 4, 8, ..., S; at every stage the output is S x S, the current resolution
            nearest-upsampled, so the data never changes.
        latent_dim: the length of z (512 in the paper; 128 here, for small images on a CPU).
        width: the channels at full resolution S; every coarser stage doubles them, up to
            ``8 * width`` (the paper: 512 up to 32x32, halved at every larger resolution).
        channels: channels of the images made (3 for RGB).

    A new model is at its first stage, 4x4 with ``alpha = 1``; :meth:`set_stage` (or the
    :func:`progressive_schedule` hook) moves it on.
    """

    def __init__(self, image_size: int = 32, latent_dim: int = 128, width: int = 16, channels: int = 3) -> None:
        super().__init__()
        n_stages = _check_resolution(image_size, 8, 1024, "image_size") + 1
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive integer (channels at full resolution, e.g. 16), got {width!r}")
        self.image_size = self.max_resolution = image_size
        self.latent_dim, self.width, self.channels = latent_dim, width, channels
        sizes = _channels(width, n_stages)
        self.first_channels = sizes[0]
        self.project = EqualizedLinear(latent_dim, sizes[0] * 16, gain=math.sqrt(2) / 4)  # z -> 4x4 (paper's gain)
        self.first_conv = EqualizedConv2d(sizes[0], sizes[0], 3, padding=1)
        self.blocks = nn.ModuleList([nn.Identity()])  # block s: resolution 2^(s+1) -> 2^(s+2); none at 4x4
        for s in range(1, n_stages):
            self.blocks.append(nn.ModuleList([EqualizedConv2d(sizes[s - 1], sizes[s], 3, padding=1),
                                              EqualizedConv2d(sizes[s], sizes[s], 3, padding=1)]))
        self.to_rgb = nn.ModuleList(EqualizedConv2d(c, channels, 1, gain=1.0) for c in sizes)
        self.set_stage(4, 1.0)

    def _grow(self, s: int, h: Tensor) -> Tensor:
        """Return block s of h: up x2, (conv3, LReLU, pixel norm) x 2."""
        h = F.interpolate(h, scale_factor=2.0, mode="nearest")
        for conv in self.blocks[s]:
            h = pixel_norm(_lrelu(conv(h)))
        return h

    def forward(self, z: Tensor) -> Tensor:
        """Return G_alpha(z) at the current stage, nearest-upsampled to image_size."""
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"{type(self).__name__} expects latent vectors of shape (N, {self.latent_dim}), got "
                             f"{tuple(z.shape)}; draw them with torch.randn(N, {self.latent_dim})")
        h = self.project(pixel_norm(z)).view(len(z), self.first_channels, 4, 4)
        h = pixel_norm(_lrelu(self.first_conv(pixel_norm(_lrelu(h)))))
        previous = h
        for s in range(1, self.stage + 1):
            previous, h = h, self._grow(s, h)
        rgb = self.to_rgb[self.stage](h)
        if self.stage > 0 and self.alpha < 1.0:  # fade-in: (1 - alpha) up(toRGB_r(h_r)) + alpha toRGB_2r(h_2r)
            old = F.interpolate(self.to_rgb[self.stage - 1](previous), scale_factor=2.0, mode="nearest")
            rgb = torch.lerp(old, rgb, self.alpha)
        return F.interpolate(torch.tanh(rgb), size=self.image_size, mode="nearest")  # always full size


class ProgressiveDiscriminator(_StageMixin, nn.Module):
    """PGGAN discriminator: images (N, channels, S, S), average-pooled to the current stage -> logits (N,).

    Args:
        image_size: the side S of the images it is given (also ``max_resolution``), a power of two
            from 8 to 1024; it pools them down to the current resolution itself.
        width: the channels at full resolution, doubled at every halving up to ``8 * width``,
            the mirror of the generator's.
        channels: channels of the images (3 for RGB).
        group_size: the number of samples taken together by the minibatch standard deviation
            layer (4 in the paper; see :func:`~medgan_nb.models.stylegan.minibatch_stddev`).
    """

    def __init__(self, image_size: int = 32, width: int = 16, channels: int = 3, group_size: int = 4) -> None:
        super().__init__()
        n_stages = _check_resolution(image_size, 8, 1024, "image_size") + 1
        self.image_size = self.max_resolution = image_size
        self.width, self.channels, self.group_size = width, channels, group_size
        sizes = _channels(width, n_stages)
        self.from_rgb = nn.ModuleList(EqualizedConv2d(channels, c, 1) for c in sizes)
        self.blocks = nn.ModuleList([nn.Identity()])  # block s: 2^(s+2) -> 2^(s+1), mirrors the generator's
        for s in range(1, n_stages):
            self.blocks.append(nn.ModuleList([EqualizedConv2d(sizes[s], sizes[s], 3, padding=1),
                                              EqualizedConv2d(sizes[s], sizes[s - 1], 3, padding=1)]))
        self.final_conv = EqualizedConv2d(sizes[0] + 1, sizes[0], 3, padding=1)  # +1: minibatch-std map
        self.final_dense = EqualizedConv2d(sizes[0], sizes[0], 4)  # 4x4 -> 1x1
        self.output = EqualizedLinear(sizes[0], 1, gain=1.0)
        self.set_stage(4, 1.0)

    def _shrink(self, s: int, h: Tensor) -> Tensor:
        """Return block s of h: (conv3, LReLU) x 2, average pool x2."""
        for conv in self.blocks[s]:
            h = _lrelu(conv(h))
        return F.avg_pool2d(h, 2)

    def forward(self, x: Tensor) -> Tensor:
        """Return D_alpha(x), shape (N,), judging x at the current resolution."""
        if x.dim() != 4 or tuple(x.shape[1:]) != (self.channels, self.image_size, self.image_size):
            raise ValueError(f"{type(self).__name__} expects images of shape (N, {self.channels}, {self.image_size}, "
                             f"{self.image_size}), got {tuple(x.shape)}")
        if self.resolution < self.image_size:
            x = F.avg_pool2d(x, self.image_size // self.resolution)  # the real/fake images at this stage's size
        h = _lrelu(self.from_rgb[self.stage](x))
        if self.stage > 0:
            h = self._shrink(self.stage, h)
            if self.alpha < 1.0:  # fade-in: (1 - alpha) fromRGB_r(pool(x)) + alpha block'(fromRGB_2r(x))
                h = torch.lerp(_lrelu(self.from_rgb[self.stage - 1](F.avg_pool2d(x, 2))), h, self.alpha)
            for s in range(self.stage - 1, 0, -1):
                h = self._shrink(s, h)
        h = _lrelu(self.final_conv(minibatch_stddev(h, self.group_size)))
        h = _lrelu(self.final_dense(h)).flatten(1)
        return self.output(h).squeeze(1)


# ----------------------------------------------------------------------------
# Their parts
# ----------------------------------------------------------------------------

class EqualizedConv2d(nn.Module):
    """Conv2d with N(0, 1) weights scaled at run time by He's constant sqrt(2 / fan_in) (gain given).

    Args:
        c_in, c_out: input and output channels.
        kernel: the side of the square kernel.
        padding: zero padding on every side (``kernel // 2`` keeps the size).
        gain: the numerator of the run-time scale ``gain / sqrt(fan_in)``: sqrt(2) (He) for a
            layer followed by LeakyReLU, 1 for a linear output such as toRGB (the paper's choices).
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, padding: int = 0, gain: float = math.sqrt(2)) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.scale = gain / math.sqrt(c_in * kernel * kernel)  # c = sqrt(2 / fan_in)
        self.padding = padding

    def forward(self, x: Tensor) -> Tensor:
        """Return conv(x) with weights c * w."""
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class EqualizedLinear(nn.Module):
    """Linear layer with N(0, 1) weights scaled at run time by gain / sqrt(fan_in).

    Args:
        c_in, c_out: input and output features.
        gain: as in :class:`EqualizedConv2d`; the generator's projection of z uses the paper's
            sqrt(2) / 4, the discriminator's output 1.
    """

    def __init__(self, c_in: int, c_out: int, gain: float = math.sqrt(2)) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.scale = gain / math.sqrt(c_in)

    def forward(self, x: Tensor) -> Tensor:
        """Return (c W) x + b."""
        return F.linear(x, self.weight * self.scale, self.bias)


def _lrelu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.2)


def _channels(width: int, n_stages: int) -> list[int]:
    """Return the channels at 4, 8, ..., S px: width * 2^min(stages left, 3) (more channels at low resolution)."""
    return [width * 2 ** min(n_stages - 1 - s, 3) for s in range(n_stages)]


# ----------------------------------------------------------------------------
# Growing over a run, and the builder
# ----------------------------------------------------------------------------

def progressive_schedule(image_size: int, fade_fraction: float = 0.5):
    """Return a TrainConfig.schedule hook growing G and D from 4x4 to image_size over the run (fade-in, stabilise).

    The run's steps are split evenly over the stages 4, 8, ..., image_size;
    every stage after the first fades its block in over the first
    ``fade_fraction`` of its steps (alpha 0 -> 1), then trains at alpha = 1.
    ``schedule.stage_at(step, total_steps)`` returns the (resolution, alpha) of a step.

    Args:
        image_size: the resolution to grow to, a power of two from 8 to 1024, at most the models'
            ``max_resolution``.
        fade_fraction: the part of every stage, in [0, 1], spent fading in; 0.5 is the paper's
            split (800k images fading in, then 800k stabilising); 0 switches every block on at once.
    """
    n_stages = _check_resolution(image_size, 8, 1024, "progressive_schedule image_size") + 1
    if not 0.0 <= fade_fraction <= 1.0:
        raise ValueError(f"fade_fraction must be in [0, 1] (the part of each stage spent fading in), got {fade_fraction!r}")

    def stage_at(step: int, total_steps: int) -> tuple[int, float]:
        position = (step - 1) / max(total_steps, 1) * n_stages  # steps count from 1
        stage = min(int(position), n_stages - 1)
        within = position - stage  # 0 .. 1 through this stage
        alpha = 1.0 if stage == 0 or fade_fraction == 0 else min(1.0, within / fade_fraction)
        return 4 * 2**stage, alpha

    def schedule(step: int, total_steps: int, generator: nn.Module, discriminator: nn.Module) -> None:
        for model in (generator, discriminator):
            largest = getattr(model, "max_resolution", None)
            if largest is None or not hasattr(model, "set_stage"):
                raise ValueError(f"progressive_schedule needs progressive models with set_stage and max_resolution, "
                                 f"got {type(model).__name__}; use build_progressive(...)")
            if image_size > largest:
                raise ValueError(f"progressive_schedule grows to {image_size} px but {type(model).__name__} reaches "
                                 f"only max_resolution {largest}; use progressive_schedule({largest}) or a larger model")
        resolution, alpha = stage_at(step, total_steps)
        generator.set_stage(resolution, alpha)
        discriminator.set_stage(resolution, alpha)

    schedule.stage_at = stage_at
    schedule.__qualname__ = f"progressive_schedule({image_size}, fade_fraction={fade_fraction})"
    return schedule


def stage_generators(generator: ProgressiveGenerator, states: dict[int, dict[str, Tensor]]) -> list[ProgressiveGenerator]:
    """Return copies of ``generator`` holding each stage's weights (``states[resolution]``, e.g. a run's stage
    snapshots), each set to its stage with the fade-in done (alpha = 1), coarse to fine, in eval mode."""
    generators = []
    for resolution in sorted(states):
        stage = deepcopy(generator)
        stage.load_state_dict(states[resolution])
        stage.set_stage(int(resolution), 1.0)
        generators.append(stage.eval())
    return generators


def build_progressive(image_size: int = 32, width: int = 16, latent_dim: int = 128,
                      channels: int = 3) -> tuple[ProgressiveGenerator, ProgressiveDiscriminator]:
    """Return a PGGAN (generator, discriminator) pair growing to image_size (train with progressive_schedule).

    The arguments are those of :class:`ProgressiveGenerator`; the discriminator gets the same
    ``image_size``, ``width`` and ``channels`` (and ``group_size`` 4). Both start at the 4x4 stage.
    """
    return (ProgressiveGenerator(image_size, latent_dim, width, channels),
            ProgressiveDiscriminator(image_size, width, channels))


# ----------------------------------------------------------------------------
# Argument checks
# ----------------------------------------------------------------------------

def _check_resolution(resolution: int, smallest: int, largest: int, what: str) -> int:
    """Return log2(resolution) - 2 (the stage index); ValueError unless a power of two in [smallest, largest]."""
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < smallest or (
        resolution & (resolution - 1)
    ) or resolution > largest:
        raise ValueError(f"{what} must be a power of two from {smallest} to {largest} (the model's max_resolution), "
                         f"got {resolution!r}; build the model for a larger max_resolution or pick one of "
                         f"{[2 ** k for k in range(int(math.log2(smallest)), int(math.log2(largest)) + 1)]}")
    return int(math.log2(resolution)) - 2

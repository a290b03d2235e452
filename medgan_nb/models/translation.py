r"""Image-to-image translation: pix2pix (paired) and CycleGAN (unpaired), both trained by the one engine.

**pix2pix** (Isola, Zhu, Zhou & Efros, 2017, "Image-to-Image Translation with
Conditional Adversarial Networks") learns a map from a *source* image
:math:`x` (a lesion mask, a hairy photograph, ...) to a *target* :math:`y`
from aligned pairs :math:`(x, y)`. The generator is a conditional GAN whose
condition is the whole source image, trained on

.. math::
    G^* = \arg\min_G \max_D \; \mathcal L_{cGAN}(G, D) + \lambda\, \mathcal L_{L1}(G),
    \qquad
    \mathcal L_{L1}(G) = \mathbb E_{x, y, z}\big[\lVert y - G(x, z) \rVert_1\big],

with :math:`\lambda = 100`. The L1 term makes the output follow the target at
low frequencies; the adversarial term, with a *PatchGAN* discriminator that
classifies every :math:`N \times N` patch of :math:`[x, y]` as real or fake,
supplies the high-frequency detail (texture) that L1 alone blurs away.

* :class:`UNetGenerator`: an encoder-decoder down to 1x1 with skip connections
  between mirrored layers (layer :math:`i` is concatenated to layer
  :math:`n - i`), so low-level structure (edges, the lesion outline) passes
  straight to the output. **Noise**: the paper found an input :math:`z`
  ignored by the generator and gives the noise as *dropout* (p = 0.5) in the
  three innermost decoder layers instead; here likewise ``z`` is accepted
  (the engine draws it) but ignored (``latent_dim = 1``), and dropout is
  active in training mode only, so evaluation-mode translations
  (:func:`~medgan_nb.models.sampling.sample_images`) are deterministic.
* :class:`PatchDiscriminator`: strided 4x4 convolutions, LeakyReLU 0.2,
  instance norm, one logit per patch (a map :math:`(N, 1, h, w)`; the losses
  average it). With three stride-2 layers its receptive field is the paper's
  70x70 (:func:`patch_receptive_field`); at 32 px two stride-2 layers
  (34x34 patches) are the default, so a patch still sees a part of the image.
* :class:`Pix2PixDiscriminator`: :math:`D(y, x)` = PatchGAN of the channel
  concatenation :math:`[x, y]`.
* :func:`pix2pix_l1_loss` returns the engine's ``generator_loss`` hook
  :math:`\lambda\lVert y - G(x)\rVert_1` (``batch.real`` is :math:`y`, the
  batch's condition is :math:`x`), logged as ``loss_l1``.

Training: the targets are the engine's images, the sources its condition,
``train_gan(G, D, targets, config, labels=sources)``.

**CycleGAN** (Zhu, Park, Isola & Efros, 2017, "Unpaired Image-to-Image
Translation using Cycle-Consistent Adversarial Networks") needs no pairs: two
generators :math:`G: A \to B` and :math:`F: B \to A` and two discriminators
:math:`D_A, D_B`, with

.. math::
    \mathcal L = \mathcal L_{GAN}(G, D_B) + \mathcal L_{GAN}(F, D_A)
    + \lambda_{cyc}\big(\mathbb E_a\lVert F(G(a)) - a\rVert_1 + \mathbb E_b\lVert G(F(b)) - b\rVert_1\big)
    + \lambda_{id}\big(\mathbb E_b\lVert G(b) - b\rVert_1 + \mathbb E_a\lVert F(a) - a\rVert_1\big),

:math:`\lambda_{cyc} = 10`, :math:`\lambda_{id} = 0.5\,\lambda_{cyc}`, and
the least-squares GAN loss. The cycle terms ask that translating there and
back returns the input, which rules out most of the many maps that would
fool the discriminators; the identity terms keep colours from drifting.

To train it with the one engine, each training "image" is the channel stack
:math:`[a, b]` (6 channels) of one A image and one *unrelated* B image
(:func:`unpaired_pairs`), and the condition is the same stack:

* :class:`CycleGANGenerator` holds :math:`G` (``g_ab``) and :math:`F`
  (``g_ba``); ``forward(z, [a, b])`` returns :math:`[F(b), G(a)]`, a fake A
  and a fake B in the same layout;
* :class:`CycleGANDiscriminator` holds :math:`D_A, D_B`; ``forward([a, b])``
  scores channels 0:3 with :math:`D_A` and 3:6 with :math:`D_B` and returns
  both patch maps, so the engine's loss on the real stack and the fake stack
  is the mean of the two GAN losses;
* :func:`cycle_loss` returns the ``generator_loss`` hook with the cycle and
  identity terms (logged as ``loss_cycle`` and ``loss_identity``).

The generators are the paper's ResNet generator (:class:`ResnetGenerator`:
7x7 convolution, two stride-2 downsamplings, residual blocks, two
upsamplings, instance norm, reflection padding) and the discriminators
70x70-style PatchGANs. Left out of this small version: the buffer of 50
earlier fakes the paper shows its discriminators, and the linear learning-rate
decay.

Recommended settings for a CPU budget (32 px, ``width=16``)::

    PIX2PIX = dict(loss="lsgan", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), n_critic=1,
                   batch_size=16, generator_loss=pix2pix_l1_loss(100.0))
    CYCLEGAN = dict(loss="lsgan", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), n_critic=1,
                    batch_size=8, generator_loss=cycle_loss(10.0, 5.0))

(pix2pix's paper uses the BCE loss, ``loss="bce"`` works as well; the least-
squares loss gives steadier gradients at the small batch sizes of a CPU.
Neither uses an EMA of G, R1 or a gradient penalty.)

Reading order: pix2pix (:class:`UNetGenerator`, :class:`Pix2PixDiscriminator`
and the :class:`PatchDiscriminator` inside it, the L1 hook, the builder),
then CycleGAN (:class:`CycleGANGenerator` and the :class:`ResnetGenerator` /
:class:`ResidualBlock` inside it, :class:`CycleGANDiscriminator`, the cycle
hook, the data and translation helpers, the builder), and last the input
checks both share.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .dcgan import weights_init
from .sampling import model_device

Tensor = torch.Tensor


# ----------------------------------------------------------------------------
# pix2pix: U-Net generator and PatchGAN discriminator
# ----------------------------------------------------------------------------

class UNetGenerator(nn.Module):
    """pix2pix U-Net: G(z, x) with z ignored -> images (N, channels, S, S) in [-1, 1]; dropout is the noise.

    Args:
        image_size: the side S, a power of two >= 8. The encoder has log2(S) stride-2 layers, down
            to 1x1 (8 at the paper's 256 px); the decoder mirrors them.
        source_channels: channels of the source x (1 for a mask, 3 for an RGB image).
        channels: channels of the images made (3 for RGB).
        width: channels of the first encoder layer (64 in the paper), doubled by every layer up to
            ``8 * width`` (the paper's C64-C128-C256-C512-C512-...).
        dropout: the dropout probability in (up to) the three innermost decoder layers, the
            generator's only source of randomness; 0.5 as in the paper. It acts in training mode
            only; 0 makes the training translations deterministic as well.
    """

    def __init__(self, image_size: int = 32, source_channels: int = 3, channels: int = 3, width: int = 16,
                 dropout: float = 0.5) -> None:
        super().__init__()
        n_down = _check_power_of_two(image_size)  # encoder: S -> S/2 -> ... -> 1x1
        _check_width(width)
        if source_channels < 1:
            raise ValueError(f"source_channels must be >= 1 (1 for a mask, 3 for an RGB image), got {source_channels}")
        self.image_size, self.width, self.channels = image_size, width, channels
        self.source_channels, self.latent_dim = source_channels, 1  # z is drawn by the engine but ignored
        sizes = [min(width * 2**i, 8 * width) for i in range(n_down)]  # C64-C128-C256-C512-C512... (paper)
        self.down = nn.ModuleList()
        for i, c_out in enumerate(sizes):
            c_in = source_channels if i == 0 else sizes[i - 1]
            normed = 0 < i < n_down - 1  # no norm on the first layer and at the 1x1 bottleneck (paper)
            self.down.append(nn.Sequential(
                nn.LeakyReLU(0.2) if i > 0 else nn.Identity(),
                nn.Conv2d(c_in, c_out, 4, 2, 1, bias=not normed),  # halves height and width
                nn.BatchNorm2d(c_out) if normed else nn.Identity(),
            ))
        self.up = nn.ModuleList()
        for j, i in enumerate(reversed(range(n_down))):  # decoder, innermost first
            c_in = sizes[i] if i == n_down - 1 else 2 * sizes[i]  # skip connection: [h, encoder layer i]
            if i == 0:  # outermost: to the image, tanh
                self.up.append(nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(c_in, channels, 4, 2, 1), nn.Tanh()))
            else:
                self.up.append(nn.Sequential(
                    nn.ReLU(),
                    nn.ConvTranspose2d(c_in, sizes[i - 1], 4, 2, 1, bias=False),  # doubles height and width
                    nn.BatchNorm2d(sizes[i - 1]),
                    nn.Dropout(dropout) if j < 3 else nn.Identity(),  # the noise: dropout in 3 innermost layers
                ))

    def forward(self, z: Tensor, source: Tensor) -> Tensor:
        """Return G(x): the translation of ``source`` (z is ignored), shape (N, channels, S, S)."""
        _check_input(source, self.source_channels, self.image_size, self, "source images")
        if len(z) != len(source):
            raise ValueError(f"{len(z)} latent vectors for {len(source)} source images; give one per image")
        skips = []
        h = source
        for down in self.down:
            h = down(h)
            skips.append(h)
        h = self.up[0](skips[-1])
        for up, skip in zip(self.up[1:], reversed(skips[:-1])):
            h = up(torch.cat([h, skip], dim=1))  # U-Net skip: layer i joins layer n - i
        return h


class Pix2PixDiscriminator(nn.Module):
    """Conditional PatchGAN: D(y, x) = PatchGAN([x, y]) -> patch logits (N, 1, h, w).

    Args:
        image_size: the side S of source and target, a power of two >= 8.
        source_channels: channels of the source x; channels: channels of the target y.
        width, n_layers: those of the :class:`PatchDiscriminator` on the stack
            (``source_channels + channels`` input channels).
    """

    def __init__(self, image_size: int = 32, source_channels: int = 3, channels: int = 3, width: int = 16,
                 n_layers: int | None = None) -> None:
        super().__init__()
        self.image_size, self.width, self.channels, self.source_channels = image_size, width, channels, source_channels
        self.patch = PatchDiscriminator(image_size, source_channels + channels, width, n_layers)

    def forward(self, x: Tensor, source: Tensor) -> Tensor:
        """Return the patch logits of target-or-fake ``x`` given ``source``, shape (N, 1, h, w)."""
        _check_input(x, self.channels, self.image_size, self, "images")
        _check_input(source, self.source_channels, self.image_size, self, "source images")
        return self.patch(torch.cat([source, x], dim=1))  # condition by channel concatenation


class PatchDiscriminator(nn.Module):
    """PatchGAN: images (N, in_channels, S, S) -> a map of patch logits (N, 1, h, w).

    Args:
        image_size: the side S, a power of two >= 8.
        in_channels: channels of its input (an image, or a channel stack such as [x, y]).
        width: channels of the first layer (64 in the paper), doubled by every layer up to ``8 * width``.
        n_layers: the number of stride-2 convolutions, which sets the patch size
            (:func:`patch_receptive_field`: 1 -> 16, 2 -> 34, 3 -> 70 px). None picks 3 (the paper's
            70x70 patches) from 64 px up and 2 (34x34) below, so a patch stays a part of the image.
            From 1 to log2(S) - 2: the map after the stride-2 layers must be at least 4x4.
    """

    def __init__(self, image_size: int = 32, in_channels: int = 3, width: int = 16, n_layers: int | None = None) -> None:
        super().__init__()
        log_size = _check_power_of_two(image_size)
        _check_width(width)
        n_layers = (3 if image_size >= 64 else 2) if n_layers is None else n_layers
        if not isinstance(n_layers, int) or n_layers < 1 or image_size // 2**n_layers < 4:
            raise ValueError(f"n_layers must be an integer from 1 to {log_size - 2} at image_size {image_size} "
                             f"(the map after the stride-2 layers must be at least 4x4), got {n_layers!r}")
        self.image_size, self.width, self.in_channels, self.n_layers = image_size, width, in_channels, n_layers
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2)]  # C64, no norm
        c_in = width
        for k in range(1, n_layers + 1):  # C128-C256 (stride 2), then C512 (stride 1) as in the paper
            c_out = min(width * 2**k, 8 * width)
            stride = 2 if k < n_layers else 1
            layers += [nn.Conv2d(c_in, c_out, 4, stride, 1, bias=False), nn.InstanceNorm2d(c_out), nn.LeakyReLU(0.2)]
            c_in = c_out
        layers.append(nn.Conv2d(c_in, 1, 4, 1, 1))  # one logit per patch
        self.main = nn.Sequential(*layers)

    @property
    def receptive_field(self) -> int:
        """Return the side of the patch each logit judges, in pixels."""
        return patch_receptive_field(self.n_layers)

    def forward(self, x: Tensor) -> Tensor:
        """Return the patch logits, shape (N, 1, h, w)."""
        _check_input(x, self.in_channels, self.image_size, self, "images")
        return self.main(x)


def patch_receptive_field(n_layers: int) -> int:
    """Return the side in pixels of the input patch seen by one PatchGAN logit with ``n_layers`` stride-2 layers."""
    # Walk back from one output pixel: a k x k, stride-s layer turns r pixels into (r - 1) s + k.
    kernels_and_strides = [(4, 2)] * n_layers + [(4, 1), (4, 1)]
    field = 1
    for kernel, stride in reversed(kernels_and_strides):
        field = (field - 1) * stride + kernel
    return field


def pix2pix_l1_loss(weight: float = 100.0):
    """Return a generator_loss hook computing {'l1': weight * mean |y - G(x)|} (y = batch.real).

    ``weight`` is lambda >= 0, 100 in the paper: the L1 term then makes most of the generator's
    loss, and the adversarial term adds the detail that L1 alone blurs away.
    """
    if not weight >= 0:
        raise ValueError(f"the L1 weight lambda must be >= 0 (100 in the paper), got {weight!r}")

    def l1_term(batch) -> dict[str, Tensor]:
        return {"l1": weight * (batch.real - batch.fake).abs().mean()}  # lambda ||y - G(x)||_1

    l1_term.__qualname__ = f"pix2pix_l1_loss(weight={weight})"  # how the config names it in checkpoints
    return l1_term


def build_pix2pix(image_size: int = 32, source_channels: int = 3, channels: int = 3, width: int = 16,
                  n_layers: int | None = None, dropout: float = 0.5) -> tuple[UNetGenerator, Pix2PixDiscriminator]:
    """Return a pix2pix (U-Net generator, conditional PatchGAN) pair, weights N(0, 0.02) as in the paper.

    The arguments are those of :class:`UNetGenerator` (``dropout``) and :class:`Pix2PixDiscriminator`
    (``n_layers``); the others go to both.
    """
    generator = UNetGenerator(image_size, source_channels, channels, width, dropout)
    discriminator = Pix2PixDiscriminator(image_size, source_channels, channels, width, n_layers)
    generator.apply(weights_init)  # DCGAN init: conv N(0, 0.02), norm scale N(1, 0.02), bias 0
    discriminator.apply(weights_init)
    return generator, discriminator


# ----------------------------------------------------------------------------
# CycleGAN: two ResNet generators, two PatchGANs, the cycle and identity terms
# ----------------------------------------------------------------------------

class CycleGANGenerator(nn.Module):
    """G_AB and G_BA in one module: forward(z, [a, b]) -> [G_BA(b), G_AB(a)] = [fake A, fake B] (z ignored).

    Args:
        image_size: the side S of both domains' images.
        channels: channels of one domain's images; the stacks [a, b] have ``2 * channels``.
        width, n_blocks, attention: those of each of the two :class:`ResnetGenerator`.
    """

    def __init__(self, image_size: int = 32, channels: int = 3, width: int = 16, n_blocks: int = 3,
                 attention: bool = False) -> None:
        super().__init__()
        self.image_size, self.channels, self.width, self.latent_dim = image_size, channels, width, 1
        self.attention = attention
        self.g_ab = ResnetGenerator(image_size, channels, width, n_blocks, attention)  # G: A -> B
        self.g_ba = ResnetGenerator(image_size, channels, width, n_blocks, attention)  # F: B -> A

    def forward(self, z: Tensor, pair: Tensor) -> Tensor:
        """Return the stack [G_BA(b), G_AB(a)] of shape (N, 2 channels, S, S)."""
        _check_input(pair, 2 * self.channels, self.image_size, self, "channel stacks [a, b] (see unpaired_pairs)")
        a, b = _split_pair(pair, self.channels)
        return torch.cat([self.g_ba(b), self.g_ab(a)], dim=1)  # [F(b), G(a)]: a fake A and a fake B


class ResnetGenerator(nn.Module):
    r"""CycleGAN's generator c7s1-w, d2w, d4w, R4w x n_blocks, u2w, uw, c7s1-3: images -> images in [-1, 1].

    With ``attention=True`` the last convolution has one more output channel, an attention map
    :math:`a = \sigma(\cdot) \in (0, 1)` per pixel, and the output is :math:`a \odot c + (1 - a) \odot x`, with
    :math:`c = \tanh(\cdot)` the repainted content and :math:`x` the input (attention-guided translation,
    Mejjati et al. 2018; Tang et al. 2019, AttentionGAN). Where :math:`a \approx 0` the input passes through
    untouched, so a translation that should change a few pixels (remove hairs) need not repaint the rest.

    Args:
        image_size: the side S, a power of two >= 8 (two stride-2 downsamplings, then two upsamplings).
        channels: channels of the input and of the output images.
        width: channels of the first 7x7 convolution (64 in the paper); the residual blocks, at
            S/4, have ``4 * width``.
        n_blocks: the number of :class:`ResidualBlock` at S/4: 6 in the paper at 128 px, 9 at
            256 px; 3 here, for 32-64 px on a CPU.
        attention: False (the paper's generator) or True (the attention-gated output above).
    """

    def __init__(self, image_size: int = 32, channels: int = 3, width: int = 16, n_blocks: int = 3,
                 attention: bool = False) -> None:
        super().__init__()
        _check_power_of_two(image_size)
        _check_width(width)
        if not isinstance(attention, bool):
            raise ValueError(f"attention must be True or False, got {attention!r}")
        self.image_size, self.channels, self.width, self.attention = image_size, channels, width, attention
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(channels, width, 7), nn.InstanceNorm2d(width),
                                   nn.ReLU()]
        for c in (width, 2 * width):  # two stride-2 downsamplings: S -> S/4
            layers += [nn.Conv2d(c, 2 * c, 3, 2, 1), nn.InstanceNorm2d(2 * c), nn.ReLU()]
        layers += [ResidualBlock(4 * width) for _ in range(n_blocks)]
        for c in (4 * width, 2 * width):  # two upsamplings: S/4 -> S
            layers += [nn.ConvTranspose2d(c, c // 2, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(c // 2), nn.ReLU()]
        # the last layer: the image (tanh), or with attention the content and one attention channel (see forward)
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, channels + int(attention), 7)]
        self.main = nn.Sequential(*layers, *([] if attention else [nn.Tanh()]))

    def forward(self, x: Tensor) -> Tensor:
        """Return the translated images, same shape as x."""
        if not self.attention:
            _check_input(x, self.channels, self.image_size, self, "images")
            return self.main(x)
        content, gate = self.content_and_attention(x)
        return gate * content + (1 - gate) * x  # a c + (1 - a) x: the input kept where a is near 0

    def content_and_attention(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Return (content c in [-1, 1], attention a in (0, 1) of shape (N, 1, S, S)) of an attention generator."""
        if not self.attention:
            raise ValueError("this generator was built without attention; build it with attention=True "
                             "(build_family('cyclegan', ..., attention=True))")
        _check_input(x, self.channels, self.image_size, self, "images")
        out = self.main(x)
        return torch.tanh(out[:, : self.channels]), torch.sigmoid(out[:, self.channels :])


class ResidualBlock(nn.Module):
    """x + (pad-conv3-IN-ReLU-pad-conv3-IN)(x), the CycleGAN generator's residual block.

    Args:
        channels: channels of x, kept by the block (reflection padding keeps the size).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels), nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        """Return x + F(x)."""
        return x + self.body(x)


class CycleGANDiscriminator(nn.Module):
    """D_A and D_B in one module: forward([a, b]) -> [D_A(a), D_B(b)] patch logits (N, 2, h, w).

    Args:
        image_size: the side S of both domains' images.
        channels: channels of one domain's images (the stacks have ``2 * channels``).
        width, n_layers: those of each of the two :class:`PatchDiscriminator`.
    """

    def __init__(self, image_size: int = 32, channels: int = 3, width: int = 16, n_layers: int | None = None) -> None:
        super().__init__()
        self.image_size, self.channels, self.width = image_size, channels, width
        self.d_a = PatchDiscriminator(image_size, channels, width, n_layers)  # real A vs F(b)
        self.d_b = PatchDiscriminator(image_size, channels, width, n_layers)  # real B vs G(a)

    def forward(self, pair: Tensor) -> Tensor:
        """Return both discriminators' patch logits side by side, shape (N, 2, h, w)."""
        _check_input(pair, 2 * self.channels, self.image_size, self, "channel stacks [a, b] (see unpaired_pairs)")
        a, b = _split_pair(pair, self.channels)
        return torch.cat([self.d_a(a), self.d_b(b)], dim=1)  # the losses' mean averages L_GAN(F, D_A), L_GAN(G, D_B)


def _split_pair(stack: Tensor, channels: int) -> tuple[Tensor, Tensor]:
    """Return (a, b) from a channel stack [a, b] of shape (N, 2 channels, S, S)."""
    return stack[:, :channels], stack[:, channels:]


def cycle_loss(weight_cycle: float = 10.0, weight_identity: float = 5.0):
    """Return a generator_loss hook computing {'cycle': ..., 'identity': ...} for a CycleGANGenerator.

    Args:
        weight_cycle: lambda_cyc >= 0, 10 in the paper.
        weight_identity: lambda_id >= 0, 0.5 lambda_cyc = 5 in the paper; 0 leaves the identity
            terms out (and saves their two extra generator passes).
    """
    if not (weight_cycle >= 0 and weight_identity >= 0):
        raise ValueError(f"the cycle and identity weights must be >= 0 (10 and 5 in the paper), "
                         f"got {weight_cycle!r} and {weight_identity!r}")

    def cycle_terms(batch) -> dict[str, Tensor]:
        model = batch.generator
        if not isinstance(model, CycleGANGenerator):
            raise ValueError(f"cycle_loss needs a CycleGANGenerator, got {type(model).__name__}")
        a, b = _split_pair(batch.real, model.channels)  # the real unpaired pair [a, b]
        fake_a, fake_b = _split_pair(batch.fake, model.channels)  # F(b), G(a)
        # lambda_cyc (||F(G(a)) - a||_1 + ||G(F(b)) - b||_1)
        terms = {"cycle": weight_cycle * ((model.g_ba(fake_b) - a).abs().mean() + (model.g_ab(fake_a) - b).abs().mean())}
        if weight_identity > 0:  # lambda_id (||G(b) - b||_1 + ||F(a) - a||_1)
            terms["identity"] = weight_identity * ((model.g_ab(b) - b).abs().mean() + (model.g_ba(a) - a).abs().mean())
        return terms

    cycle_terms.__qualname__ = f"cycle_loss(weight_cycle={weight_cycle}, weight_identity={weight_identity})"
    return cycle_terms


def unpaired_pairs(images_a: Tensor, images_b: Tensor, seed: int = 0) -> Tensor:
    """Return the channel stacks [a, b] (N, 2C, S, S) of independently shuffled A and B images (no pairing).

    ``seed`` fixes the two shuffles, so a run can be repeated.
    """
    images_a, images_b = torch.as_tensor(images_a), torch.as_tensor(images_b)
    if images_a.dim() != 4 or images_a.shape[1:] != images_b.shape[1:]:
        raise ValueError(f"A and B images must both be (N, C, S, S) with the same C and S, got "
                         f"{tuple(images_a.shape)} and {tuple(images_b.shape)}; resize them to one size")
    if len(images_a) != len(images_b):
        n = min(len(images_a), len(images_b))
        raise ValueError(f"{len(images_a)} A images and {len(images_b)} B images: give the same number of each "
                         f"(e.g. images_a[:{n}], images_b[:{n}])")
    rng = torch.Generator().manual_seed(seed)
    order_a = torch.randperm(len(images_a), generator=rng)  # two independent shuffles: a_i and b_i are unrelated
    order_b = torch.randperm(len(images_b), generator=rng)
    return torch.cat([images_a[order_a], images_b[order_b]], dim=1).float()


def translate_a_to_b(model: CycleGANGenerator, images_a: Tensor) -> Tensor:
    """Return G_AB(images_a): A images translated to domain B."""
    return _translate(model.g_ab, torch.as_tensor(images_a).float())


def translate_b_to_a(model: CycleGANGenerator, images_b: Tensor) -> Tensor:
    """Return G_BA(images_b): B images translated to domain A."""
    return _translate(model.g_ba, torch.as_tensor(images_b).float())


def attention_a_to_b(model: CycleGANGenerator, images_a: Tensor) -> Tensor:
    """Return the attention a (N, 1, S, S) of an attention-gated G_AB on images_a: where it repaints them."""
    return _translate(model.g_ab, torch.as_tensor(images_a).float(),
                      apply=lambda x: model.g_ab.content_and_attention(x)[1])


@torch.no_grad()
def _translate(network: nn.Module, images: Tensor, batch_size: int = 256, apply=None) -> Tensor:
    """Return network(images) (or ``apply(images)``) with the network in evaluation mode, in batches, as a float32
    CPU tensor (mode restored)."""
    apply = apply or network
    was_training = network.training
    network.eval()
    device = model_device(network)
    try:
        return torch.cat([apply(images[i : i + batch_size].to(device)).float().cpu()
                          for i in range(0, len(images), batch_size)])
    finally:
        network.train(was_training)


def build_cyclegan(image_size: int = 32, channels: int = 3, width: int = 16, n_blocks: int = 3,
                   n_layers: int | None = None, attention: bool = False) -> tuple[CycleGANGenerator, CycleGANDiscriminator]:
    """Return a CycleGAN (G_AB + G_BA, D_A + D_B) pair, weights N(0, 0.02) as in the paper.

    The arguments are those of :class:`CycleGANGenerator` (``n_blocks``, ``attention``) and
    :class:`CycleGANDiscriminator` (``n_layers``); the others go to both.
    """
    generator = CycleGANGenerator(image_size, channels, width, n_blocks, attention)
    discriminator = CycleGANDiscriminator(image_size, channels, width, n_layers)
    generator.apply(weights_init)  # DCGAN init: conv N(0, 0.02), norm scale N(1, 0.02), bias 0
    discriminator.apply(weights_init)
    return generator, discriminator


# ----------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------

def _check_power_of_two(image_size: int, smallest: int = 8) -> int:
    """Return log2(image_size); ValueError unless it is a power of two >= smallest."""
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < smallest or (
        image_size & (image_size - 1)
    ):
        raise ValueError(f"image_size must be a power of two >= {smallest} (e.g. 32, 64, 128), got {image_size!r}; "
                         "resize the images (load_dataset(..., size=32))")
    return int(math.log2(image_size))


def _check_width(width: int) -> None:
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive integer (channels of the first layer, e.g. 16), got {width!r}")


def _check_input(x: Tensor, channels: int, image_size: int, model: nn.Module, what: str) -> None:
    """ValueError naming the expected (N, C, S, S) shape when x does not have it."""
    if x.dim() != 4 or tuple(x.shape[1:]) != (channels, image_size, image_size):
        raise ValueError(f"{type(model).__name__} expects {what} of shape (N, {channels}, {image_size}, {image_size}), "
                         f"got {tuple(x.shape)}; build the model for the images you have "
                         f"(image_size=..., channels=...)")

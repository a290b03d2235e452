r"""Class-conditional GANs: cGAN, the projection discriminator, and a small BigGAN.

A conditional GAN learns :math:`p(x \mid y)` for a class label
:math:`y \in \{0, \dots, K-1\}` (here: the lesion class). Both networks see
:math:`y`; the engine (:func:`medgan_nb.train.train_gan`) calls
``G(z, labels)`` and ``D(x, labels)`` and gives each fake the class of a real
image of the same batch. Three ways to feed :math:`y` in, one class each:

**cGAN** (Mirza & Osindero, 2014, "Conditional Generative Adversarial Nets"):
condition both players by concatenating :math:`y` to their inputs,

.. math::
    \min_G \max_D \; \mathbb{E}_{x,y}[\log D(x \mid y)]
    + \mathbb{E}_{z,y}[\log(1 - D(G(z \mid y) \mid y))].

:class:`ConditionalGenerator` feeds :math:`[z, e(y)]` (a learned embedding
:math:`e(y) = E\,\mathrm{onehot}(y)`, i.e. a linear layer on the paper's
one-hot :math:`y`) to a DCGAN generator; :class:`ConditionalDiscriminator`
stacks :math:`K` one-hot maps (:math:`\mathrm{onehot}(y)` broadcast over the
image) onto the image channels of a DCGAN discriminator (the paper's MLPs
replaced by the DCGAN backbone of :mod:`medgan_nb.models.dcgan`).

**Projection discriminator** (Miyato & Koyama, 2018, "cGANs with Projection
Discriminator"): if :math:`D` is to estimate
:math:`\log \frac{q(y\mid x)}{p(y\mid x)} + \log\frac{q(x)}{p(x)}` with
log-linear class posteriors, its optimal form is

.. math::
    D(x, y) = \psi(\phi(x)) + \mathrm{embed}(y)^\top \phi(x),

a feature extractor :math:`\phi`, an unconditional score :math:`\psi`
(linear) and an inner product of the features with a class embedding
:math:`\mathrm{embed}(y) = V^\top \mathrm{onehot}(y)`, all with spectral
normalisation. :class:`ProjectionHead` is that formula;
:class:`ProjectionDiscriminator` puts it on the spectrally normalised DCGAN
features (global sum pooling of the last 4x4 map).

**Auxiliary classifier** (Odena, Olah & Shlens, 2017, "Conditional Image
Synthesis with Auxiliary Classifier GANs"): besides its real/fake score, D
predicts the class from :math:`\phi(x)` alone, :math:`C(\phi(x)) \in
\mathbb{R}^K`. D learns it on real images, :math:`L_D \mathrel{+}= \lambda\,
\mathrm{CE}(C(\phi(x)), y)`, and G is rewarded when its image is recognised as
the class it was asked for, :math:`L_G \mathrel{+}= \lambda\,
\mathrm{CE}(C(\phi(G(z, y))), y)` (``TrainConfig.class_weight`` is
:math:`\lambda`). The projection and BigGAN discriminators offer it
(``class_head=True``); the cGAN discriminator sees the label as input channels,
so it has no label-free features to classify from.

**BigGAN** (Brock, Donahue & Simonyan, 2019, "Large Scale GAN Training for
High Fidelity Natural Image Synthesis"), small: residual blocks in both
networks, a projection discriminator, spectral normalisation in *both* G and
D, orthogonal initialisation, the hinge loss, and in G:

* class-conditional BatchNorm, :math:`h' = (1 + \gamma(c))\,\frac{h - \mu}{\sigma} + \beta(c)`,
  with :math:`\gamma, \beta` linear in a conditioning vector :math:`c`;
* a *shared* class embedding :math:`e(y)` and a *hierarchical latent*: :math:`z`
  is split into chunks :math:`z_0, z_1, \dots, z_B`; :math:`z_0` feeds the first
  linear layer and block :math:`b` is conditioned on :math:`c_b = [e(y), z_b]`;
* the truncation trick at sampling time: :math:`z` drawn from a normal
  truncated to :math:`[-t, t]` (values outside are resampled), trading variety
  for fidelity as :math:`t` shrinks (:func:`truncated_noise`).

Left out of this small version: self-attention, cross-replica BatchNorm and
the paper's orthogonal regularisation. BigGAN trains with the hinge loss
(``TrainConfig(loss="hinge")``); the paper uses Adam with
:math:`\beta = (0, 0.999)`, a G learning rate of a quarter of D's, and an
exponential moving average of G's weights (``ema_decay``).

Reading order: one section per model, each network before the blocks it is
built of (cGAN; projection discriminator; BigGAN generator, its blocks, the
discriminator, its blocks, the truncation trick), then the builders, and last
the input checks every model shares.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as add_spectral_norm

from .dcgan import DCGANDiscriminator, DCGANGenerator, _check_image_size, _check_width, weights_init

Tensor = torch.Tensor


# ----------------------------------------------------------------------------
# cGAN (Mirza & Osindero 2014) on the DCGAN backbone
# ----------------------------------------------------------------------------

class ConditionalGenerator(nn.Module):
    """cGAN generator: G(z, y) = DCGAN generator of [z, e(y)] -> images (N, channels, S, S) in [-1, 1].

    Args:
        latent_dim: the length of z (100 as in DCGAN).
        num_classes: K, the number of classes; labels are 0..K-1 (the registry builds 7, the
            phantom lesion classes).
        image_size, width, channels, upsample: those of the DCGAN backbone
            (:class:`~medgan_nb.models.dcgan.DCGANGenerator`): side 32, 64 or 128, the width of its
            last hidden layer, image channels, ``"transposed"`` or ``"resize"``.
        embedding_dim: the length of the learned class embedding e(y) put next to z, so the
            backbone's input has ``latent_dim + embedding_dim`` numbers. 50 is a common choice, not
            the paper's (its MNIST model sends the one-hot y through a hidden layer of 1000 units):
            enough to tell the classes apart without outweighing the 100 numbers of z.
    """

    def __init__(self, latent_dim: int, num_classes: int, image_size: int = 64, width: int = 64, channels: int = 3,
                 embedding_dim: int = 50, upsample: str = "transposed") -> None:
        super().__init__()
        _check_num_classes(num_classes)
        if not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive integer (100 in the paper), got {latent_dim!r}")
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.image_size, self.width, self.channels, self.upsample = image_size, width, channels, upsample
        self.embed = nn.Embedding(num_classes, embedding_dim)  # e(y) = E onehot(y)
        self.backbone = DCGANGenerator(latent_dim + embedding_dim, image_size, width, channels, upsample)

    def forward(self, z: Tensor, labels: Tensor) -> Tensor:
        """Return G(z | y): images (N, channels, image_size, image_size) in [-1, 1]."""
        _check_latent(z, self.latent_dim, self)
        labels = check_labels(labels, len(z), self.num_classes, self, z.device)
        return self.backbone(torch.cat([z, self.embed(labels)], dim=1))  # [z, e(y)]


class ConditionalDiscriminator(nn.Module):
    """cGAN discriminator: D(x, y) = DCGAN discriminator of [x, onehot(y) maps] -> logits (N,).

    Args:
        num_classes: K; the backbone sees ``channels + K`` input channels, the image and one
            constant map per class (1 for the image's class, 0 for the others).
        image_size, width, channels: those of the DCGAN backbone
            (:class:`~medgan_nb.models.dcgan.DCGANDiscriminator`).
        spectral_norm: True for the spectrally normalised backbone (no BatchNorm).
    """

    def __init__(self, num_classes: int, image_size: int = 64, width: int = 64, channels: int = 3,
                 spectral_norm: bool = False) -> None:
        super().__init__()
        _check_num_classes(num_classes)
        self.num_classes, self.image_size, self.width, self.channels = num_classes, image_size, width, channels
        self.spectral_norm = spectral_norm
        self.backbone = DCGANDiscriminator(image_size, width, channels + num_classes, spectral_norm)

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        """Return the logits D(x | y), shape (N,)."""
        _check_images(x, self.channels, self.image_size, self)
        labels = check_labels(labels, len(x), self.num_classes, self, x.device)
        n, _, height, width = x.shape
        class_maps = F.one_hot(labels, self.num_classes).to(x.dtype)[:, :, None, None].expand(n, -1, height, width)
        return self.backbone(torch.cat([x, class_maps], dim=1))  # K extra channels: 1 for class y, 0 elsewhere


# ----------------------------------------------------------------------------
# Projection discriminator (Miyato & Koyama 2018)
# ----------------------------------------------------------------------------

class ProjectionDiscriminator(nn.Module):
    """Projection discriminator on spectrally normalised DCGAN features: images, labels -> logits (N,).

    Args:
        num_classes: K, the number of rows of the class embedding V.
        image_size, width, channels: those of the SN-DCGAN feature extractor
            (:class:`~medgan_nb.models.dcgan.DCGANDiscriminator` without its logit layer); the
            features are its last map's ``width * 2^(L-1)`` channels, summed over the 4x4 positions.

        class_head: True adds the auxiliary classifier of AC-GAN, class logits ``C(phi(x))`` of shape
            (N, K) returned by ``forward(x, labels, classes=True)`` (train with ``TrainConfig.class_weight``).

    Always spectrally normalised (Miyato & Koyama's discriminator is); ``spectral_norm`` is recorded
    as True for checkpoints.
    """

    def __init__(self, num_classes: int, image_size: int = 64, width: int = 64, channels: int = 3,
                 class_head: bool = False) -> None:
        super().__init__()
        _check_num_classes(num_classes)
        n_down = _check_image_size(image_size)
        self.num_classes, self.image_size, self.width, self.channels = num_classes, image_size, width, channels
        self.spectral_norm = True
        sn_dcgan = DCGANDiscriminator(image_size, width, channels, spectral_norm=True)
        self.phi = nn.Sequential(*list(sn_dcgan.main)[:-1])  # every layer but the logit conv: (N, C, 4, 4)
        self.head = ProjectionHead(width * 2 ** (n_down - 1), num_classes, class_head)

    @property
    def class_head(self) -> bool:
        """Whether ``forward(..., classes=True)`` also returns class logits (the AC-GAN head)."""
        return self.head.classifier is not None

    def forward(self, x: Tensor, labels: Tensor, classes: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Return the logits D(x, y), shape (N,); with ``classes`` also the class logits C(phi(x)), (N, K)."""
        _check_images(x, self.channels, self.image_size, self)
        labels = check_labels(labels, len(x), self.num_classes, self, x.device)
        features = self.phi(x).sum(dim=(2, 3))  # phi(x): global sum pooling of the 4x4 map
        return self.head(features, labels, classes)


class ProjectionHead(nn.Module):
    """D(x, y) = psi(phi(x)) + embed(y) . phi(x) on features phi(x) of shape (N, features) -> logits (N,).

    Args:
        features: the length of the feature vector phi(x) (and of every class embedding).
        num_classes: K, the number of class embeddings.

        class_head: True adds AC-GAN's auxiliary classifier C, a linear layer phi -> K class logits.

    psi and the embedding are orthogonally initialised and spectrally normalised; the class head is a plain
    linear layer (PyTorch's default initialisation), as in AC-GAN, so its logits are not capped. It reads phi(x) only,
    never the label, so it must recognise the class from the image (the concatenating cGAN discriminator
    has no such label-free features, which is why it offers no class head).
    """

    def __init__(self, features: int, num_classes: int, class_head: bool = False) -> None:
        super().__init__()
        self.psi = _orthogonal_spectral_norm(nn.Linear(features, 1))  # unconditional score psi
        self.embed = _orthogonal_spectral_norm(nn.Embedding(num_classes, features))  # rows of V: embed(y)
        self.classifier = nn.Linear(features, num_classes) if class_head else None

    def forward(self, features: Tensor, labels: Tensor, classes: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Return psi(phi) + embed(y)^T phi, shape (N,); with ``classes`` also C(phi), shape (N, K)."""
        logits = self.psi(features).squeeze(1) + (self.embed(labels) * features).sum(dim=1)
        if not classes:
            return logits
        if self.classifier is None:
            raise ValueError("this discriminator has no class head: build it with class_head=True "
                             "(build_family(name, class_head=True)) to train with TrainConfig.class_weight")
        return logits, self.classifier(features)


def _orthogonal_spectral_norm(module: nn.Module) -> nn.Module:
    """Return the layer with an orthogonal weight (bias 0) under spectral norm (BigGAN's initialisation)."""
    nn.init.orthogonal_(module.weight)
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)
    return add_spectral_norm(module)  # registering after the init: sigma(W) is estimated for this W


# ----------------------------------------------------------------------------
# BigGAN (Brock et al. 2019), small
# ----------------------------------------------------------------------------

class BigGANGenerator(nn.Module):
    """Small BigGAN generator: z (N, latent_dim), labels (N,) -> images (N, channels, S, S) in [-1, 1].

    Args:
        latent_dim: the length of z, split into B + 1 nearly equal chunks (B = log2(S) - 2
            residual blocks): z_0 feeds the linear layer, z_b conditions block b. At least B + 1;
            120 as in the paper (at 128 px), which at 64 px gives 5 chunks of 24.
        num_classes: K, the number of classes; labels are 0..K-1.
        image_size: the side S, 32, 64 or 128.
        width: the paper's channel multiplier ``ch``: the 4x4 map and the first block have
            ``2^(B-1) * width`` channels, halved by every later block down to ``width`` at S x S
            (the paper: ch = 96, multipliers 16, 16, 8, 4, 2, 1 at 128 px). 32 by default, small for
            a CPU (the registry uses 8 to 48 by budget).
        channels: channels of the images made (3 for RGB).
        embedding_dim: the length of the shared class embedding e(y) (128 in the paper); block b is
            conditioned on ``[e(y), z_b]``, ``embedding_dim + len(z_b)`` numbers.
    """

    def __init__(self, latent_dim: int, num_classes: int, image_size: int = 64, width: int = 32, channels: int = 3,
                 embedding_dim: int = 64) -> None:
        super().__init__()
        _check_num_classes(num_classes)
        n_blocks = _check_image_size(image_size)  # 4x4 -> S in log2(S) - 2 doublings
        _check_width(width)
        if not isinstance(latent_dim, int) or latent_dim < n_blocks + 1:
            raise ValueError(f"BigGAN splits z into {n_blocks + 1} chunks at image_size {image_size}: latent_dim "
                             f"must be an integer >= {n_blocks + 1}, got {latent_dim!r} (the paper uses 120 at 128 px)")
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.image_size, self.width, self.channels = image_size, width, channels
        # channel multipliers as in the paper's tables (16, 16, 8, 4, 2, 1 at 128 px), from 4x4 to S x S
        multipliers = [2 ** (n_blocks - 1)] + [2 ** (n_blocks - 1 - i) for i in range(n_blocks)]
        self.z_sizes = [len(chunk) for chunk in torch.arange(latent_dim).tensor_split(n_blocks + 1)]  # z_0..z_B
        self.shared = nn.Embedding(num_classes, embedding_dim)  # e(y), shared by every block
        nn.init.orthogonal_(self.shared.weight)
        self.first_channels = multipliers[0] * width
        self.linear = _orthogonal_spectral_norm(nn.Linear(self.z_sizes[0], self.first_channels * 4 * 4))  # z_0
        self.blocks = nn.ModuleList(
            GeneratorBlock(multipliers[b] * width, multipliers[b + 1] * width, embedding_dim + self.z_sizes[b + 1])
            for b in range(n_blocks)
        )
        self.output = nn.Sequential(  # BN - ReLU - conv3 - tanh
            nn.BatchNorm2d(width), nn.ReLU(), _sn_conv(width, channels, 3), nn.Tanh()
        )

    def forward(self, z: Tensor, labels: Tensor) -> Tensor:
        """Return G(z, y): images (N, channels, image_size, image_size) in [-1, 1]."""
        _check_latent(z, self.latent_dim, self)
        labels = check_labels(labels, len(z), self.num_classes, self, z.device)
        chunks = z.tensor_split(len(self.z_sizes), dim=1)  # hierarchical latent: z_0, z_1, ..., z_B
        shared = self.shared(labels)  # e(y)
        h = self.linear(chunks[0]).view(len(z), self.first_channels, 4, 4)
        for block, z_b in zip(self.blocks, chunks[1:]):
            h = block(h, torch.cat([shared, z_b], dim=1))  # c_b = [e(y), z_b]
        return self.output(h)


class GeneratorBlock(nn.Module):
    """BigGAN's residual up-block (paper fig. 15b): CBN-ReLU-up-conv3-CBN-ReLU-conv3, plus up-conv1 skip.

    Args:
        c_in, c_out: input and output channels.
        condition_dim: the length of the block's condition c_b = [e(y), z_b].
    """

    def __init__(self, c_in: int, c_out: int, condition_dim: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = ConditionalBatchNorm2d(c_in, condition_dim), _sn_conv(c_in, c_out, 3)
        self.norm2, self.conv2 = ConditionalBatchNorm2d(c_out, condition_dim), _sn_conv(c_out, c_out, 3)
        self.skip = _sn_conv(c_in, c_out, 1)

    def forward(self, h: Tensor, condition: Tensor) -> Tensor:
        """Return the block's output at twice the resolution of h."""
        out = F.interpolate(F.relu(self.norm1(h, condition)), scale_factor=2.0)  # nearest-neighbour x2
        out = self.conv2(F.relu(self.norm2(self.conv1(out), condition)))
        return out + self.skip(F.interpolate(h, scale_factor=2.0))


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm whose gain and bias are linear in a condition c: (1 + gamma(c)) BN(h) + beta(c).

    Args:
        num_features: the channels of h.
        condition_dim: the length of c; gamma and beta are linear maps (no bias) from it.
    """

    def __init__(self, num_features: int, condition_dim: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(num_features, affine=False)  # (h - mu) / sigma
        self.gain = _orthogonal_spectral_norm(nn.Linear(condition_dim, num_features, bias=False))  # gamma(c)
        self.bias = _orthogonal_spectral_norm(nn.Linear(condition_dim, num_features, bias=False))  # beta(c)

    def forward(self, h: Tensor, condition: Tensor) -> Tensor:
        """Return (1 + gamma(c)) BN(h) + beta(c)."""
        gain = 1 + self.gain(condition)[:, :, None, None]  # centred at 1: an untrained layer is plain BN
        return self.norm(h) * gain + self.bias(condition)[:, :, None, None]


class BigGANDiscriminator(nn.Module):
    """Small BigGAN discriminator: residual down-blocks, ReLU, sum pooling, projection -> logits (N,).

    Args:
        num_classes: K, the number of classes of the projection head.
        image_size: the side S, 32, 64 or 128.
        width: the channels of the first block, doubled by every block (w, 2w, ..., 2^(B-1) w)
            while the map halves to 4x4; a last block at 4x4 keeps them.
        channels: channels of the images judged (3 for RGB).
        class_head: True adds AC-GAN's auxiliary classifier on the pooled features (see
            :class:`ProjectionHead`); ``forward(x, labels, classes=True)`` then returns its class logits too.
    """

    def __init__(self, num_classes: int, image_size: int = 64, width: int = 32, channels: int = 3,
                 class_head: bool = False) -> None:
        super().__init__()
        _check_num_classes(num_classes)
        n_blocks = _check_image_size(image_size)
        _check_width(width)
        self.num_classes, self.image_size, self.width, self.channels = num_classes, image_size, width, channels
        # channels w, 2w, ..., 2^(B-1) w while halving S down to 4x4, then one block without downsampling
        sizes = [channels] + [width * 2**b for b in range(n_blocks)]
        blocks = [DiscriminatorBlock(sizes[b], sizes[b + 1], preactivation=b > 0) for b in range(n_blocks)]
        blocks.append(DiscriminatorBlock(sizes[-1], sizes[-1], downsample=False))
        self.blocks = nn.Sequential(*blocks)
        self.head = ProjectionHead(sizes[-1], num_classes, class_head)

    @property
    def class_head(self) -> bool:
        """Whether ``forward(..., classes=True)`` also returns class logits (the AC-GAN head)."""
        return self.head.classifier is not None

    def forward(self, x: Tensor, labels: Tensor, classes: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Return the logits D(x, y), shape (N,); with ``classes`` also the class logits, (N, K)."""
        _check_images(x, self.channels, self.image_size, self)
        labels = check_labels(labels, len(x), self.num_classes, self, x.device)
        features = F.relu(self.blocks(x)).sum(dim=(2, 3))  # phi(x): ReLU, global sum pooling
        return self.head(features, labels, classes)


class DiscriminatorBlock(nn.Module):
    """BigGAN's residual down-block (paper fig. 15c): ReLU-conv3-ReLU-conv3-avgpool, plus conv1-avgpool skip.

    Args:
        c_in, c_out: input and output channels.
        downsample: True halves the resolution (2x2 average pooling) at the end; False for the
            last block, at 4x4.
        preactivation: True applies ReLU to the input first; False for the first block, which
            sees the image itself (a ReLU would throw its negative values away).
    """

    def __init__(self, c_in: int, c_out: int, downsample: bool = True, preactivation: bool = True) -> None:
        super().__init__()
        self.downsample, self.preactivation = downsample, preactivation  # the first block sees the image: no ReLU
        self.conv1, self.conv2 = _sn_conv(c_in, c_out, 3), _sn_conv(c_out, c_out, 3)
        self.skip = _sn_conv(c_in, c_out, 1) if (c_in != c_out or downsample) else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        """Return the block's output (half the resolution of x if downsample)."""
        h = F.relu(x) if self.preactivation else x
        h = self.conv2(F.relu(self.conv1(h)))
        skip = self.skip(x)
        if self.downsample:  # average pooling commutes with the 1x1 skip convolution
            h, skip = F.avg_pool2d(h, 2), F.avg_pool2d(skip, 2)
        return h + skip


def _sn_conv(c_in: int, c_out: int, kernel: int) -> nn.Module:
    """Return a spectrally normalised, orthogonally initialised 'same' convolution (kernel 1 or 3)."""
    return _orthogonal_spectral_norm(nn.Conv2d(c_in, c_out, kernel, 1, kernel // 2))


def truncated_noise(n: int, latent_dim: int, truncation: float = 0.5, seed: int | None = None) -> Tensor:
    """Return z of shape (n, latent_dim) from N(0, I) truncated to [-truncation, truncation] (the truncation trick).

    Args:
        n, latent_dim: the shape of z.
        truncation: the threshold t > 0. Smaller t gives more typical, less varied samples;
            0.5 is a middle setting, t = 2 is nearly no truncation (95% of N(0, 1) lies in [-2, 2]).
        seed: for reproducible z; None draws from a fresh generator.
    """
    if not truncation > 0:
        raise ValueError(f"truncation must be a positive threshold t (z is kept in [-t, t]), got {truncation!r}; "
                         "BigGAN uses values between about 0.04 and 2")
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    z = torch.empty(n, latent_dim)
    # The paper resamples every value outside [-t, t]; trunc_normal_ draws from exactly that distribution
    # (the normal conditioned on [-t, t]) by inverse-CDF sampling, without the rejection loop.
    return nn.init.trunc_normal_(z, mean=0.0, std=1.0, a=-truncation, b=truncation, generator=generator)


# ----------------------------------------------------------------------------
# Builders: freshly initialised (G, D) pairs
# ----------------------------------------------------------------------------

def build_cgan(image_size: int = 64, num_classes: int = 7, latent_dim: int = 100, width: int = 64,
               channels: int = 3, upsample: str = "transposed",
               spectral_norm: bool = False) -> tuple[ConditionalGenerator, ConditionalDiscriminator]:
    """Return a cGAN (generator, discriminator) pair with DCGAN initialisation (train with loss="bce").

    The arguments are those of :class:`ConditionalGenerator` (``embedding_dim`` stays 50) and
    :class:`ConditionalDiscriminator`.
    """
    generator = ConditionalGenerator(latent_dim, num_classes, image_size, width, channels, upsample=upsample)
    discriminator = ConditionalDiscriminator(num_classes, image_size, width, channels, spectral_norm)
    generator.apply(weights_init)
    discriminator.apply(weights_init)
    return generator, discriminator


def build_projection_gan(image_size: int = 64, num_classes: int = 7, latent_dim: int = 100, width: int = 64,
                         channels: int = 3, class_head: bool = False
                         ) -> tuple[ConditionalGenerator, ProjectionDiscriminator]:
    """Return a (cGAN generator, projection discriminator) pair (train with loss="hinge").

    The arguments are those of :class:`ConditionalGenerator` and :class:`ProjectionDiscriminator`.
    """
    generator = ConditionalGenerator(latent_dim, num_classes, image_size, width, channels)
    discriminator = ProjectionDiscriminator(num_classes, image_size, width, channels, class_head)
    generator.apply(weights_init)
    discriminator.apply(weights_init)  # DCGAN N(0, 0.02) on the convolutions; the head stays orthogonal
    return generator, discriminator


def build_biggan(image_size: int = 64, num_classes: int = 7, latent_dim: int = 120, width: int = 32,
                 channels: int = 3, embedding_dim: int = 64, class_head: bool = False
                 ) -> tuple[BigGANGenerator, BigGANDiscriminator]:
    """Return a small BigGAN (generator, discriminator) pair, orthogonally initialised (train with loss="hinge").

    The arguments are those of :class:`BigGANGenerator`; the discriminator gets the same
    ``num_classes``, ``image_size``, ``width`` and ``channels``, and ``class_head`` (AC-GAN's classifier).
    """
    generator = BigGANGenerator(latent_dim, num_classes, image_size, width, channels, embedding_dim)
    discriminator = BigGANDiscriminator(num_classes, image_size, width, channels, class_head)
    return generator, discriminator


# ----------------------------------------------------------------------------
# Input checks shared by every conditional model
# ----------------------------------------------------------------------------

def check_labels(labels, batch_size: int, num_classes: int, model: nn.Module, device: torch.device) -> Tensor:
    """Return the labels as int64 (N,) on ``device``; ValueError if missing, wrong length, not integer or out of range."""
    name = type(model).__name__
    if labels is None:
        raise ValueError(f"{name} is class-conditional: call it with labels, an int64 tensor of shape (N,) "
                         f"with classes 0..{num_classes - 1} (e.g. the dataset's .labels)")
    labels = torch.as_tensor(labels, device=device)
    if labels.dtype.is_floating_point or labels.dtype == torch.bool or labels.dtype.is_complex:
        raise ValueError(f"{name} labels must be integer class indices, got dtype {labels.dtype}; use labels.long()")
    if labels.shape != (batch_size,):
        raise ValueError(f"{name} got labels of shape {tuple(labels.shape)} for a batch of {batch_size}; "
                         f"give one class label per image, shape ({batch_size},)")
    outside = (labels < 0) | (labels >= num_classes)
    if outside.any():
        bad = sorted(set(labels[outside].tolist()))
        raise ValueError(f"{name} got label(s) {bad} outside the valid range 0..{num_classes - 1} "
                         f"(num_classes={num_classes}); build the model with num_classes = the number of classes")
    return labels.long()


def _check_latent(z: Tensor, latent_dim: int, model: nn.Module) -> None:
    if z.dim() != 2 or z.shape[1] != latent_dim:
        raise ValueError(f"{type(model).__name__} expects latent vectors of shape (N, {latent_dim}), "
                         f"got {tuple(z.shape)}; draw them with torch.randn(N, {latent_dim})")


def _check_images(x: Tensor, channels: int, image_size: int, model: nn.Module) -> None:
    if x.dim() != 4 or tuple(x.shape[1:]) != (channels, image_size, image_size):
        raise ValueError(f"{type(model).__name__} expects images of shape (N, {channels}, {image_size}, {image_size}), "
                         f"got {tuple(x.shape)}; use load_dataset(..., size={image_size}) or build the model "
                         "for the images you have")


def _check_num_classes(num_classes: int) -> None:
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer (7 for the phantom lesions), got {num_classes!r}")

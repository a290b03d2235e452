r"""DCGAN: the deep convolutional GAN of Radford, Metz & Chintala (2016).

The generator maps a latent vector :math:`z \sim \mathcal N(0, I_{d_z})` to an
image :math:`G(z) \in [-1, 1]^{3\times S\times S}`; the discriminator maps an
image to one *logit* :math:`D(x)` (the probability "real" is
:math:`\sigma(D(x))`; the losses in :mod:`medgan_nb.losses` take logits).

The paper's architecture guidelines (section 3) and where each one lives here:

==============================================  ====================================================
paper                                           this file
==============================================  ====================================================
"project and reshape" :math:`z` to a 4x4 map    ``ConvTranspose2d(d_z, C_0, 4, 1, 0)`` on
                                                :math:`z` viewed as :math:`d_z\times1\times1`
                                                (a dense layer + reshape, written as a convolution
                                                as in pytorch/examples)
fractionally-strided convolutions in G          ``ConvTranspose2d(C, C/2, 4, stride 2, pad 1)``:
                                                each doubles height and width, halves channels
strided convolutions in D (no pooling)          ``Conv2d(C, 2C, 4, stride 2, pad 1)``: each halves
                                                height and width, doubles channels
batch normalisation in both networks ...        ``BatchNorm2d`` after every hidden convolution
... except the G output and the D input layer   G's last layer and D's first layer have no BatchNorm
ReLU in G, tanh on the G output                 ``ReLU`` hidden, ``Tanh`` output (images in [-1, 1])
LeakyReLU (slope 0.2) in D                      ``LeakyReLU(0.2)`` after every hidden D convolution
no fully connected hidden layers                D ends with ``Conv2d(C, 1, 4, 1, 0)`` on the 4x4 map:
                                                one logit per image, no sigmoid
weights :math:`\mathcal N(0, 0.02)`              :func:`weights_init` (BatchNorm scale
                                                :math:`\mathcal N(1, 0.02)`, bias 0)
==============================================  ====================================================

Sizes: for an image of side :math:`S \in \{32, 64, 128\}` there are
:math:`L = \log_2 S - 2` resolution-doubling steps between 4x4 and SxS. With
``width`` :math:`= w`, G's 4x4 map has :math:`C_0 = w\,2^{L-1}` channels
(512 for S=64, w=64, as in the paper's figure 1), halved at every step; D
mirrors it (:math:`w, 2w, \dots, w\,2^{L-1}`).

Two options, both off by default (the paper's network):

* ``DCGANGenerator(upsample="resize")`` -- nearest-neighbour upsampling x2
  followed by a 3x3 convolution instead of each stride-2 transposed
  convolution (Odena, Dumoulin & Olah, 2016, "Deconvolution and Checkerboard
  Artifacts", Distill). A stride-2 transposed convolution computes the
  four pixels of every 2x2 output cell (even/odd row x even/odd column) with
  four different 2x2 slices of its 4x4 kernel; unless training happens to give
  those slices equal gain, neighbouring pixels are drawn differently and the
  images show a period-2 checkerboard (and where kernel and stride do not
  divide, or at the padded border, the overlap itself is uneven). Resizing
  first and then convolving applies one and the same 3x3 kernel to every
  output pixel, so no such pattern can arise from the layer itself.
* ``DCGANDiscriminator(spectral_norm=True)`` -- every convolution weight
  divided by its largest singular value, :math:`\bar W = W / \sigma(W)`
  (Miyato, Kataoka, Koyama & Yoshida, 2018, "Spectral Normalization for
  Generative Adversarial Networks"), with :math:`\sigma(W)` estimated by one
  step of power iteration per training step
  (``torch.nn.utils.parametrizations.spectral_norm``). This bounds the
  Lipschitz constant of each layer by 1. As in the paper's spectrally
  normalised standard-CNN discriminator, the discriminator then has **no
  BatchNorm** (each convolution has a bias instead).

Reading order: the two networks first (:class:`DCGANGenerator`, then
:class:`DCGANDiscriminator`), then the one layer helper they use
(:func:`_upsample_x2`), the paper's initialisation (:func:`weights_init`),
the builder (:func:`build_dcgan`), and last the argument checks.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm as add_spectral_norm

Tensor = torch.Tensor

SUPPORTED_IMAGE_SIZES = (32, 64, 128)
UPSAMPLE_MODES = ("transposed", "resize")


class DCGANGenerator(nn.Module):
    r"""DCGAN generator: z of shape (N, latent_dim) -> images (N, channels, S, S) in [-1, 1].

    Args:
        latent_dim: :math:`d_z`, the length of the latent vector z (100 in the paper).
        image_size: the side S of the images in pixels, 32, 64 or 128; it sets the number
            :math:`L = \log_2 S - 2` of x2 upsamplings after the 4x4 map.
        width: :math:`w`, the channels of the last hidden layer (the one before the output
            layer); the 4x4 map has :math:`w\,2^{L-1}` channels, halved at every step. 64 is the
            paper's (512 channels at 4x4 for 64 px); smaller widths train faster and hold less.
        channels: channels of the images made (3 for RGB).
        upsample: ``"transposed"`` (the paper's stride-2 transposed convolutions) or ``"resize"``
            (nearest-neighbour x2 then a 3x3 convolution, no checkerboard; see the module docstring).
    """

    def __init__(
        self, latent_dim: int = 100, image_size: int = 64, width: int = 64, channels: int = 3,
        upsample: str = "transposed",
    ) -> None:
        super().__init__()
        n_up = _check_image_size(image_size)
        _check_width(width)
        _check_upsample(upsample)
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive integer (100 in the paper), got {latent_dim!r}")
        self.latent_dim = latent_dim
        self.image_size = image_size
        self.width = width
        self.channels = channels
        self.upsample = upsample  # "transposed" or "resize"; recorded in checkpoints
        c = width * 2 ** (n_up - 1)  # C_0 channels on the 4x4 map
        layers: list[nn.Module] = [
            # project and reshape: z (d_z x 1 x 1) -> C_0 x 4 x 4
            nn.ConvTranspose2d(latent_dim, c, 4, 1, 0, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(True),
        ]
        for _ in range(n_up - 1):
            # fractionally-strided convolution (or resize + conv): C x s x s -> C/2 x 2s x 2s
            layers += [*_upsample_x2(c, c // 2, upsample), nn.BatchNorm2d(c // 2), nn.ReLU(True)]
            c //= 2
        # output layer: no BatchNorm, tanh -> [-1, 1]
        layers += [*_upsample_x2(c, channels, upsample), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        """Return G(z): images (N, channels, image_size, image_size) in [-1, 1]."""
        if z.dim() == 2:
            z = z[:, :, None, None]  # (N, d_z) -> (N, d_z, 1, 1)
        if z.dim() != 4 or z.shape[1] != self.latent_dim or z.shape[2:] != (1, 1):
            raise ValueError(
                f"generator expects latent vectors of shape (N, {self.latent_dim}), got {tuple(z.shape)}; "
                f"draw them with torch.randn(N, {self.latent_dim})"
            )
        return self.main(z)


class DCGANDiscriminator(nn.Module):
    r"""DCGAN discriminator: images (N, channels, S, S) -> logits D(x) of shape (N,).

    Args:
        image_size: the side S of the images in pixels, 32, 64 or 128 (the same as the generator's).
        width: :math:`w`, the channels of the first convolution, doubled at every halving
            (:math:`w, 2w, \dots, w\,2^{L-1}`); 64 in the paper.
        channels: channels of the images judged (3 for RGB).
        spectral_norm: True divides every convolution weight by its largest singular value
            (SN-DCGAN, Miyato et al. 2018) and drops BatchNorm; False (the default) is the paper's network.
        batch_norm: False leaves out BatchNorm without adding spectral norm: the WGAN-GP critic,
            whose gradient penalty is taken per image (batch statistics would mix the images).
            With ``spectral_norm=True`` there is no BatchNorm either way.
    """

    def __init__(self, image_size: int = 64, width: int = 64, channels: int = 3, spectral_norm: bool = False,
                 batch_norm: bool = True) -> None:
        super().__init__()
        n_down = _check_image_size(image_size)
        _check_width(width)
        _check_spectral_norm(spectral_norm)
        if not isinstance(batch_norm, bool):
            raise ValueError(f"batch_norm must be True or False, got {batch_norm!r}")
        self.image_size = image_size
        self.width = width
        self.channels = channels
        self.spectral_norm = spectral_norm  # SN-DCGAN (no BatchNorm) when True; recorded in checkpoints
        # WGAN-GP's critic has no BatchNorm: the gradient penalty is per image, and batch statistics mix the images
        self.batch_norm = batch_norm and not spectral_norm

        def conv(c_in: int, c_out: int, stride: int, padding: int) -> nn.Module:
            # with spectral norm: W / sigma(W) and a bias (no BatchNorm follows to supply one)
            layer = nn.Conv2d(c_in, c_out, 4, stride, padding, bias=not self.batch_norm)
            return add_spectral_norm(layer) if spectral_norm else layer

        def normalise(c: int) -> list[nn.Module]:
            return [nn.BatchNorm2d(c)] if self.batch_norm else []

        c = width
        # input layer: strided convolution, no BatchNorm, LeakyReLU(0.2)
        layers: list[nn.Module] = [conv(channels, c, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        for _ in range(n_down - 1):
            # strided convolution: C x s x s -> 2C x s/2 x s/2
            layers += [conv(c, c * 2, 2, 1), *normalise(c * 2), nn.LeakyReLU(0.2, inplace=True)]
            c *= 2
        # 4x4 map -> one logit per image (no fully connected layer, no sigmoid)
        layers += [conv(c, 1, 1, 0)]
        self.main = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """Return the logits D(x), shape (N,)."""
        expected = (self.channels, self.image_size, self.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            given = tuple(x.shape[1:]) if x.dim() == 4 else tuple(x.shape)
            raise ValueError(
                f"discriminator expects images of shape (N, {expected[0]}, {expected[1]}, {expected[2]}) "
                f"(channels, height, width) but was given {given}; make the generator and the data produce "
                f"{expected[0]}x{expected[1]}x{expected[2]} images (e.g. load_dataset(..., size={self.image_size}) "
                f"and the same image_size for both networks), or build the discriminator for the images you have"
            )
        return self.main(x).flatten()  # (N, 1, 1, 1) -> (N,)


def _upsample_x2(in_channels: int, out_channels: int, upsample: str) -> list[nn.Module]:
    """Return the layers that map C_in x s x s to C_out x 2s x 2s: a transposed conv, or resize + conv."""
    if upsample == "transposed":  # the paper's fractionally-strided convolution
        return [nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=False)]
    # Odena et al. 2016: nearest-neighbour x2, then a 3x3 convolution (same number of taps for every pixel)
    return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=False)]


def weights_init(module: nn.Module) -> None:
    """Initialise one module in place as in the paper: conv weights N(0, 0.02); BatchNorm scale N(1, 0.02), bias 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        if parametrize.is_parametrized(module, "weight"):  # spectral norm: initialise the raw W, not W / sigma(W)
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=False)
            nn.init.normal_(module.weight, 0.0, 0.02)
            add_spectral_norm(module)  # registering runs 15 power iterations: sigma(W) of the new W
        else:
            nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def build_dcgan(
    image_size: int = 64, latent_dim: int = 100, width: int = 64, channels: int = 3,
    upsample: str = "transposed", spectral_norm: bool = False, batch_norm: bool = True,
) -> tuple[DCGANGenerator, DCGANDiscriminator]:
    """Return a freshly initialised (generator, discriminator) pair for images of side ``image_size``.

    The arguments are those of :class:`DCGANGenerator` (``latent_dim``, ``upsample``) and
    :class:`DCGANDiscriminator` (``spectral_norm``, ``batch_norm``); ``image_size``, ``width`` and
    ``channels`` go to both. Both networks are initialised with :func:`weights_init`.
    """
    generator = DCGANGenerator(latent_dim=latent_dim, image_size=image_size, width=width, channels=channels,
                               upsample=upsample)
    discriminator = DCGANDiscriminator(image_size=image_size, width=width, channels=channels,
                                       spectral_norm=spectral_norm, batch_norm=batch_norm)
    generator.apply(weights_init)
    discriminator.apply(weights_init)
    return generator, discriminator


# ----------------------------------------------------------------------------
# Argument checks (used by the two networks above and by medgan_nb.models.conditional)
# ----------------------------------------------------------------------------

def _check_image_size(image_size: int) -> int:
    """Return the number of x2 resolution steps between 4x4 and image_size (ValueError if unsupported)."""
    if image_size not in SUPPORTED_IMAGE_SIZES:
        raise ValueError(
            f"DCGAN image_size must be one of {SUPPORTED_IMAGE_SIZES}, got {image_size!r}; "
            "resize your images to 32, 64 or 128 pixels (e.g. load_dataset(..., size=64))"
        )
    return int(math.log2(image_size)) - 2


def _check_width(width: int) -> None:
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive integer (64 in the paper), got {width!r}")


def _check_upsample(upsample: str) -> None:
    if upsample not in UPSAMPLE_MODES:
        raise ValueError(
            f"upsample must be one of {UPSAMPLE_MODES}, got {upsample!r}; 'transposed' is the paper's "
            "ConvTranspose2d(4, stride 2), 'resize' is nearest-neighbour x2 then Conv2d(3x3) (no checkerboard)"
        )


def _check_spectral_norm(spectral_norm: bool) -> None:
    if not isinstance(spectral_norm, bool):
        raise ValueError(f"spectral_norm must be True or False, got {spectral_norm!r}")

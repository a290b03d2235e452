"""DCGAN models: shapes for every supported size, output range, the paper's layer rules, input checks, training."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from medgan_nb.models.dcgan import DCGANDiscriminator, DCGANGenerator, build_dcgan, weights_init
from medgan_nb.train import TrainConfig, train_gan


@pytest.mark.parametrize("image_size, width", [(32, 8), (64, 8), (128, 4)])
def test_shapes_and_output_range_for_each_size(image_size, width):
    torch.manual_seed(0)
    generator, discriminator = build_dcgan(image_size=image_size, latent_dim=16, width=width)
    z = torch.randn(5, 16) * 3  # large z pushes the tanh towards its limits
    images = generator(z)
    assert images.shape == (5, 3, image_size, image_size)
    assert images.min() >= -1.0 and images.max() <= 1.0
    assert images.std() > 0.01, "a freshly initialised generator should not output a constant image"
    logits = discriminator(images)
    assert logits.shape == (5,)
    assert torch.isfinite(logits).all()
    # G accepts the pytorch/examples layout (N, d_z, 1, 1) too
    assert torch.allclose(generator(z[:, :, None, None]), images)


def test_paper_width_gives_512_channels_at_4x4_and_mirrored_discriminator():
    generator, discriminator = build_dcgan(image_size=64, latent_dim=100, width=64)
    first = generator.main[0]
    assert isinstance(first, nn.ConvTranspose2d) and first.out_channels == 512  # the paper's 4x4x1024 is for 64px LSUN
    last_d = discriminator.main[-1]
    assert isinstance(last_d, nn.Conv2d) and last_d.in_channels == 512 and last_d.out_channels == 1


@pytest.mark.parametrize("image_size", [32, 64, 128])
def test_architecture_follows_the_paper_guidelines(image_size):
    generator = DCGANGenerator(latent_dim=8, image_size=image_size, width=4)
    discriminator = DCGANDiscriminator(image_size=image_size, width=4)
    for model in (generator, discriminator):
        kinds = {type(m) for m in model.modules()}
        assert not kinds & {nn.Linear, nn.MaxPool2d, nn.AvgPool2d}, "no pooling or fully connected layers"
    g_layers, d_layers = list(generator.main), list(discriminator.main)
    assert isinstance(g_layers[-1], nn.Tanh) and isinstance(g_layers[-2], nn.ConvTranspose2d)  # no BN at G output
    assert isinstance(d_layers[0], nn.Conv2d) and isinstance(d_layers[1], nn.LeakyReLU)  # no BN at D input
    assert all(m.negative_slope == 0.2 for m in d_layers if isinstance(m, nn.LeakyReLU))
    assert any(isinstance(m, nn.ReLU) for m in g_layers) and not any(isinstance(m, nn.LeakyReLU) for m in g_layers)
    # every hidden convolution is followed by BatchNorm
    for layers in (g_layers[:-2], d_layers[2:-1]):
        for i, module in enumerate(layers):
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                assert isinstance(layers[i + 1], nn.BatchNorm2d)
    # the number of resolution doublings is log2(S) - 2
    n_up = sum(isinstance(m, nn.ConvTranspose2d) and m.stride == (2, 2) for m in g_layers)
    assert n_up == int(math.log2(image_size)) - 2


def test_weights_init_draws_the_paper_distributions():
    torch.manual_seed(0)
    generator, discriminator = build_dcgan(image_size=64, latent_dim=100, width=32)
    conv = torch.cat([m.weight.flatten() for m in generator.modules() if isinstance(m, nn.ConvTranspose2d)])
    assert abs(conv.mean().item()) < 0.002
    assert 0.018 < conv.std().item() < 0.022  # N(0, 0.02) over ~1M weights
    scales = torch.cat([m.weight for m in discriminator.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(scales.mean().item() - 1.0) < 0.01 and 0.01 < scales.std().item() < 0.03  # N(1, 0.02)
    biases = torch.cat([m.bias for m in discriminator.modules() if isinstance(m, nn.BatchNorm2d)])
    assert torch.count_nonzero(biases) == 0
    layer = nn.Conv2d(3, 3, 3, bias=True)
    nn.init.constant_(layer.bias, 5.0)
    weights_init(layer)
    assert torch.count_nonzero(layer.bias) == 0


@pytest.mark.parametrize("bad_size", [16, 48, 256])
def test_unsupported_image_size_is_a_clear_error(bad_size):
    with pytest.raises(ValueError, match=r"32, 64, 128.*resize"):
        DCGANGenerator(image_size=bad_size)
    with pytest.raises(ValueError, match=str(bad_size)):
        DCGANDiscriminator(image_size=bad_size)


def test_discriminator_names_expected_and_given_shape():
    """The classic mismatch: a 28×28×1 generator (MNIST-style) feeding a 32×32×3 discriminator."""
    discriminator = DCGANDiscriminator(image_size=32, width=4)
    mnist_like = torch.zeros(2, 1, 28, 28)
    with pytest.raises(ValueError) as error:
        discriminator(mnist_like)
    message = str(error.value)
    assert "(N, 3, 32, 32)" in message and "(1, 28, 28)" in message
    assert "image_size" in message  # says how to fix it
    with pytest.raises(ValueError, match=r"\(N, 3, 32, 32\)"):
        discriminator(torch.zeros(3, 32, 32))  # batch dimension forgotten


def test_generator_rejects_wrong_latent_size():
    generator = DCGANGenerator(latent_dim=16, image_size=32, width=4)
    with pytest.raises(ValueError, match=r"\(N, 16\).*torch.randn"):
        generator(torch.randn(4, 100))


def test_a_few_training_steps_change_both_networks_with_finite_losses():
    torch.manual_seed(0)
    generator, discriminator = build_dcgan(image_size=32, latent_dim=16, width=8)
    before_g = [p.detach().clone() for p in generator.parameters()]
    before_d = [p.detach().clone() for p in discriminator.parameters()]
    data = torch.rand(24, 3, 32, 32) * 2 - 1
    result = train_gan(generator, discriminator, data, TrainConfig(steps=3, batch_size=8, progress=False))
    assert len(result.history) == 3
    losses = result.history["loss_d"] + result.history["loss_g"]
    assert all(math.isfinite(v) for v in losses)
    # the BCE discriminator loss starts near 2 log 2 (D cannot tell yet) and stays within sane bounds
    assert 0.5 < result.history["loss_d"][0] < 3.0
    assert all(not torch.equal(a, b) for a, b in zip(before_g, generator.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(before_d, discriminator.parameters()))


# ---- options: upsample="resize" (Odena et al. 2016) and spectral_norm=True (Miyato et al. 2018) ----

@pytest.mark.parametrize("image_size", [32, 64, 128])
@pytest.mark.parametrize("upsample, spectral_norm", [("resize", False), ("transposed", True), ("resize", True)])
def test_options_keep_the_shapes_for_each_size(image_size, upsample, spectral_norm):
    torch.manual_seed(0)
    generator, discriminator = build_dcgan(image_size=image_size, latent_dim=16, width=4,
                                           upsample=upsample, spectral_norm=spectral_norm)
    assert generator.upsample == upsample and discriminator.spectral_norm is spectral_norm
    images = generator(torch.randn(3, 16) * 3)
    assert images.shape == (3, 3, image_size, image_size)
    assert images.min() >= -1 and images.max() <= 1 and images.std() > 0.01
    logits = discriminator(images)
    assert logits.shape == (3,) and torch.isfinite(logits).all()


@pytest.mark.parametrize("image_size", [32, 64, 128])
def test_resize_generator_upsamples_with_nearest_neighbour_and_3x3_convolutions(image_size):
    generator = DCGANGenerator(latent_dim=8, image_size=image_size, width=4, upsample="resize")
    layers = list(generator.main)
    upsamplers = [m for m in layers if isinstance(m, nn.Upsample)]
    assert len(upsamplers) == int(math.log2(image_size)) - 2
    assert all(m.mode == "nearest" and m.scale_factor == 2 for m in upsamplers)
    for i, module in enumerate(layers):
        if isinstance(module, nn.Upsample):
            conv = layers[i + 1]
            assert isinstance(conv, nn.Conv2d) and conv.kernel_size == (3, 3) and conv.padding == (1, 1)
    # only the 1x1 -> 4x4 projection of z stays a transposed convolution
    assert [isinstance(m, nn.ConvTranspose2d) for m in layers].count(True) == 1


def test_spectral_norm_discriminator_has_no_batchnorm_and_unit_spectral_norm_weights():
    torch.manual_seed(0)
    _, discriminator = build_dcgan(image_size=64, latent_dim=16, width=8, spectral_norm=True)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in discriminator.modules())
    convs = [m for m in discriminator.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 5

    def largest_singular_values() -> list[float]:
        discriminator.eval()  # read W / sigma(W) without another power iteration
        values = [float(torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)) for conv in convs]
        discriminator.train()
        return values

    assert all(0.98 < value < 1.05 for value in largest_singular_values()), largest_singular_values()
    optimizer = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))  # the kit's default
    for _ in range(10):  # training moves W ...
        optimizer.zero_grad()
        discriminator(torch.randn(4, 3, 64, 64)).mean().backward()
        optimizer.step()
    with torch.no_grad():
        for _ in range(30):  # ... and the power iteration (one per forward pass) catches up
            discriminator(torch.randn(4, 3, 64, 64))
    assert all(0.98 < value < 1.1 for value in largest_singular_values()), largest_singular_values()
    raw_norms = [float(torch.linalg.matrix_norm(conv.parametrizations.weight.original.detach().flatten(1), ord=2))
                 for conv in convs]
    assert all(norm < 0.8 for norm in raw_norms), f"the raw N(0, 0.02) weights are far from unit norm: {raw_norms}"


def test_weights_init_reaches_the_raw_weight_under_spectral_norm():
    torch.manual_seed(0)
    discriminator = DCGANDiscriminator(image_size=32, width=8, spectral_norm=True)
    discriminator.apply(weights_init)
    raw = torch.cat([m.parametrizations.weight.original.flatten() for m in discriminator.modules()
                     if isinstance(m, nn.Conv2d)])
    assert 0.018 < raw.std().item() < 0.022  # N(0, 0.02), not PyTorch's default init
    discriminator.eval()
    first = discriminator.main[0]
    assert 0.9 < torch.linalg.matrix_norm(first.weight.detach().flatten(1), ord=2) < 1.1  # sigma re-estimated


def test_the_two_variants_do_not_load_into_each_other():
    plain, _ = build_dcgan(image_size=32, latent_dim=8, width=4)
    resize, _ = build_dcgan(image_size=32, latent_dim=8, width=4, upsample="resize")
    with pytest.raises(RuntimeError):
        resize.load_state_dict(plain.state_dict())
    _, sn = build_dcgan(image_size=32, latent_dim=8, width=4, spectral_norm=True)
    _, bn = build_dcgan(image_size=32, latent_dim=8, width=4)
    with pytest.raises(RuntimeError):
        bn.load_state_dict(sn.state_dict())


def test_bad_option_values_are_clear_errors():
    with pytest.raises(ValueError) as error:
        DCGANGenerator(image_size=32, upsample="bilinearx")
    message = str(error.value)
    assert "'bilinearx'" in message and "'transposed'" in message and "'resize'" in message
    with pytest.raises(ValueError, match=r"upsample.*'bilinearx'"):
        build_dcgan(image_size=32, upsample="bilinearx")
    with pytest.raises(ValueError, match=r"spectral_norm must be True or False, got 'yes'"):
        DCGANDiscriminator(image_size=32, spectral_norm="yes")


def test_a_few_training_steps_with_both_options_and_diffaugment():
    from medgan_nb.augment import DiffAugment

    torch.manual_seed(0)
    generator, discriminator = build_dcgan(image_size=32, latent_dim=16, width=8, upsample="resize",
                                           spectral_norm=True)
    before = [p.detach().clone() for p in generator.parameters()]
    data = torch.rand(24, 3, 32, 32) * 2 - 1
    result = train_gan(generator, discriminator, data,
                       TrainConfig(steps=3, batch_size=8, loss="hinge", progress=False, augment=DiffAugment()))
    assert all(math.isfinite(v) for v in result.history["loss_d"] + result.history["loss_g"])
    assert all(not torch.equal(a, b) for a, b in zip(before, generator.parameters()))

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

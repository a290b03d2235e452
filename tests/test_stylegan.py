"""StyleGAN2: shapes, (de)modulation, truncation, noise, style mixing, minibatch std, errors and a short run."""
from __future__ import annotations

import pytest
import torch

from medgan_nb.data import load_dataset
from medgan_nb.models.stylegan import ModulatedConv2d, build_stylegan, minibatch_stddev
from medgan_nb.train import TrainConfig, train_gan


def tiny(seed: int = 0, **kwargs):
    torch.manual_seed(seed)
    return build_stylegan(32, latent_dim=16, width=4, mapping_layers=2, **kwargs)


def test_shapes_and_range():
    generator, discriminator = tiny()
    images = generator(torch.randn(4, 16))
    assert images.shape == (4, 3, 32, 32) and images.min() >= -1 and images.max() <= 1
    assert generator.num_layers == 7  # 4x4: 1 layer; 8, 16, 32 px: 2 layers each
    assert discriminator(images).shape == (4,)
    generator.eval()
    assert generator(torch.randn(3, 16), truncation=0.5).shape == (3, 3, 32, 32)


def test_engine_sees_an_unconditional_generator():
    from medgan_nb.models.sampling import takes_labels

    generator, discriminator = tiny()
    assert not takes_labels(generator) and not takes_labels(discriminator)  # truncation is keyword-only


def test_demodulated_weights_have_unit_norm_per_output_channel():
    torch.manual_seed(0)
    conv = ModulatedConv2d(5, 7, 3, w_dim=6)
    styles = torch.rand(4, 5) * 3 + 0.1
    weight = conv.modulated_weight(styles)
    assert weight.shape == (4, 7, 5, 3, 3)
    norms = weight.square().sum(dim=(2, 3, 4)).sqrt()  # sqrt(sum_{i,k} w''_ijk^2) per sample and output j
    assert torch.allclose(norms, torch.ones(4, 7), atol=1e-4)
    conv.demodulate = False  # w'_ijk = s_i * scale * w_ijk
    expected = conv.scale * conv.weight[None] * styles[:, None, :, None, None]
    assert torch.allclose(conv.modulated_weight(styles), expected)


def test_grouped_convolution_equals_one_convolution_per_sample():
    torch.manual_seed(0)
    conv = ModulatedConv2d(3, 4, 3, w_dim=6)
    x, w = torch.randn(3, 3, 8, 8), torch.randn(3, 6)
    weight = conv.modulated_weight(conv.affine(w))
    per_sample = torch.cat([torch.nn.functional.conv2d(x[i : i + 1], weight[i], padding=1) for i in range(3)])
    assert torch.allclose(conv(x, w), per_sample, atol=1e-5)


def test_truncation_zero_gives_the_average_w_for_every_z():
    generator, _ = tiny()
    for _ in range(3):
        generator.training_styles(torch.randn(8, 16))  # training forward passes move w_avg away from 0
    assert generator.w_avg.abs().sum() > 0
    generator.eval()
    w = generator.map(torch.randn(5, 16), psi=0.0)
    assert torch.allclose(w, generator.w_avg.expand(5, -1))
    noise = generator.make_noise(1, seed=0)
    first = generator.generate(torch.randn(1, 16), psi=0.0, noise=noise)
    second = generator.generate(torch.randn(1, 16), psi=0.0, noise=noise)
    assert torch.allclose(first, second, atol=1e-6)
    half = generator.map(z := torch.randn(2, 16), psi=0.5)
    assert torch.allclose(half, generator.w_avg + 0.5 * (generator.map(z) - generator.w_avg), atol=1e-6)


def test_w_avg_moves_only_in_training_forward():
    generator, _ = tiny()
    generator.eval()
    generator(torch.randn(4, 16))
    assert generator.w_avg.abs().sum() == 0
    generator.train()
    generator(torch.randn(4, 16))
    assert generator.w_avg.abs().sum() > 0


def test_noise_changes_the_output_only_through_noise():
    generator, _ = tiny()
    with torch.no_grad():
        for layer in generator.layers:
            layer.noise_strength.fill_(0.3)
        z = torch.randn(2, 16)
        noise_a, noise_b = generator.make_noise(2, seed=1), generator.make_noise(2, seed=2)
        assert torch.equal(generator.generate(z, noise=noise_a), generator.generate(z, noise=noise_a))
        assert not torch.allclose(generator.generate(z, noise=noise_a), generator.generate(z, noise=noise_b))
        for layer in generator.layers:  # no noise strength: the noise maps no longer matter
            layer.noise_strength.zero_()
        assert torch.allclose(generator.generate(z, noise=noise_a), generator.generate(z, noise=noise_b))
        with pytest.raises(ValueError, match=r"noise must be a list of 7 maps"):
            generator.generate(z, noise=noise_a[:3])


def test_style_mixing_late_layers_change_less_than_early_ones():
    generator, _ = tiny()
    z, other = torch.randn(8, 16), torch.randn(8, 16)
    noise = generator.make_noise(8, seed=0)
    with torch.no_grad():
        base = generator.generate(z, noise=noise)
        coarse = generator.generate(z, mix_z=other, mix_layer=1, noise=noise)  # everything but the 4x4 from other
        fine = generator.generate(z, mix_z=other, mix_layer=generator.num_layers - 1, noise=noise)  # last layer only
        everything = generator.generate(z, mix_z=other, mix_layer=0, noise=noise)
        assert torch.allclose(everything, generator.generate(other, noise=noise), atol=1e-6)
    assert (fine - base).abs().mean() < (coarse - base).abs().mean()
    assert (fine - base).abs().mean() > 0


def test_training_style_mixing_switches_w_at_one_layer():
    generator, _ = tiny(mixing_prob=1.0)
    torch.manual_seed(3)
    z = torch.randn(4, 16)
    ws = generator.training_styles(z)
    own = generator.map(z)
    same = [torch.allclose(ws[:, layer], own) for layer in range(generator.num_layers)]
    cutoff = same.index(False)
    assert cutoff >= 1 and all(same[:cutoff]) and not any(same[cutoff:])
    assert torch.allclose(ws[:, cutoff:], ws[:, cutoff : cutoff + 1].expand_as(ws[:, cutoff:]))  # one second w


def test_mix_layer_out_of_range_is_a_clear_error():
    generator, _ = tiny()
    z = torch.randn(2, 16)
    with pytest.raises(ValueError, match=r"mix_layer 7 is out of range.*valid indices are 0\.\.6"):
        generator.generate(z, mix_z=z, mix_layer=7)
    with pytest.raises(ValueError, match=r"mix_layer -1 is out of range"):
        generator.generate(z, mix_z=z, mix_layer=-1)
    with pytest.raises(ValueError, match="needs both mix_z"):
        generator.generate(z, mix_z=z)
    with pytest.raises(ValueError, match=r"expects latent vectors of shape \(N, 16\), got \(2, 8\)"):
        generator.generate(torch.randn(2, 8))
    with pytest.raises(ValueError, match=r"image_size must be a power of two from 8 to 256.*got 48"):
        build_stylegan(48)


def test_minibatch_stddev():
    x = torch.randn(8, 3, 4, 4)
    out = minibatch_stddev(x, group_size=4)
    assert out.shape == (8, 4, 4, 4) and torch.equal(out[:, :3], x)
    groups = x.view(4, 2, 3, 4, 4)  # sample g*2 + m is member g of group m
    expected = groups.std(dim=0, unbiased=False).mean(dim=(1, 2, 3))
    assert torch.allclose(out[0, 3, 0, 0], expected[0], atol=1e-4) and torch.allclose(out[1, 3], expected[1].expand(4, 4),
                                                                                   atol=1e-4)
    same = minibatch_stddev(torch.ones(6, 2, 4, 4))  # no variety: the extra feature is ~0 (group size 3 divides 6)
    assert same[:, 2].abs().max() < 1e-3


def test_discriminator_sees_the_batch():
    _, discriminator = tiny()
    x = torch.randn(4, 3, 32, 32)
    varied = x.clone()
    varied[1:] = torch.randn(3, 3, 32, 32) * 3
    assert not torch.allclose(discriminator(x)[0], discriminator(varied)[0])  # same image 0, other company


def test_training_moves_the_samples():
    data = load_dataset("phantom", size=32, n=256, seed=0, progress=False)
    generator, discriminator = tiny()
    z, noise = torch.randn(16, 16), generator.make_noise(16, seed=0)
    with torch.no_grad():
        before = generator.generate(z, noise=noise)
    result = train_gan(generator, discriminator, data.images,
                       TrainConfig(steps=30, batch_size=16, loss="bce", lr_g=2e-3, lr_d=2e-3, betas=(0.0, 0.99),
                                   r1_gamma=0.1, r1_every=4, ema_decay=0.99, progress=False))
    for column in ("loss_d", "loss_g"):
        assert all(torch.isfinite(torch.tensor(result.history[column]))), column
    with torch.no_grad():
        after = result.generator.generate(z, noise=noise)
    assert (after - before).abs().mean() > 0.05
    assert result.ema_generator.w_avg.abs().sum() > 0  # w_avg is carried by the weight average (EMA)

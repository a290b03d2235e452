"""Progressive growing: stages and fade-in, equalised learning rate, the schedule, errors and a short run."""
from __future__ import annotations

import math

import pytest
import torch

from medgan_nb.data import load_dataset
from medgan_nb.models.dcgan import build_dcgan
from medgan_nb.models.progressive import EqualizedConv2d, build_progressive, progressive_schedule
from medgan_nb.models.sampling import sample_images
from medgan_nb.train import TrainConfig, train_gan


def tiny(seed: int = 0, image_size: int = 32):
    torch.manual_seed(seed)
    return build_progressive(image_size, width=4, latent_dim=16)


def test_full_size_output_at_every_stage():
    generator, discriminator = tiny()
    z = torch.randn(4, 16)
    for resolution in (4, 8, 16, 32):
        for alpha in (0.0, 0.5, 1.0):
            generator.set_stage(resolution, alpha)
            discriminator.set_stage(resolution, alpha)
            images = generator(z)
            assert images.shape == (4, 3, 32, 32) and images.min() >= -1 and images.max() <= 1
            assert discriminator(images).shape == (4,)
    generator.set_stage(8, 1.0)
    images = generator(z)  # an 8x8 image shown at 32 px: constant 4x4 pixel blocks
    assert torch.equal(images, images[:, :, ::4, ::4].repeat_interleave(4, 2).repeat_interleave(4, 3))


def test_alpha_zero_is_the_previous_stage_and_alpha_one_the_new_block_only():
    generator, discriminator = tiny()
    z, x = torch.randn(4, 16), torch.rand(4, 3, 32, 32) * 2 - 1
    generator.set_stage(8, 1.0)
    discriminator.set_stage(8, 1.0)
    with torch.no_grad():
        g_new, d_new = generator(z), discriminator(x)
        generator.to_rgb[0].weight.add_(1.0)  # the old stage's output layers no longer matter at alpha = 1
        discriminator.from_rgb[0].weight.add_(1.0)
        assert torch.equal(generator(z), g_new) and torch.equal(discriminator(x), d_new)
        generator.set_stage(8, 0.5)
        discriminator.set_stage(8, 0.5)
        assert not torch.allclose(generator(z), g_new) and not torch.allclose(discriminator(x), d_new)
        generator.set_stage(8, 0.0)  # alpha = 0: exactly the 4x4 stage
        discriminator.set_stage(8, 0.0)
        g_faded, d_faded = generator(z), discriminator(x)
        generator.set_stage(4, 1.0)
        discriminator.set_stage(4, 1.0)
        assert torch.allclose(g_faded, generator(z), atol=1e-6)
        assert torch.allclose(d_faded, discriminator(x), atol=1e-5)


def test_half_way_fade_is_the_average_of_old_and_new():
    generator, _ = tiny()
    z = torch.randn(2, 16)
    with torch.no_grad():
        outputs = {}
        for alpha in (0.0, 0.5, 1.0):
            generator.set_stage(16, alpha)
            outputs[alpha] = torch.atanh(generator(z).clamp(-0.999999, 0.999999))  # before the tanh
    assert torch.allclose(outputs[0.5], (outputs[0.0] + outputs[1.0]) / 2, atol=1e-3)


def test_equalized_learning_rate_scales_weights_at_run_time():
    torch.manual_seed(0)
    conv = EqualizedConv2d(8, 4, 3, padding=1)
    assert conv.scale == pytest.approx(math.sqrt(2 / (8 * 9)))  # He's constant sqrt(2 / fan_in)
    assert abs(float(conv.weight.detach().std()) - 1) < 0.2  # stored weights ~ N(0, 1)
    x = torch.randn(2, 8, 5, 5)
    expected = torch.nn.functional.conv2d(x, conv.weight * conv.scale, conv.bias, padding=1)
    assert torch.allclose(conv(x), expected)


def test_schedule_walks_resolutions_and_alpha():
    schedule = progressive_schedule(32, fade_fraction=0.5)
    stages = [schedule.stage_at(step, 16) for step in range(1, 17)]
    assert stages == [(4, 1.0)] * 4 + [(8, 0.0), (8, 0.5), (8, 1.0), (8, 1.0), (16, 0.0), (16, 0.5), (16, 1.0),
                                       (16, 1.0), (32, 0.0), (32, 0.5), (32, 1.0), (32, 1.0)]
    generator, discriminator = tiny()
    schedule(6, 16, generator, discriminator)
    assert (generator.resolution, generator.alpha) == (8, 0.5) == (discriminator.resolution, discriminator.alpha)


def test_bad_stages_and_schedules_are_clear_errors():
    generator, discriminator = tiny(image_size=16)
    with pytest.raises(ValueError, match=r"resolution must be a power of two from 4 to 16.*got 32"):
        generator.set_stage(32)
    with pytest.raises(ValueError, match=r"resolution must be a power of two from 4 to 16.*got 12"):
        discriminator.set_stage(12)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\].*got 1.5"):
        generator.set_stage(8, 1.5)
    with pytest.raises(ValueError, match=r"progressive_schedule image_size must be a power of two from 8.*got 48"):
        progressive_schedule(48)
    with pytest.raises(ValueError, match=r"progressive_schedule image_size must be a power of two from 8.*got 4"):
        progressive_schedule(4)
    with pytest.raises(ValueError, match=r"grows to 32 px but ProgressiveGenerator reaches only max_resolution 16"):
        progressive_schedule(32)(1, 10, generator, discriminator)
    dcgan_g, dcgan_d = build_dcgan(32, latent_dim=8, width=4)
    with pytest.raises(ValueError, match=r"needs progressive models.*got DCGANGenerator"):
        progressive_schedule(32)(1, 10, dcgan_g, dcgan_d)


def test_training_grows_and_moves_the_samples():
    data = load_dataset("phantom", size=32, n=256, seed=0, progress=False)
    generator, discriminator = tiny()
    generator.set_stage(32, 1.0)
    z = torch.randn(16, 16)
    before = sample_images(generator, z)
    generator.set_stage(4, 1.0)
    seen = []
    result = train_gan(generator, discriminator, data.images,
                       TrainConfig(steps=40, batch_size=16, loss="lsgan", lr_g=1e-3, lr_d=1e-3, betas=(0.0, 0.99),
                                   schedule=progressive_schedule(32), progress=False),
                       callbacks=[lambda step, state: seen.append(state.generator.resolution)])
    assert seen[0] == 4 and seen[-1] == 32 and sorted(set(seen)) == [4, 8, 16, 32]
    for column in ("loss_d", "loss_g"):
        assert all(torch.isfinite(torch.tensor(result.history[column]))), column
    after = sample_images(result.generator, z)
    assert (after - before).abs().mean() > 0.05


def test_wgan_gp_runs_through_the_fade():
    data = load_dataset("phantom", size=16, n=64, seed=0, progress=False)
    generator, discriminator = tiny(image_size=16)
    result = train_gan(generator, discriminator, data.images,
                       TrainConfig(steps=6, batch_size=8, loss="wasserstein", gp_weight=10.0, lr_g=1e-3, lr_d=1e-3,
                                   betas=(0.0, 0.99), schedule=progressive_schedule(16), progress=False))
    assert all(torch.isfinite(torch.tensor(result.history["loss_d"])))

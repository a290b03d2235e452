"""SPADE: shapes, mask checks, the spatially-adaptive normalisation itself, and a short training run."""
from __future__ import annotations

import pytest
import torch

from medgan_nb.data import load_dataset
from medgan_nb.models.sampling import sample_images
from medgan_nb.models.spade import SPADE, MultiScaleDiscriminator, build_spade, mask_condition
from medgan_nb.train import TrainConfig, train_gan


def tiny(seed: int = 0):
    torch.manual_seed(seed)
    return build_spade(32, width=4, latent_dim=8, hidden=8)


def random_masks(n: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    return (torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed)) > 0.5).float()


def test_shapes_and_range():
    generator, discriminator = tiny()
    masks = random_masks(4)
    fake = generator(torch.randn(4, 8), masks)
    assert fake.shape == (4, 3, 32, 32) and fake.min() >= -1 and fake.max() <= 1
    logits = discriminator(fake, masks)
    assert logits.shape == (4, 2, 6, 6)  # channel 0: full-size PatchGAN, channel 1: half-size one (upsampled)
    half = torch.nn.functional.avg_pool2d(torch.cat([fake, masks], 1), 3, 2, 1, count_include_pad=False)
    coarse = discriminator.coarse(half)
    assert coarse.shape == (4, 1, 2, 2)
    assert torch.equal(logits[:, 1:], coarse.repeat_interleave(3, dim=2).repeat_interleave(3, dim=3))
    assert generator.mask_channels == 1 and discriminator.mask_channels == 1  # checked when resuming


def test_output_depends_on_the_mask():
    generator, _ = tiny()
    generator.eval()
    z = torch.randn(2, 8)
    lesion = torch.zeros(2, 1, 32, 32)
    lesion[:, :, 8:24, 8:24] = 1
    with torch.no_grad():
        empty, with_lesion = generator(z, torch.zeros(2, 1, 32, 32)), generator(z, lesion)
    change = (with_lesion - empty).abs().mean(dim=(0, 1))  # per pixel
    assert change.max() > 1e-3
    assert change[12:20, 12:20].mean() > change[0:3, 0:3].mean()  # most of it inside the lesion, not the corners


def test_spade_is_plain_batch_norm_when_gamma_and_beta_are_zero():
    torch.manual_seed(0)
    layer = SPADE(6, mask_channels=1, hidden=4)
    h, mask = torch.randn(5, 6, 8, 8), random_masks(5, 32)
    for conv in (layer.gamma, layer.beta):
        torch.nn.init.zeros_(conv.weight)
        torch.nn.init.zeros_(conv.bias)
    expected = torch.nn.functional.batch_norm(h, None, None, training=True, eps=layer.norm.eps)
    assert torch.allclose(layer(h, mask), expected, atol=1e-5)
    torch.nn.init.constant_(layer.beta.bias, 0.5)  # a shift predicted from the mask moves every pixel
    assert torch.allclose(layer(h, mask), expected + 0.5, atol=1e-5)


def test_spade_modulation_is_local():
    """A mask change in one corner changes the SPADE layer's output only near that corner (3x3 convolutions)."""
    torch.manual_seed(0)
    layer = SPADE(4, mask_channels=1, hidden=4).eval()
    h, mask = torch.randn(1, 4, 16, 16), torch.zeros(1, 1, 16, 16)
    changed = mask.clone()
    changed[:, :, :3, :3] = 1
    difference = (layer(h, changed) - layer(h, mask)).abs().sum(dim=(0, 1))
    assert difference[:3, :3].min() > 0
    assert difference[6:, :].max() == 0 and difference[:, 6:].max() == 0  # two 3x3 convs reach 2 pixels further


def test_bad_masks_are_clear_errors():
    generator, discriminator = tiny()
    z = torch.randn(2, 8)
    with pytest.raises(ValueError, match=r"SPADEGenerator expects masks of shape \(N, 1, 32, 32\), got \(2, 1, 16, 16\)"
                       r".*resize the masks"):
        generator(z, random_masks(2, 16))
    with pytest.raises(ValueError, match=r"expects masks of shape \(N, 1, 32, 32\), got \(2, 32, 32\).*mask_condition"):
        generator(z, torch.zeros(2, 32, 32))
    with pytest.raises(ValueError, match=r"binary masks with values in \{0, 1\}, got values -1, 1;.*\(mask > 0\)\.float\(\)"):
        generator(z, random_masks(2) * 2 - 1)
    with pytest.raises(ValueError, match=r"MultiScaleDiscriminator expects binary masks.*got values 0, 0.5"):
        discriminator(torch.zeros(2, 3, 32, 32), random_masks(2) * 0.5)
    with pytest.raises(ValueError, match=r"latent vectors of shape \(2, 8\) for 2 masks, got \(2, 5\)"):
        generator(torch.randn(2, 5), random_masks(2))
    with pytest.raises(ValueError, match=r"masks must have shape \(N, S, S\) or \(N, 1, S, S\), got \(2, 3, 8, 8\)"):
        mask_condition(torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"image_size must be a power of two >= 16.*got 8"):
        MultiScaleDiscriminator(8)


def test_mask_condition_from_dataset_masks():
    masks = torch.zeros(3, 8, 8, dtype=torch.bool)
    masks[0, 2:4, 2:4] = True
    condition = mask_condition(masks)
    assert condition.shape == (3, 1, 8, 8) and condition.dtype == torch.float32
    assert condition.sum() == 4 and condition[0, 0, 2, 2] == 1


def test_training_moves_the_samples():
    data = load_dataset("phantom", size=32, n=256, seed=0, progress=False)
    masks = mask_condition(data.masks)
    torch.manual_seed(0)
    generator, discriminator = build_spade(32, width=8, latent_dim=8, hidden=16)
    z = torch.randn(16, 8, generator=torch.Generator().manual_seed(1))
    before = sample_images(generator, z, masks[:16])
    result = train_gan(generator, discriminator, data.images,
                       TrainConfig(steps=40, batch_size=16, loss="lsgan", progress=False), labels=masks)
    for column in ("loss_d", "loss_g"):
        assert all(torch.isfinite(torch.tensor(result.history[column]))), column
    after = sample_images(result.generator, z, masks[:16])
    assert (after - before).abs().mean() > 0.05

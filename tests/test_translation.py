"""pix2pix and CycleGAN: shapes, the PatchGAN's receptive field, the L1 / cycle hooks, training and exact resume."""
from __future__ import annotations

import pytest
import torch

from medgan_nb.data import load_dataset
from medgan_nb.models.sampling import sample_images
from medgan_nb.models.translation import (
    CycleGANGenerator,
    PatchDiscriminator,
    UNetGenerator,
    build_cyclegan,
    build_pix2pix,
    cycle_loss,
    patch_receptive_field,
    pix2pix_l1_loss,
    translate_a_to_b,
    translate_b_to_a,
    unpaired_pairs,
)
from medgan_nb.train import TrainConfig, train_gan
from medgan_nb.train.config import GeneratorBatch


@pytest.fixture(scope="module")
def phantom():
    return load_dataset("phantom", size=32, n=256, seed=0, progress=False)


def masks_of(dataset) -> torch.Tensor:
    return dataset.masks[:, None].float()  # (N, 1, S, S) in {0, 1}


def quiet(**kwargs) -> TrainConfig:
    return TrainConfig(progress=False, **kwargs)


def early_and_late(values, k: int = 5) -> tuple[float, float]:
    return sum(values[:k]) / k, sum(values[-k:]) / k


# ---------------------------------------------------------------------------- pix2pix

def test_pix2pix_shapes_and_range():
    torch.manual_seed(0)
    generator, discriminator = build_pix2pix(32, source_channels=1, width=8)
    source = (torch.rand(4, 1, 32, 32) > 0.5).float()
    fake = generator(torch.randn(4, 1), source)
    assert fake.shape == (4, 3, 32, 32)
    assert fake.min() >= -1 and fake.max() <= 1
    assert discriminator(fake, source).shape == (4, 1, 6, 6)  # 32 -> 16 -> 8 -> 7 -> 6 patch logits
    big = PatchDiscriminator(64, 3, width=8)  # three stride-2 layers at 64 px: the paper's 70x70 patches
    assert big.receptive_field == 70 and big(torch.zeros(2, 3, 64, 64)).shape == (2, 1, 6, 6)


def test_patch_logit_sees_exactly_its_receptive_field():
    torch.manual_seed(0)
    critic = PatchDiscriminator(64, 3, width=4, n_layers=2)
    for index, layer in enumerate(critic.main):  # instance norm mixes in whole-image statistics: drop it here
        if isinstance(layer, torch.nn.InstanceNorm2d):
            critic.main[index] = torch.nn.Identity()
    x = torch.randn(1, 3, 64, 64, requires_grad=True)
    logits = critic(x)
    logits[0, 0, logits.shape[2] // 2, logits.shape[3] // 2].backward()
    rows = x.grad.abs().sum(dim=(0, 1, 3)).nonzero()
    touched = int(rows.max() - rows.min() + 1)  # input rows that influence one logit
    assert touched <= patch_receptive_field(2) == 34
    assert touched > patch_receptive_field(1) == 16


def test_unet_noise_is_dropout_in_training_only():
    torch.manual_seed(0)
    generator, _ = build_pix2pix(32, source_channels=1, width=8)
    source = (torch.rand(4, 1, 32, 32) > 0.5).float()
    generator.train()
    assert not torch.equal(generator(torch.randn(4, 1), source), generator(torch.randn(4, 1), source))
    first = sample_images(generator, torch.randn(4, 1), source)  # eval mode: dropout off, z ignored
    second = sample_images(generator, torch.randn(4, 1), source)
    assert torch.equal(first, second)
    assert generator.training  # mode restored


def test_pix2pix_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match=r"image_size must be a power of two >= 8.*got 30"):
        build_pix2pix(30)
    generator, discriminator = build_pix2pix(32, source_channels=1, width=4)
    with pytest.raises(ValueError, match=r"UNetGenerator expects source images of shape \(N, 1, 32, 32\), got \(2, 3, 32, 32\)"):
        generator(torch.randn(2, 1), torch.zeros(2, 3, 32, 32))
    with pytest.raises(ValueError, match=r"Pix2PixDiscriminator expects images of shape \(N, 3, 32, 32\), got \(2, 3, 16, 16\)"):
        discriminator(torch.zeros(2, 3, 16, 16), torch.zeros(2, 1, 32, 32))
    with pytest.raises(ValueError, match=r"n_layers must be an integer from 1 to 3 at image_size 32.*got 4"):
        PatchDiscriminator(32, 3, n_layers=4)
    with pytest.raises(ValueError, match=r"L1 weight lambda must be >= 0.*got -1"):
        pix2pix_l1_loss(-1)


def test_l1_hook_is_lambda_times_mean_absolute_error():
    real = torch.zeros(2, 3, 4, 4)
    fake = torch.full((2, 3, 4, 4), 0.25)
    fake[0] = -0.5
    batch = GeneratorBatch(fake=fake, real=real, z=torch.zeros(2, 1), condition=None, generator=None,
                           discriminator=None, step=1)
    terms = pix2pix_l1_loss(100.0)(batch)
    assert set(terms) == {"l1"}
    assert terms["l1"].item() == pytest.approx(100 * (0.5 + 0.25) / 2)


def test_pix2pix_trains_and_l1_falls(phantom):
    torch.manual_seed(0)
    generator, discriminator = build_pix2pix(32, source_channels=1, width=8)
    sources, targets = phantom.images.mean(dim=1, keepdim=True), phantom.images  # colourise grey images

    def l1_of(model) -> float:  # mean |y - G(x)| of the whole set, in evaluation mode (no dropout)
        return float((sample_images(model, torch.zeros(len(sources), 1), sources) - targets).abs().mean())

    before = l1_of(generator)
    result = train_gan(generator, discriminator, targets,
                       quiet(steps=60, batch_size=16, loss="lsgan", generator_loss=pix2pix_l1_loss(100.0)),
                       labels=sources)
    history = result.history
    for column in ("loss_d", "loss_g", "loss_l1"):
        assert all(torch.isfinite(torch.tensor(history[column]))), column
    first, last = early_and_late(history["loss_l1"], k=10)  # per-batch values: skin tones vary a lot
    assert last < first, (first, last)
    assert l1_of(result.generator) < 0.9 * before


def test_pix2pix_sources_of_another_length_are_a_clear_error(phantom):
    generator, discriminator = build_pix2pix(32, source_channels=1, width=4)
    with pytest.raises(ValueError, match=r"labels for .* images; give one class label \(or mask\) per image"):
        train_gan(generator, discriminator, phantom.images, quiet(steps=1, batch_size=8),
                  labels=masks_of(phantom)[:-3])


def test_pix2pix_resume_continues_exactly(phantom, tmp_path):
    """4 steps straight == 2 steps, checkpoint, 2 more after resume (dropout, batch norm, Adam), tensor for tensor."""
    images, sources = phantom.images[:48], masks_of(phantom)[:48]
    settings = dict(batch_size=8, loss="lsgan", generator_loss=pix2pix_l1_loss(100.0))

    def models(seed: int):
        torch.manual_seed(seed)
        return build_pix2pix(32, source_channels=1, width=4)

    straight = train_gan(*models(0), images, quiet(steps=4, **settings), labels=sources)
    first = train_gan(*models(0), images, quiet(steps=2, checkpoint_dir=str(tmp_path), **settings), labels=sources)
    resumed = train_gan(*models(7), images, quiet(steps=4, **settings), labels=sources, resume=first.checkpoint)
    for name in ("generator", "discriminator"):
        expected, got = getattr(straight, name).state_dict(), getattr(resumed, name).state_dict()
        assert expected.keys() == got.keys()
        for key in expected:
            assert torch.equal(expected[key], got[key]), f"{name}.{key} differs after resume"
    for column in ("loss_d", "loss_g", "loss_l1"):
        assert straight.history[column] == resumed.history[column], column
    assert not torch.equal(first.generator.state_dict()["down.0.1.weight"],
                           straight.generator.state_dict()["down.0.1.weight"])


# ---------------------------------------------------------------------------- CycleGAN

def test_cyclegan_shapes_and_range():
    torch.manual_seed(0)
    generator, discriminator = build_cyclegan(32, width=4, n_blocks=1)
    pair = torch.rand(3, 6, 32, 32) * 2 - 1
    fake = generator(torch.randn(3, 1), pair)
    assert fake.shape == (3, 6, 32, 32) and fake.min() >= -1 and fake.max() <= 1
    a, b = pair[:, :3], pair[:, 3:]
    assert torch.equal(fake[:, :3], generator.g_ba(b)) and torch.equal(fake[:, 3:], generator.g_ab(a))
    logits = discriminator(pair)
    assert logits.shape == (3, 2, 6, 6)
    assert torch.equal(logits[:, :1], discriminator.d_a(a)) and torch.equal(logits[:, 1:], discriminator.d_b(b))


def test_unpaired_pairs_shuffles_each_domain_independently():
    images_a = torch.arange(20.0).view(20, 1, 1, 1).expand(20, 3, 4, 4)
    images_b = -images_a
    stack = unpaired_pairs(images_a, images_b, seed=1)
    assert stack.shape == (20, 6, 4, 4)
    index_a, index_b = stack[:, 0, 0, 0].long(), (-stack[:, 3, 0, 0]).long()
    assert sorted(index_a.tolist()) == list(range(20)) and sorted(index_b.tolist()) == list(range(20))
    assert (index_a != index_b).sum() > 10  # a_i and b_i are not the original pairs
    assert torch.equal(stack, unpaired_pairs(images_a, images_b, seed=1))


def test_cyclegan_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match=r"20 A images and 15 B images.*images_a\[:15\], images_b\[:15\]"):
        unpaired_pairs(torch.zeros(20, 3, 8, 8), torch.zeros(15, 3, 8, 8))
    with pytest.raises(ValueError, match=r"same C and S, got \(4, 3, 8, 8\) and \(4, 3, 16, 16\)"):
        unpaired_pairs(torch.zeros(4, 3, 8, 8), torch.zeros(4, 3, 16, 16))
    generator = CycleGANGenerator(32, width=4, n_blocks=1)
    with pytest.raises(ValueError, match=r"expects channel stacks \[a, b\].*\(N, 6, 32, 32\), got \(2, 3, 32, 32\)"):
        generator(torch.randn(2, 1), torch.zeros(2, 3, 32, 32))
    batch = GeneratorBatch(fake=torch.zeros(1, 6, 32, 32), real=torch.zeros(1, 6, 32, 32), z=torch.zeros(1, 1),
                           condition=None, generator=UNetGenerator(32, width=4), discriminator=None, step=1)
    with pytest.raises(ValueError, match="cycle_loss needs a CycleGANGenerator, got UNetGenerator"):
        cycle_loss()(batch)
    with pytest.raises(ValueError, match=r"weights must be >= 0.*got -1"):
        cycle_loss(-1)


def test_cycle_hook_terms():
    torch.manual_seed(0)
    generator, _ = build_cyclegan(32, width=4, n_blocks=1)
    pair = torch.rand(2, 6, 32, 32) * 2 - 1
    fake = generator(torch.zeros(2, 1), pair)
    batch = GeneratorBatch(fake=fake, real=pair, z=torch.zeros(2, 1), condition=pair, generator=generator,
                           discriminator=None, step=1)
    terms = cycle_loss(10.0, 5.0)(batch)
    a, b = pair[:, :3], pair[:, 3:]
    cycle = (generator.g_ba(generator.g_ab(a)) - a).abs().mean() + (generator.g_ab(generator.g_ba(b)) - b).abs().mean()
    identity = (generator.g_ab(b) - b).abs().mean() + (generator.g_ba(a) - a).abs().mean()
    assert terms["cycle"].item() == pytest.approx(10 * cycle.item(), rel=1e-5)
    assert terms["identity"].item() == pytest.approx(5 * identity.item(), rel=1e-5)
    assert set(cycle_loss(10.0, 0.0)(batch)) == {"cycle"}


def test_cyclegan_trains_and_cycle_loss_falls(phantom):
    torch.manual_seed(0)
    flipped = phantom.images.flip(3)  # domain B: mirrored lesions (a known, invertible translation)
    pairs = unpaired_pairs(phantom.images, flipped, seed=0)
    generator, discriminator = build_cyclegan(32, width=4, n_blocks=1)
    result = train_gan(generator, discriminator, pairs,
                       quiet(steps=40, batch_size=8, loss="lsgan", generator_loss=cycle_loss(10.0, 5.0)),
                       labels=pairs)
    history = result.history
    for column in ("loss_d", "loss_g", "loss_cycle", "loss_identity"):
        assert all(torch.isfinite(torch.tensor(history[column]))), column
    first, last = early_and_late(history["loss_cycle"])
    assert last < 0.85 * first, (first, last)
    translated = translate_a_to_b(result.generator, phantom.images[:4])
    assert translated.shape == (4, 3, 32, 32) and result.generator.training
    assert torch.equal(translate_b_to_a(result.generator, flipped[:4]),
                       result.generator.eval().g_ba(flipped[:4]).detach())


def test_attention_generator_keeps_the_input_where_its_attention_is_zero_and_repaints_where_it_is_one():
    """a c + (1 - a) x: with the attention channel's bias pushed down G returns x, pushed up it returns tanh content."""
    torch.manual_seed(0)
    generator = CycleGANGenerator(32, width=4, n_blocks=1, attention=True).g_ab
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    last = generator.main[-1]
    assert isinstance(last, torch.nn.Conv2d) and last.out_channels == 4  # three content channels and one attention
    content, gate = generator.content_and_attention(x)
    assert content.shape == (2, 3, 32, 32) and gate.shape == (2, 1, 32, 32)
    assert torch.allclose(generator(x), gate * content + (1 - gate) * x)
    with torch.no_grad():
        last.bias[3] = -60.0  # attention sigmoid(-60) ~ 0: nothing repainted
        assert torch.allclose(generator(x), x, atol=1e-6)
        last.bias[3] = 60.0  # attention ~ 1: every pixel repainted
        assert torch.allclose(generator(x), torch.tanh(generator.main(x)[:, :3]), atol=1e-6)
        assert not torch.allclose(generator(x), x, atol=0.1)


def test_the_plain_generator_is_unchanged_by_the_attention_option():
    """Without attention the state dict keys and output are the paper's (old checkpoints still load)."""
    torch.manual_seed(0)
    plain = CycleGANGenerator(32, width=4, n_blocks=1)
    torch.manual_seed(0)
    gated = CycleGANGenerator(32, width=4, n_blocks=1, attention=True)
    assert set(plain.state_dict()) == set(gated.state_dict())
    assert isinstance(plain.g_ab.main[-1], torch.nn.Tanh) and plain.g_ab.main[-2].out_channels == 3
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert plain.g_ab(x).abs().max() <= 1
    with pytest.raises(ValueError, match=r"built without attention; build it with attention=True"):
        plain.g_ab.content_and_attention(x)
    with pytest.raises(ValueError, match=r"attention must be True or False, got 'yes'"):
        CycleGANGenerator(32, width=4, attention="yes")
    with pytest.raises(ValueError, match=r"expects images of shape \(N, 3, 32, 32\), got \(2, 3, 16, 16\)"):
        gated.g_ab(torch.zeros(2, 3, 16, 16))

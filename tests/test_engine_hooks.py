"""The engine's EMA warm-up and the hooks families plug in: weight clipping, extra generator losses, schedules, lazy R1."""
from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from medgan_nb.data import load_dataset
from medgan_nb.metrics.fid import frechet_distance, sample_generator
from medgan_nb.models.dcgan import build_dcgan
from medgan_nb.train import (
    GeneratorBatch,
    TrainConfig,
    remove_stale_temporaries,
    train_gan,
    warmed_up_decay,
)


def tiny(seed: int = 0, image_size: int = 32, width: int = 8):
    torch.manual_seed(seed)
    return build_dcgan(image_size=image_size, latent_dim=16, width=width)


def noise_images(n: int = 24, size: int = 32) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(5)) * 2 - 1


def quiet(**kwargs) -> TrainConfig:
    return TrainConfig(**{"batch_size": 8, "progress": False, **kwargs})


def test_ema_decay_warms_up_and_then_reaches_the_asked_decay():
    assert warmed_up_decay(0.999, 0) == 0.0  # the first update copies G
    assert warmed_up_decay(0.999, 100) == pytest.approx(0.5 ** (1 / 2))  # half-life 2 updates after 100
    assert warmed_up_decay(0.999, 1000) == pytest.approx(0.5 ** (1 / 20))  # half-life 20 updates after 1,000
    assert warmed_up_decay(0.999, 100_000) == 0.999
    # the weight left on the first (random) weights after 1,000 updates is negligible, not 0.999^1000 = 37%
    remaining = math.prod(warmed_up_decay(0.999, t) for t in range(1, 1000))
    assert remaining < 1e-6 < 0.999**1000


@pytest.mark.slow
def test_ema_generator_is_about_as_close_to_real_data_as_the_raw_generator():
    """A few hundred steps with ema_decay=0.999: the average must not be the washed-out grey of stale weights."""
    data = load_dataset("phantom", size=32, n=600, seed=3)
    heldout = load_dataset("phantom", size=32, n=600, seed=3, split="test").images[:200]
    generator, discriminator = tiny(width=16)
    result = train_gan(generator, discriminator, data.images,
                       quiet(steps=300, batch_size=32, ema_decay=0.999, seed=1, amp="off"))
    raw = sample_generator(result.generator, 200, seed=9)
    averaged = sample_generator(result.ema_generator, 200, seed=9)
    fd_raw, fd_ema = frechet_distance(heldout, raw), frechet_distance(heldout, averaged)
    assert averaged.std() > 0.5 * raw.std(), (float(averaged.std()), float(raw.std()))  # not near-constant grey
    assert fd_ema <= 1.25 * fd_raw, (fd_ema, fd_raw)
    untrained, _ = tiny(width=16, seed=7)
    assert fd_ema < 0.5 * frechet_distance(heldout, sample_generator(untrained, 200, seed=9))


def test_ema_batchnorm_statistics_match_its_own_weights():
    """The EMA copy's running statistics are recomputed from its own activations, not copied from G."""
    generator, discriminator = tiny()
    result = train_gan(generator, discriminator, noise_images(), quiet(steps=4, ema_decay=0.99))
    ema_bn = result.ema_generator.main[1]
    raw_bn = result.generator.main[1]
    assert not torch.equal(ema_bn.running_mean, raw_bn.running_mean)
    assert int(ema_bn.num_batches_tracked) > 0
    assert ema_bn.momentum == raw_bn.momentum  # the refresh put the layer's momentum back


def test_weight_clip_keeps_every_critic_weight_in_range():
    generator, discriminator = tiny()
    result = train_gan(generator, discriminator, noise_images(),
                       quiet(steps=3, loss="wasserstein", n_critic=2, weight_clip=0.01, lr_d=5e-2))
    for parameter in result.discriminator.parameters():
        assert parameter.abs().max() <= 0.01 + 1e-7
    generator, discriminator = tiny()
    unclipped = train_gan(generator, discriminator, noise_images(), quiet(steps=3, loss="wasserstein", lr_d=5e-2))
    assert max(p.abs().max() for p in unclipped.discriminator.parameters()) > 0.01  # the clip did something


def test_generator_loss_hook_is_added_recorded_and_sees_paired_batches():
    seen: list[GeneratorBatch] = []

    def l1_to_real(batch: GeneratorBatch):
        seen.append(batch)
        return {"l1": 10.0 * (batch.fake - batch.real).abs().mean()}

    generator, discriminator = tiny()
    result = train_gan(generator, discriminator, noise_images(), quiet(steps=3, generator_loss=l1_to_real))
    assert len(seen) == 3 and seen[-1].step == 3
    assert seen[0].fake.requires_grad and seen[0].fake.shape == seen[0].real.shape
    assert "loss_l1" in result.history and all(v > 0 for v in result.history["loss_l1"])
    # the total generator loss includes the term
    generator, discriminator = tiny()
    plain = train_gan(generator, discriminator, noise_images(), quiet(steps=1))
    assert result.history["loss_g"][0] == pytest.approx(plain.history["loss_g"][0] + result.history["loss_l1"][0],
                                                        rel=1e-5)


def test_schedule_hook_runs_before_every_step_with_both_models():
    calls = []
    generator, discriminator = tiny()
    train_gan(generator, discriminator, noise_images(),
              quiet(steps=4, schedule=lambda step, total, g, d: calls.append((step, total, g is generator,
                                                                              d is discriminator))))
    assert calls == [(s, 4, True, True) for s in range(1, 5)]


def test_lazy_r1_runs_every_k_critic_updates():
    from medgan_nb import losses

    counted = []
    original = losses.r1_penalty

    def counting(*args, **kwargs):
        counted.append(1)
        return original(*args, **kwargs)

    import medgan_nb.train.steps as steps  # _critic_loss looks r1_penalty up there

    steps.r1_penalty, before = counting, steps.r1_penalty
    try:
        generator, discriminator = tiny()
        train_gan(generator, discriminator, noise_images(), quiet(steps=8, r1_gamma=1.0, r1_every=4))
    finally:
        steps.r1_penalty = before
    assert len(counted) == 2  # critic updates 0 and 4 of 0..7


class ConditionalToy(nn.Module):
    """A tiny class-conditional generator (forward takes z and labels)."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.latent_dim, self.num_classes = 4, num_classes
        self.embed = nn.Embedding(num_classes, 4)
        self.net = nn.Linear(4, 3 * 8 * 8)

    def forward(self, z, labels):
        return torch.tanh(self.net(z + self.embed(labels))).view(-1, 3, 8, 8)


class Critic(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(3 * 8 * 8, 1)

    def forward(self, x):
        return self.net(x.flatten(1)).flatten()


class MaskToy(nn.Module):
    """A tiny mask-conditioned generator: the condition is a (N, 1, 8, 8) mask."""

    def __init__(self) -> None:
        super().__init__()
        self.latent_dim = 4
        self.net = nn.Conv2d(1, 3, 3, padding=1)

    def forward(self, z, mask):
        return torch.tanh(self.net(mask) + z[:, :3, None, None])


def toy_images(n: int = 12) -> torch.Tensor:
    return torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1


def test_label_outside_the_models_classes_is_a_clear_error():
    labels = torch.tensor([0, 1, 2, 5] * 3)
    with pytest.raises(ValueError, match=r"label 5 is outside the classes of ConditionalToy \(0\.\.2"):
        train_gan(ConditionalToy(), Critic(), toy_images(), quiet(steps=1, batch_size=4), labels=labels)


def test_labels_given_to_an_unconditional_model_is_a_clear_error():
    generator, discriminator = tiny()
    with pytest.raises(ValueError, match="unconditional generator"):
        train_gan(generator, discriminator, noise_images(), quiet(steps=1), labels=torch.zeros(24, dtype=torch.long))


def test_masks_are_a_condition_and_fixed_samples_use_masks_from_the_data():
    masks = (torch.rand(12, 1, 8, 8, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    result = train_gan(MaskToy(), Critic(), toy_images(), quiet(steps=2, batch_size=4, sample_every=2, n_samples=5),
                       labels=masks)
    assert result.samples[-1][1].shape == (5, 3, 8, 8)
    with pytest.raises(ValueError, match="3 labels for 12 images"):
        train_gan(MaskToy(), Critic(), toy_images(), quiet(steps=1, batch_size=4), labels=masks[:3])


def test_stale_temporary_checkpoints_of_dead_processes_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".checkpoint.pt.{dead_pid}.tmp"
    stale.write_bytes(b"half a checkpoint")
    mine = tmp_path / f".checkpoint.pt.{os.getpid()}.tmp"  # this process may still be writing it
    mine.write_bytes(b"in progress")
    other = tmp_path / "notes.tmp"
    other.write_text("not ours")
    assert remove_stale_temporaries(tmp_path) == [stale]
    assert not stale.exists() and mine.exists() and other.exists()
    # train_gan clears them when it starts writing into the folder
    stale.write_bytes(b"half a checkpoint")
    generator, discriminator = tiny()
    train_gan(generator, discriminator, noise_images(), quiet(steps=1, checkpoint_dir=str(tmp_path)))
    assert not stale.exists() and (tmp_path / "checkpoint.pt").is_file()

"""The training engine: exact resume, checkpoint checks, divergence guard, loss families, hooks.

Several processes (DistributedDataParallel under torchrun) are tested in test_distributed.py.
"""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from medgan_nb.models.dcgan import build_dcgan
from medgan_nb.viz import live_plot
from medgan_nb.train import (
    CheckpointMismatchError,
    History,
    TrainConfig,
    TrainingDiverged,
    load_checkpoint,
    save_checkpoint,
    train_gan,
)

LOSS_FIELDS = ("step", "loss_d", "loss_g", "d_real", "d_fake", "grad_norm_g", "grad_norm_d")


def tiny_models(seed: int = 0, image_size: int = 32, width: int = 8):
    torch.manual_seed(seed)
    return build_dcgan(image_size=image_size, latent_dim=16, width=width)


def tiny_data(n: int = 24, image_size: int = 32) -> torch.Tensor:
    return torch.rand(n, 3, image_size, image_size, generator=torch.Generator().manual_seed(123)) * 2 - 1


def quiet(**kwargs) -> TrainConfig:
    return TrainConfig(batch_size=8, progress=False, **kwargs)


def test_resume_continues_exactly(tmp_path):
    """N steps, save, resume for N more == 2N uninterrupted steps, tensor for tensor (CPU)."""
    settings = dict(ema_decay=0.9, sample_every=2, n_samples=4)
    generator, discriminator = tiny_models()
    straight = train_gan(generator, discriminator, tiny_data(), quiet(steps=6, **settings))

    generator, discriminator = tiny_models()
    first = train_gan(generator, discriminator, tiny_data(), quiet(steps=3, checkpoint_dir=str(tmp_path), **settings))
    assert first.checkpoint == tmp_path / "checkpoint.pt" and first.checkpoint.is_file()
    torch.load(first.checkpoint, weights_only=True)  # only tensors and plain containers inside
    generator, discriminator = tiny_models(seed=99)  # different initial weights: everything must come from the file
    resumed = train_gan(generator, discriminator, tiny_data(), quiet(steps=6, **settings), resume=first.checkpoint)

    for name in ("generator", "discriminator", "ema_generator"):
        expected = getattr(straight, name).state_dict()  # parameters and BatchNorm running statistics
        got = getattr(resumed, name).state_dict()
        assert expected.keys() == got.keys()
        for key in expected:
            assert torch.equal(expected[key], got[key]), f"{name}.{key} differs after resume"
    for column in LOSS_FIELDS:
        assert straight.history[column] == resumed.history[column], f"history {column} differs after resume"
    assert [s for s, _ in straight.samples] == [0, 2, 4, 6]
    assert [s for s, _ in resumed.samples][-2:] == [4, 6]
    assert torch.equal(straight.samples[-1][1], resumed.samples[-1][1])
    # the first run's losses and a changed model show that training really happened
    assert not torch.equal(straight.generator.state_dict()["main.0.weight"],
                           first.generator.state_dict()["main.0.weight"])


def test_checkpoint_of_another_size_is_a_clear_error(tmp_path):
    generator, discriminator = tiny_models(image_size=32)
    train_gan(generator, discriminator, tiny_data(image_size=32), quiet(steps=1, checkpoint_dir=str(tmp_path)))
    big_g, big_d = tiny_models(image_size=64)
    with pytest.raises(CheckpointMismatchError) as error:
        train_gan(big_g, big_d, tiny_data(image_size=64), quiet(steps=2), resume=tmp_path / "checkpoint.pt")
    message = str(error.value)
    assert "DCGANGenerator" in message and "image_size 32" in message and "image_size 64" in message
    assert "start without resume" in message
    assert isinstance(error.value, ValueError)
    wide_g, wide_d = tiny_models(width=16)
    with pytest.raises(CheckpointMismatchError, match=r"width 8.*width 16"):
        load_checkpoint(tmp_path, wide_g, wide_d)  # a folder means its checkpoint.pt


def test_checkpoint_of_another_architecture_names_both_classes(tmp_path):
    generator, discriminator = tiny_models()
    train_gan(generator, discriminator, tiny_data(), quiet(steps=1, checkpoint_dir=str(tmp_path)))

    class OtherGenerator(nn.Module):
        latent_dim = 16

        def __init__(self):
            super().__init__()
            self.net = nn.Linear(16, 3 * 32 * 32)

        def forward(self, z):
            return torch.tanh(self.net(z)).view(-1, 3, 32, 32)

    with pytest.raises(CheckpointMismatchError, match=r"DCGANGenerator.*OtherGenerator"):
        load_checkpoint(tmp_path / "checkpoint.pt", OtherGenerator(), discriminator)


def test_missing_or_foreign_checkpoint_is_a_clear_error(tmp_path):
    generator, discriminator = tiny_models()
    with pytest.raises(FileNotFoundError, match=r"no checkpoint at .*resume=None"):
        train_gan(generator, discriminator, tiny_data(), quiet(steps=1), resume=tmp_path / "nope.pt")
    foreign = tmp_path / "weights.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(ValueError, match="not written by medgan_nb"):
        load_checkpoint(foreign, generator, discriminator)


def test_divergence_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    poison_after = 3

    def poison(step, state):  # after step 3, make D output NaN
        if step == poison_after:
            with torch.no_grad():
                state.discriminator.main[-1].weight.fill_(float("nan"))

    generator, discriminator = tiny_models()
    config = quiet(steps=10, checkpoint_dir=str(tmp_path), checkpoint_every=1)
    with pytest.raises(TrainingDiverged, match=rf"step {poison_after + 1}.*discriminator loss is nan") as error:
        train_gan(generator, discriminator, tiny_data(), config, callbacks=[poison])
    assert error.value.step == poison_after + 1
    assert isinstance(error.value, RuntimeError)
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert saved["step"] <= poison_after
    assert all(torch.isfinite(t).all() for t in saved["discriminator"].values() if t.is_floating_point())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]  # no half-written leftovers
    # the generator was not updated with a NaN loss either
    assert all(torch.isfinite(p).all() for p in generator.parameters())


def test_save_checkpoint_is_atomic(tmp_path):
    path = tmp_path / "state.pt"
    save_checkpoint(path, {"step": 1, "weights": torch.ones(2)})
    with pytest.raises(Exception):
        save_checkpoint(path, {"step": 2, "unpicklable": lambda x: x})
    assert torch.load(path, weights_only=True)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.pt"]


@pytest.mark.parametrize(
    "settings, d_output",
    [
        (dict(loss="wasserstein", gp_weight=10.0, n_critic=2, lr_d=1e-4, betas=(0.0, 0.9)), "raw"),
        (dict(loss="hinge", r1_gamma=1.0), "raw"),
        (dict(loss="lsgan", ema_decay=0.99), "raw"),
        (dict(loss="bce", amp="bf16", channels_last=True), "probability"),
    ],
)
def test_every_loss_family_runs_through_the_same_loop(settings, d_output):
    generator, discriminator = tiny_models()
    result = train_gan(generator, discriminator, tiny_data(), quiet(steps=2, **settings))
    assert result.history.d_output == d_output
    assert len(result.history) == 2
    values = [v for column in ("loss_d", "loss_g", "grad_norm_d", "grad_norm_g") for v in result.history[column]]
    assert all(math.isfinite(v) for v in values)
    assert all(v > 0 for v in result.history["grad_norm_d"])
    if d_output == "probability":
        assert all(0.0 <= v <= 1.0 for v in result.history["d_real"] + result.history["d_fake"])
    if settings.get("ema_decay"):
        # warm-up: after two updates the average's half-life is 0.04 updates, so it follows G (to rounding)
        ema = result.ema_generator.state_dict()["main.0.weight"]
        assert torch.allclose(ema, result.generator.state_dict()["main.0.weight"], atol=1e-6)
        assert ema is not result.generator.state_dict()["main.0.weight"]


def test_epochs_set_the_number_of_steps_and_history_tools():
    generator, discriminator = tiny_models()
    result = train_gan(generator, discriminator, tiny_data(n=40), quiet(epochs=2, log_every=2))
    assert result.steps == 10  # 2 epochs x 40 images / batch 8
    assert result.history["step"] == [2, 4, 6, 8, 10]
    assert len(result.history) == 5 and result.history.last()["step"] == 10
    frame = result.history.to_dataframe()
    assert list(frame.columns[:3]) == ["step", "loss_d", "loss_g"] and len(frame) == 5
    assert History(result.history.as_dict()).as_dict() == result.history.as_dict()
    assert result.images_per_second > 0


def test_batches_are_reshuffled_each_epoch_and_cover_the_data():
    from medgan_nb.train import BatchOrder

    order = BatchOrder(n_images=20, batch_size=4, seed=0)
    first_epoch = torch.cat([order.next() for _ in range(5)])
    second_epoch = torch.cat([order.next() for _ in range(5)])
    assert sorted(first_epoch.tolist()) == list(range(20)) == sorted(second_epoch.tolist())
    assert not torch.equal(first_epoch, second_epoch)
    again = BatchOrder(n_images=20, batch_size=4, seed=0)
    assert torch.equal(torch.cat([again.next() for _ in range(5)]), first_epoch)  # seeded: same order


def test_samples_hooks_and_stop_request():
    seen = {"augment": 0, "steps": []}

    def augment(x):
        seen["augment"] += 1
        return x.flip(-1)

    def record(step, state):
        seen["steps"].append(step)
        assert state.fixed_noise.shape == (6, 16)
        if step == 3:
            state.stop = True

    generator, discriminator = tiny_models()
    result = train_gan(generator, discriminator, tiny_data(),
                       quiet(steps=8, sample_every=2, n_samples=6, augment=augment), callbacks=[record])
    assert seen["steps"] == [1, 2, 3] and result.steps == 3
    assert seen["augment"] == 3 * 3  # real and fake before D, fake before D in G's step
    assert [step for step, _ in result.samples] == [0, 2]
    for _, images in result.samples:
        assert images.shape == (6, 3, 32, 32) and images.min() >= -1 and images.max() <= 1


def test_conditional_models_receive_the_labels():
    class ConditionalGenerator(nn.Module):
        latent_dim, num_classes = 8, 3

        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(3, 8)
            self.net = nn.Linear(8, 3 * 8 * 8)
            self.labels_seen = []

        def forward(self, z, labels):
            self.labels_seen.append(labels.clone())
            return torch.tanh(self.net(z * self.embed(labels))).view(-1, 3, 8, 8)

    class ConditionalCritic(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(3, 3 * 8 * 8)
            self.net = nn.Linear(3 * 8 * 8, 1)

        def forward(self, x, labels):
            return self.net(x.flatten(1) * self.embed(labels)).flatten()

    class Dataset:  # like medgan_nb.data.LesionDataset: .images and .labels
        images = torch.rand(12, 3, 8, 8) * 2 - 1
        labels = torch.tensor([0, 1, 2] * 4)

    generator = ConditionalGenerator()
    result = train_gan(generator, ConditionalCritic(), Dataset(), TrainConfig(steps=2, batch_size=4, progress=False,
                                                                              sample_every=2, n_samples=6))
    assert len(result.history) == 2
    training_labels = torch.cat(generator.labels_seen[:2])
    assert set(training_labels.tolist()) <= {0, 1, 2}
    assert generator.labels_seen[-1].tolist() == [0, 1, 2, 0, 1, 2]  # fixed sample labels cycle the classes
    with pytest.raises(ValueError, match="takes class labels .or masks. but none were given"):
        train_gan(ConditionalGenerator(), ConditionalCritic(), Dataset.images, TrainConfig(steps=1, batch_size=4))


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(loss="wgan-gpp"), "unknown GAN loss"),
        (dict(batch_size=100), "larger than the dataset"),
        (dict(amp="fp16"), "needs a CUDA device"),
        (dict(amp="fp8"), "amp must be"),
        (dict(ema_decay=1.5), "ema_decay"),
    ],
)
def test_bad_settings_are_clear_errors(change, message):
    generator, discriminator = tiny_models()
    config = quiet(steps=1)
    for key, value in change.items():
        setattr(config, key, value)
    with pytest.raises(ValueError, match=message):
        train_gan(generator, discriminator, tiny_data(), config)


def test_bad_data_is_a_clear_error():
    generator, discriminator = tiny_models()
    with pytest.raises(ValueError, match=r"\[-1, 1\].*x / 127.5 - 1"):
        train_gan(generator, discriminator, tiny_data() * 100, quiet(steps=1))
    with pytest.raises(ValueError, match="4-D tensor"):
        train_gan(generator, discriminator, tiny_data()[0], quiet(steps=1))
    with pytest.raises(ValueError, match=r"\(N, 3, 32, 32\)"):  # 64 px data for 32 px models
        train_gan(generator, discriminator, tiny_data(image_size=64), quiet(steps=1))


def test_live_plot_is_a_no_op_without_a_notebook():
    import matplotlib.pyplot as plt

    plt.close("all")
    generator, discriminator = tiny_models()
    train_gan(generator, discriminator, tiny_data(), quiet(steps=2), callbacks=[live_plot(every=1)])
    assert plt.get_fignums() == []
    with pytest.raises(ValueError, match="every"):
        live_plot(every=0)


def _poisoned_run(tmp_path, which: str, bad_step: int = 4):
    """Train with a NaN put into the discriminator's or the generator's loss at ``bad_step``; return the models."""
    current = {"step": 0}

    def schedule(step, total, generator, discriminator):
        current["step"] = step

    def poison_images(x):  # the augment hook: NaN images reach D only at the bad step
        return x * float("nan") if which == "discriminator" and current["step"] == bad_step else x

    def poison_generator(batch):  # an extra generator term that is NaN at the bad step
        bad = which == "generator" and batch.step == bad_step
        return batch.fake.sum() * (float("nan") if bad else 0.0)

    generator, discriminator = tiny_models()
    config = quiet(steps=8, checkpoint_dir=str(tmp_path), checkpoint_every=1, device="cpu", schedule=schedule,
                   augment=poison_images, generator_loss=poison_generator)
    with pytest.raises(TrainingDiverged, match=rf"step {bad_step}: the {which} loss is nan") as error:
        train_gan(generator, discriminator, tiny_data(), config)
    return generator, discriminator, error.value, config


@pytest.mark.parametrize("which", ["discriminator", "generator"])
def test_nan_in_either_loss_leaves_both_models_at_the_last_checkpoint_and_training_resumes(tmp_path, which):
    generator, discriminator, error, config = _poisoned_run(tmp_path, which)
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert saved["step"] == error.step - 1 == 3 and error.checkpoint == tmp_path / "checkpoint.pt"
    for name, model in (("generator", generator), ("discriminator", discriminator)):
        live = model.state_dict()
        for key, value in saved[name].items():
            assert torch.equal(live[key], value), f"live {name}.{key} differs from the last checkpoint"
            if value.is_floating_point():
                assert torch.isfinite(value).all()
    # training goes on from the checkpoint once the cause is gone
    generator, discriminator = tiny_models(seed=5)
    resumed = train_gan(generator, discriminator, tiny_data(), quiet(steps=6, device="cpu"), resume=error.checkpoint)
    assert resumed.history["step"][0] == 1 and resumed.steps == 6
    assert all(math.isfinite(v) for v in resumed.history["loss_d"] + resumed.history["loss_g"])


def test_resume_from_a_mid_run_checkpoint_with_critic_steps_penalty_and_sparse_logging(tmp_path):
    """Stop at step 4 of 8 (n_critic 2, gradient penalty, log_every 2), resume: equal to 8 straight steps."""
    settings = dict(steps=8, n_critic=2, gp_weight=10.0, loss="wasserstein", log_every=2, sample_every=2,
                    n_samples=4, ema_decay=0.99, device="cpu")
    generator, discriminator = tiny_models()
    straight = train_gan(generator, discriminator, tiny_data(), quiet(**settings))

    def stop_at_four(step, state):
        state.stop = step == 4

    generator, discriminator = tiny_models()
    first = train_gan(generator, discriminator, tiny_data(), quiet(checkpoint_dir=str(tmp_path), **settings),
                      callbacks=[stop_at_four])
    assert first.steps == 4 and torch.load(first.checkpoint, weights_only=True)["step"] == 4
    generator, discriminator = tiny_models(seed=42)
    resumed = train_gan(generator, discriminator, tiny_data(), quiet(checkpoint_dir=str(tmp_path / "again"),
                                                                     **settings), resume=first.checkpoint)
    for name in ("generator", "discriminator", "ema_generator"):
        expected, got = getattr(straight, name).state_dict(), getattr(resumed, name).state_dict()
        for key in expected:
            assert torch.equal(expected[key], got[key]), f"{name}.{key} differs after resume"
    for column in LOSS_FIELDS:
        assert straight.history[column] == resumed.history[column], column
    assert [s for s, _ in straight.samples] == [s for s, _ in resumed.samples] == [0, 2, 4, 6, 8]
    for (step, expected), (_, got) in zip(straight.samples, resumed.samples):
        assert torch.equal(expected, got), f"sample grid of step {step} differs"
    resumed_saved = torch.load(tmp_path / "again" / "checkpoint.pt", weights_only=True)
    generator, discriminator = tiny_models()
    straight_saved = train_gan(generator, discriminator, tiny_data(),
                               quiet(checkpoint_dir=str(tmp_path / "straight"), **settings)).checkpoint
    reference = torch.load(straight_saved, weights_only=True)
    for optimizer in ("optimizer_g", "optimizer_d"):
        for index, state in reference[optimizer]["state"].items():
            for key, value in state.items():
                assert torch.equal(value, resumed_saved[optimizer]["state"][index][key]), f"{optimizer} {key}"


def test_bf16_on_a_cpu_without_native_bf16_warns_with_the_fix(monkeypatch):
    import medgan_nb.runtime as runtime
    from medgan_nb.train.engine import _resolve_amp

    monkeypatch.setattr(runtime, "cpu_supports_bf16", lambda: False)
    with pytest.warns(UserWarning, match=r"emulated.*100x slower.*use amp='off'"):
        assert _resolve_amp("bf16", torch.device("cpu")) == (torch.bfloat16, False)
    monkeypatch.setattr(runtime, "cpu_supports_bf16", lambda: True)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a CPU with native bf16: no warning
        assert _resolve_amp("bf16", torch.device("cpu")) == (torch.bfloat16, False)
    assert _resolve_amp("auto", torch.device("cpu")) == (None, False)  # auto never picks bf16 on a CPU


def test_balance_verdict_reads_the_last_records():
    from medgan_nb.train.history import History

    def history(real, fake, n=20):
        h = History()
        for step in range(n):
            h.append(step=step, loss_d=1.0, loss_g=1.0, d_real=real, d_fake=fake, grad_norm_d=1.0, grad_norm_g=1.0,
                     seconds=0.1, images_per_second=10.0)
        return h

    assert history(0.975, 0.067).balance_verdict().startswith("D has nearly won")
    assert history(0.8, 0.4).balance_verdict().startswith("D is ahead")
    assert history(0.55, 0.45).balance_verdict().startswith("D and G are close to balance")
    assert "raw scores" in History(d_output="raw").balance_verdict()

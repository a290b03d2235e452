"""The small DDPM: forward process against its closed form, the noise-prediction loss, DDIM vs DDPM, sampling, training.

Tiny U-Nets (width 8, two levels, 16 px) and 50 training timesteps keep the whole file fast on a CPU.
"""
from __future__ import annotations

import copy
import math
import subprocess
import sys

import pytest
import torch
from torch import nn

from medgan_nb.models.diffusion import (
    build_unet,
    ddim_from,
    epsilon_loss,
    forward_marginal,
    make_scheduler,
    noisy_images,
    sample,
    seconds_per_image,
)
from medgan_nb.train import DiffusionResult, TrainingDiverged, train_ddpm

T = 50  # training timesteps of every scheduler here
SIZE = 16


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread, as under `make test` (OMP_NUM_THREADS=1): these convolutions are too small to share,
    and on a busy machine two spinning threads made four training steps take 13 s instead of 0.1 s."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_unet(seed: int = 0, num_classes: int | None = None) -> nn.Module:
    torch.manual_seed(seed)
    return build_unet(SIZE, width=8, levels=2, num_classes=num_classes)


@pytest.fixture(scope="module")
def unet() -> nn.Module:
    return tiny_unet()


def constant_images(n: int = 16) -> torch.Tensor:
    """n images of one random colour each (in [-1, 1]): the easiest data set a DDPM can learn."""
    colours = torch.rand(n, 3, 1, 1, generator=torch.Generator().manual_seed(1)) * 2 - 1
    return colours.expand(n, 3, SIZE, SIZE).contiguous()


# ----------------------------------------------------------------------------
# The forward process q(x_t | x_0)
# ----------------------------------------------------------------------------

def hand_betas(schedule: str) -> torch.Tensor:
    """The betas written out: Ho et al.'s linear schedule scaled by 1000/T, or Nichol & Dhariwal's cosine one."""
    if schedule == "linear":
        scale = 1000 / T
        return torch.linspace(1e-4 * scale, 0.02 * scale, T, dtype=torch.float64)

    def alpha_bar(s: float) -> float:
        return math.cos((s / T + 0.008) / 1.008 * math.pi / 2) ** 2

    return torch.tensor([min(1 - alpha_bar(t + 1) / alpha_bar(t), 0.999) for t in range(T)], dtype=torch.float64)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_forward_marginal_is_the_closed_form_of_the_betas(schedule):
    alpha_bar = torch.cumprod(1 - hand_betas(schedule), dim=0)
    t = torch.arange(T)
    mean_coefficient, variance = forward_marginal(make_scheduler("ddpm", T, schedule), t)
    assert torch.allclose(mean_coefficient.double(), alpha_bar.sqrt(), atol=1e-5)
    assert torch.allclose(variance.double(), 1 - alpha_bar, atol=1e-5)
    assert variance[-1] > 0.99  # x_T is (almost) pure noise


@pytest.mark.parametrize("t", [3, 25])
def test_noisy_images_have_the_marginal_mean_and_variance(t):
    scheduler = make_scheduler("ddpm", T)
    draws = 20_000
    x0 = torch.linspace(-1, 1, 3 * 4 * 4).reshape(1, 3, 4, 4)
    noise = torch.randn(draws, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    x_t = noisy_images(scheduler, x0.expand(draws, -1, -1, -1), t, noise)
    mean_coefficient, variance = (float(v) for v in forward_marginal(scheduler, t))
    # 5 standard errors: of a mean, sqrt(var / n); of a Gaussian sample variance, var * sqrt(2 / (n - 1))
    assert (x_t.mean(0) - mean_coefficient * x0[0]).abs().max() < 5 * math.sqrt(variance / draws)
    assert (x_t.var(0) - variance).abs().max() < 5 * variance * math.sqrt(2 / (draws - 1))


# ----------------------------------------------------------------------------
# The loss
# ----------------------------------------------------------------------------

class Oracle(nn.Module):
    """Predicts the true noise by solving x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps for eps (it knows x0)."""

    def __init__(self, x0: torch.Tensor, scheduler) -> None:
        super().__init__()
        self.x0, self.scheduler = x0, scheduler

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        mean_coefficient, variance = forward_marginal(self.scheduler, t)
        return (x_t - mean_coefficient[:, None, None, None] * self.x0) / variance.sqrt()[:, None, None, None]


class Zero(nn.Module):
    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x_t)


def test_epsilon_loss_is_zero_for_the_true_noise_and_one_for_a_zero_prediction():
    scheduler = make_scheduler("ddpm", T)
    x0 = constant_images(64)
    perfect = epsilon_loss(Oracle(x0, scheduler), scheduler, x0, generator=torch.Generator().manual_seed(0))
    assert float(perfect) < 1e-8
    zero = epsilon_loss(Zero(), scheduler, x0, generator=torch.Generator().manual_seed(0))
    elements = x0.numel()  # E[eps^2] = 1, and mean(eps^2) has standard error sqrt(2 / elements)
    assert abs(float(zero) - 1) < 5 * math.sqrt(2 / elements)
    again = epsilon_loss(Zero(), scheduler, x0, generator=torch.Generator().manual_seed(0))
    assert float(again) == float(zero)  # t and the noise come from the generator


# ----------------------------------------------------------------------------
# DDIM with eta = 1 and every timestep is DDPM
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("t", [0, 1, 20, T - 1])
def test_ddim_with_eta_one_takes_the_ddpm_posterior_step(t):
    from diffusers import DDPMScheduler

    # no clipping of x0-hat, so both steps are the exact formulas
    ddpm = DDPMScheduler.from_config(make_scheduler("ddpm", T).config, clip_sample=False)
    ddim = ddim_from(ddpm)
    ddpm.set_timesteps(T)
    ddim.set_timesteps(T)
    shape = (2, 3, 4, 4)
    x_t, eps = torch.randn(shape, generator=torch.Generator().manual_seed(t)).unbind(0)
    x_t, eps = x_t[None].expand(*shape), eps[None].expand(*shape).contiguous()

    # the posterior q(x_{t-1} | x_t, x0-hat), written out (Ho et al. eqs. 6-7)
    betas = hand_betas("linear")
    alpha_bar = torch.cumprod(1 - betas, 0)
    abar_t, abar_prev, beta_t = alpha_bar[t], (alpha_bar[t - 1] if t > 0 else torch.tensor(1.0)), betas[t]
    x0_hat = (x_t.double() - (1 - abar_t).sqrt() * eps) / abar_t.sqrt()
    posterior_mean = (abar_prev.sqrt() * beta_t / (1 - abar_t)) * x0_hat \
        + ((1 - beta_t).sqrt() * (1 - abar_prev) / (1 - abar_t)) * x_t
    posterior_variance = (1 - abar_prev) / (1 - abar_t) * beta_t  # beta~_t

    def close(a, b):
        return torch.allclose(a.double(), b.double(), rtol=1e-4, atol=1e-4)

    zeros, ones = torch.zeros(shape), torch.ones(shape)
    ddim_mean = ddim.step(eps, t, x_t, eta=1.0, variance_noise=zeros).prev_sample
    assert close(ddim_mean, posterior_mean)
    sigma = ddim.step(eps, t, x_t, eta=1.0, variance_noise=ones).prev_sample - ddim_mean  # sigma_t * 1
    assert close(sigma ** 2, posterior_variance.expand(shape))

    out = ddpm.step(eps, t, x_t, generator=torch.Generator().manual_seed(7))
    z = torch.randn(shape, generator=torch.Generator().manual_seed(7))  # the noise DDPM drew
    assert close(out.pred_original_sample, x0_hat)
    assert close(out.prev_sample, posterior_mean + posterior_variance.sqrt() * z * (t > 0))


# ----------------------------------------------------------------------------
# Sampling
# ----------------------------------------------------------------------------

def test_sampling_gives_images_in_range_and_is_deterministic_for_a_seed(unet):
    scheduler = make_scheduler("ddpm", T)
    unet.train()
    images = sample(unet, scheduler, 3, steps=10, seed=1, batch_size=2, progress=False)
    assert images.shape == (3, 3, SIZE, SIZE) and images.device.type == "cpu"
    assert images.min() >= -1 and images.max() <= 1
    assert unet.training  # its mode is restored
    assert torch.equal(images, sample(unet, scheduler, 3, steps=10, seed=1, batch_size=2, progress=False))
    assert not torch.equal(images, sample(unet, scheduler, 3, steps=10, seed=2, batch_size=2, progress=False))
    every = sample(unet, scheduler, 1, seed=1, progress=False)  # steps=None: all T timesteps
    assert every.shape == (1, 3, SIZE, SIZE) and len(scheduler.timesteps) == T


def test_ddim_samples_in_fewer_steps_and_keep_returns_the_reverse_walk(unet):
    scheduler = ddim_from(make_scheduler("ddpm", T))
    images, frames = sample(unet, scheduler, 2, steps=5, seed=3, keep=(5, 0, 2), progress=False)
    assert list(frames) == [0, 2, 5]
    assert torch.equal(frames[5], images)  # the last frame is the output
    initial_noise = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(3))
    assert torch.equal(frames[0], initial_noise.clamp(-1, 1))  # frame 0 is x_T
    assert torch.equal(images, sample(unet, scheduler, 2, steps=5, seed=3, progress=False))  # eta = 0
    noisy = sample(unet, scheduler, 2, steps=5, seed=3, eta=1.0, progress=False)
    assert torch.equal(noisy, sample(unet, scheduler, 2, steps=5, seed=3, eta=1.0, progress=False))
    assert seconds_per_image(unet, scheduler, steps=2, n=2) > 0


def test_a_class_conditional_unet_needs_labels():
    unet = tiny_unet(num_classes=3)
    scheduler = ddim_from(make_scheduler("ddpm", T))
    with pytest.raises(ValueError, match="labels"):
        sample(unet, scheduler, 2, steps=5, progress=False)
    with pytest.raises(ValueError, match="labels"):
        sample(unet, scheduler, 2, steps=5, labels=torch.tensor([0, 1, 2]), progress=False)  # n = 2
    a = sample(unet, scheduler, 2, steps=5, labels=torch.tensor([0, 0]), progress=False)
    b = sample(unet, scheduler, 2, steps=5, labels=torch.tensor([2, 2]), progress=False)
    assert a.shape == (2, 3, SIZE, SIZE) and not torch.equal(a, b)
    result = train_ddpm(unet, make_scheduler("ddpm", T), constant_images(4), torch.tensor([0, 1, 2, 0]), steps=2,
                        batch_size=2, progress=False)
    assert len(result.losses) == 2


# ----------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------

def test_bad_arguments_raise_errors_that_name_the_fix(unet):
    scheduler = make_scheduler("ddpm", T)
    with pytest.raises(ValueError, match="steps"):
        sample(unet, scheduler, 1, steps=0, progress=False)
    with pytest.raises(ValueError, match="training timesteps"):
        sample(unet, scheduler, 1, steps=T + 1, progress=False)
    with pytest.raises(ValueError, match="DDIM"):
        sample(unet, scheduler, 1, steps=2, eta=0.5, progress=False)
    with pytest.raises(ValueError, match="unconditional"):
        sample(unet, scheduler, 2, steps=2, labels=torch.tensor([0, 1]), progress=False)
    with pytest.raises(ValueError, match="keep"):
        sample(unet, scheduler, 1, steps=2, keep=(3,), progress=False)
    with pytest.raises(ValueError, match=r"must divide the scheduler's T = 50; got steps=3: use one of \[1, 2, 5, 10\]"):
        sample(unet, ddim_from(scheduler), 1, steps=3, progress=False)  # DDIM steps t -> t - T/S
    with pytest.raises(ValueError, match=r"multiple of 4 that is at least 16 \(e.g. 16, 20\)"):
        build_unet(18, levels=3)
    with pytest.raises(ValueError, match="width"):
        build_unet(16, width=48, levels=2)
    with pytest.raises(ValueError, match="num_classes"):
        build_unet(16, width=8, levels=2, num_classes=1)
    with pytest.raises(ValueError, match="'ddpm', 'ddim'"):
        make_scheduler("euler")
    with pytest.raises(ValueError, match="'linear', 'cosine'"):
        make_scheduler("ddpm", schedule="quadratic")
    with pytest.raises(ValueError, match="timesteps"):
        make_scheduler("ddpm", timesteps=0)
    with pytest.raises(ValueError, match="batch_size"):
        train_ddpm(unet, scheduler, constant_images(4), steps=1, batch_size=5, progress=False)
    with pytest.raises(ValueError, match="image_size"):
        train_ddpm(unet, scheduler, torch.zeros(4, 3, 32, 32), steps=1, batch_size=2, progress=False)
    with pytest.raises(ValueError, match="steps"):
        train_ddpm(unet, scheduler, constant_images(4), steps=0, batch_size=2, progress=False)


def test_importing_the_package_does_not_import_diffusers():
    code = ("import sys, medgan_nb.train, medgan_nb.models.diffusion; "
            "assert 'diffusers' not in sys.modules, 'diffusers was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------

def test_training_lowers_the_loss_on_constant_images():
    # checked over seeds 0, 1, 2 (U-Net and batches): the last 8 losses average 0.32-0.36 of the first 8
    result = train_ddpm(tiny_unet(), make_scheduler("ddpm", T), constant_images(16), steps=40, batch_size=16,
                        lr=3e-3, progress=False)
    assert isinstance(result, DiffusionResult) and result.logged_steps == list(range(1, 41))
    first, last = sum(result.losses[:8]) / 8, sum(result.losses[-8:]) / 8
    assert last < 0.7 * first, f"loss went from {first:.3f} to {last:.3f}"
    assert result.images_per_second > 0


def test_training_is_deterministic_for_a_seed_and_keeps_an_average():
    start = tiny_unet()
    runs = [train_ddpm(copy.deepcopy(start), make_scheduler("ddpm", T), constant_images(8), steps=4, batch_size=4,
                       seed=5, ema_decay=0.9, log_every=3, progress=False) for _ in range(2)]
    assert runs[0].losses == runs[1].losses and runs[0].logged_steps == [3, 4]
    assert runs[0].unet is not runs[0].raw_unet  # the EMA copy
    for a, b in zip(runs[0].unet.parameters(), runs[1].unet.parameters()):
        assert torch.equal(a, b)


def test_a_nan_weight_raises_training_diverged():
    unet = tiny_unet()
    with torch.no_grad():
        unet.conv_out.weight.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="learning rate") as caught:
        train_ddpm(unet, make_scheduler("ddpm", T), constant_images(4), steps=3, batch_size=2, progress=False)
    assert caught.value.step == 1


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_the_reverse_walk_starts_from_pure_noise(schedule):
    for scheduler in (make_scheduler("ddpm", 250, schedule), ddim_from(make_scheduler("ddpm", 250, schedule))):
        scheduler.set_timesteps(25)
        timesteps = [int(t) for t in scheduler.timesteps]
        assert timesteps[0] == 249 and len(timesteps) == 25  # "trailing": the first step is at t = T - 1
        assert timesteps == sorted(timesteps, reverse=True) and len(set(timesteps)) == 25

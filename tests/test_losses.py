"""GAN losses and gradient regularisers against values worked out by hand on small logit tensors."""
from __future__ import annotations

import math

import pytest
import torch

from medgan_nb import losses
from medgan_nb.losses import (
    bce_discriminator_loss,
    get_loss,
    gradient_penalty,
    hinge_discriminator_loss,
    lsgan_discriminator_loss,
    lsgan_generator_loss,
    nonsaturating_generator_loss,
    r1_penalty,
    saturating_generator_loss,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)

LOG2 = math.log(2.0)


def t(*values: float) -> torch.Tensor:
    """Return a float64 tensor, so hand-computed values match to 1e-12."""
    return torch.tensor(values, dtype=torch.float64)


def softplus(x: float) -> float:
    """Return log(1 + e^x), the hand-computed -log sigma(-x)."""
    return math.log1p(math.exp(x))


# ----------------------------------------------------------------------------
# discriminator losses
# ----------------------------------------------------------------------------

def test_bce_discriminator_loss_at_zero_logits_is_two_log_two():
    # sigma(0) = 1/2: -log(1/2) for the real term plus -log(1 - 1/2) for the fake term
    assert bce_discriminator_loss(t(0.0, 0.0), t(0.0, 0.0, 0.0)).item() == pytest.approx(2 * LOG2, abs=1e-12)


def test_bce_discriminator_loss_on_chosen_logits():
    real, fake = t(0.0, 2.0), t(-1.0, 3.0)
    # -log sigma(l) = softplus(-l); -log(1 - sigma(l)) = softplus(l); each term is a mean over its batch
    expected = (softplus(0.0) + softplus(-2.0)) / 2 + (softplus(-1.0) + softplus(3.0)) / 2
    assert bce_discriminator_loss(real, fake).item() == pytest.approx(expected, abs=1e-12)


def test_bce_discriminator_loss_is_stable_at_huge_logits():
    # A perfect, confident discriminator: loss tends to 0, and must not become nan or inf.
    assert bce_discriminator_loss(t(1e4), t(-1e4)).item() == pytest.approx(0.0, abs=1e-12)
    assert bce_discriminator_loss(t(-1e4), t(1e4)).item() == pytest.approx(2e4, rel=1e-12)


def test_lsgan_discriminator_loss_on_chosen_logits():
    # 1/2 mean((1-1)^2, (3-1)^2) + 1/2 mean(0^2, 2^2) = 1/2 * 2 + 1/2 * 2 = 2
    assert lsgan_discriminator_loss(t(1.0, 3.0), t(0.0, 2.0)).item() == pytest.approx(2.0, abs=1e-12)
    assert lsgan_discriminator_loss(t(1.0), t(0.0)).item() == 0.0  # at its targets b=1, a=0


def test_wasserstein_critic_loss_on_chosen_logits():
    # mean(fake) - mean(real) = (-1 + 0.5)/2 - (1 + 3)/2 = -0.25 - 2 = -2.25
    assert wasserstein_critic_loss(t(1.0, 3.0), t(-1.0, 0.5)).item() == pytest.approx(-2.25, abs=1e-12)


def test_hinge_discriminator_loss_on_chosen_logits():
    # real: mean(max(0, 1 - 0.5), max(0, 1 - 2)) = mean(0.5, 0) = 0.25
    # fake: mean(max(0, 1 - 2), max(0, 1 + 0.5)) = mean(0, 1.5) = 0.75
    assert hinge_discriminator_loss(t(0.5, 2.0), t(-2.0, 0.5)).item() == pytest.approx(1.0, abs=1e-12)
    # beyond the margins (real >= 1, fake <= -1) the hinge loss is exactly zero
    assert hinge_discriminator_loss(t(1.0, 5.0), t(-1.0, -7.0)).item() == 0.0


# ----------------------------------------------------------------------------
# generator losses
# ----------------------------------------------------------------------------

def test_saturating_and_nonsaturating_losses_at_zero_logits():
    # log(1 - sigma(0)) = -log 2;  -log sigma(0) = log 2
    assert saturating_generator_loss(t(0.0, 0.0)).item() == pytest.approx(-LOG2, abs=1e-12)
    assert nonsaturating_generator_loss(t(0.0, 0.0)).item() == pytest.approx(LOG2, abs=1e-12)


def test_saturating_and_nonsaturating_losses_on_chosen_logits():
    fake = t(-1.0, 2.0)
    # log(1 - sigma(l)) = -softplus(l);  -log sigma(l) = softplus(-l)
    assert saturating_generator_loss(fake).item() == pytest.approx(-(softplus(-1.0) + softplus(2.0)) / 2, abs=1e-12)
    assert nonsaturating_generator_loss(fake).item() == pytest.approx((softplus(1.0) + softplus(-2.0)) / 2, abs=1e-12)


def test_saturating_gradient_vanishes_where_nonsaturating_does_not():
    """At a fake logit of -10 (D confidently rejects the fake) the two losses' slopes differ by e^10."""
    logit = -10.0
    fake_s = t(logit).requires_grad_(True)
    fake_ns = t(logit).requires_grad_(True)
    saturating_generator_loss(fake_s).backward()
    nonsaturating_generator_loss(fake_ns).backward()
    # d/dl log(1 - sigma(l)) = -sigma(l);  d/dl -log sigma(l) = -(1 - sigma(l)) = -sigma(-l)
    sigma = 1.0 / (1.0 + math.exp(-logit))
    assert fake_s.grad.item() == pytest.approx(-sigma, rel=1e-9)          # about -4.5e-5
    assert fake_ns.grad.item() == pytest.approx(-(1.0 - sigma), rel=1e-9)  # about -1
    assert abs(fake_s.grad.item()) < 1e-4 < 0.99 < abs(fake_ns.grad.item())
    # both push the fake logit up (negative slope), i.e. towards "real"
    assert fake_s.grad.item() < 0 and fake_ns.grad.item() < 0


def test_lsgan_wasserstein_and_hinge_generator_losses_on_chosen_logits():
    fake = t(0.0, 2.0, -1.0)
    # 1/2 mean((0-1)^2, (2-1)^2, (-1-1)^2) = 1/2 * (1 + 1 + 4) / 3 = 1
    assert lsgan_generator_loss(fake).item() == pytest.approx(1.0, abs=1e-12)
    # -mean(fake) = -(0 + 2 - 1)/3 = -1/3
    assert wasserstein_generator_loss(fake).item() == pytest.approx(-1.0 / 3.0, abs=1e-12)


# ----------------------------------------------------------------------------
# registry
# ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "alias, canonical",
    [
        ("ns", "nonsaturating"), ("Non-Saturating", "nonsaturating"), ("non_saturating", "nonsaturating"),
        ("minimax", "saturating"), ("wgan", "wasserstein"), ("WGAN", "wasserstein"), ("ls", "lsgan"),
        ("LSGAN", "lsgan"), ("hinge", "hinge"), ("bce", "bce"),
    ],
)
def test_get_loss_resolves_aliases(alias, canonical):
    assert get_loss(alias) == losses.LOSSES[canonical]


def test_get_loss_pairs_the_right_functions():
    assert get_loss("bce") == (bce_discriminator_loss, nonsaturating_generator_loss)
    assert get_loss("saturating") == (bce_discriminator_loss, saturating_generator_loss)
    assert get_loss("hinge") == (hinge_discriminator_loss, wasserstein_generator_loss)


def test_unknown_loss_name_lists_the_known_names():
    with pytest.raises(ValueError, match="unknown GAN loss 'relativistic'") as error:
        get_loss("relativistic")
    for name in ("bce", "hinge", "lsgan", "nonsaturating", "saturating", "wasserstein"):
        assert name in str(error.value)


# ----------------------------------------------------------------------------
# gradient regularisers
# ----------------------------------------------------------------------------

def linear_critic(weight: torch.Tensor):
    """Return D(x) = w . x (x flattened per sample); its gradient is w at every x."""

    def critic(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        return scale * (x.flatten(1) @ weight)

    return critic


def quadratic_critic(a: float | torch.Tensor):
    """Return D(x) = 1/2 a ||x||^2; its gradient is a x."""

    def critic(x: torch.Tensor) -> torch.Tensor:
        return 0.5 * a * x.flatten(1).pow(2).sum(1)

    return critic


def test_gradient_penalty_is_zero_for_a_unit_norm_linear_critic():
    torch.manual_seed(0)
    weight = torch.randn(2 * 3 * 3, dtype=torch.float64)
    weight = weight / weight.norm()  # ||w|| = 1
    real, fake = torch.randn(5, 2, 3, 3, dtype=torch.float64), torch.randn(5, 2, 3, 3, dtype=torch.float64)
    assert gradient_penalty(linear_critic(weight), real, fake).item() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("norm", [0.0, 0.5, 3.0])
def test_gradient_penalty_of_a_linear_critic_is_norm_minus_one_squared(norm):
    torch.manual_seed(1)
    direction = torch.randn(12, dtype=torch.float64)
    weight = norm * direction / direction.norm()
    real, fake = torch.randn(4, 3, 2, 2, dtype=torch.float64), torch.randn(4, 3, 2, 2, dtype=torch.float64)
    assert gradient_penalty(linear_critic(weight), real, fake).item() == pytest.approx((norm - 1) ** 2, abs=1e-12)


def test_gradient_penalty_passes_extra_arguments_to_the_critic():
    weight = torch.zeros(4, dtype=torch.float64)
    weight[0] = 1.0
    real, fake = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    # D(x) = 2.5 w . x has gradient norm 2.5: (2.5 - 1)^2 = 2.25
    assert gradient_penalty(linear_critic(weight), real, fake, scale=2.5).item() == pytest.approx(2.25, abs=1e-12)


def test_gradient_penalty_is_differentiable_in_the_critic_and_ignores_the_generator():
    weight = t(3.0, 4.0).requires_grad_(True)  # ||w|| = 5
    real = torch.randn(6, 2, dtype=torch.float64)
    fake = torch.randn(6, 2, dtype=torch.float64, requires_grad=True)
    penalty = gradient_penalty(linear_critic(weight), real, fake)
    penalty.backward()
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w|| = 2 * 4 * (3, 4) / 5 = (4.8, 6.4)
    assert weight.grad.tolist() == pytest.approx([4.8, 6.4], abs=1e-12)
    assert fake.grad is None, "the penalty trains the critic only; G(z) must be detached"


def test_gradient_penalty_evaluates_the_critic_between_real_and_fake():
    # With fake == real every interpolate x_hat is x itself, whatever epsilon is drawn:
    # grad of 1/2 a ||x||^2 is a x, so the penalty is mean((a ||x|| - 1)^2).
    a = 2.0
    real = t(1.0, 0.0, 0.0, 0.5, 0.0, 0.0).reshape(3, 2)  # ||x|| = 1, 0, 0.5
    expected = ((a * 1.0 - 1) ** 2 + (a * 0.0 - 1) ** 2 + (a * 0.5 - 1) ** 2) / 3  # (1 + 1 + 0) / 3
    assert gradient_penalty(quadratic_critic(a), real, real.clone()).item() == pytest.approx(expected, abs=1e-12)


def test_r1_penalty_of_a_quadratic_critic_is_a_squared_mean_squared_norm():
    a = 3.0
    real = t(1.0, 2.0, 0.0, 0.0, 3.0, 4.0).reshape(2, 1, 3)  # ||x||^2 = 5 and 25, mean 15
    # grad_x 1/2 a ||x||^2 = a x, so E||grad||^2 = a^2 E||x||^2 = 9 * 15 = 135
    assert r1_penalty(quadratic_critic(a), real).item() == pytest.approx(a**2 * 15.0, abs=1e-9)


def test_r1_penalty_is_differentiable_in_the_critic_and_leaves_real_data_alone():
    a = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    real = t(1.0, 2.0, 0.0, 0.0, 3.0, 4.0).reshape(2, 3)  # E||x||^2 = 15
    penalty = r1_penalty(quadratic_critic(a), real)
    penalty.backward()
    # d/da (a^2 E||x||^2) = 2 a E||x||^2 = 2 * 3 * 15 = 90
    assert a.grad.item() == pytest.approx(90.0, abs=1e-9)
    assert not real.requires_grad, "r1_penalty must not turn the caller's tensor into a leaf that needs grad"


def test_r1_penalty_is_zero_for_a_constant_critic():
    real = torch.randn(4, 3, dtype=torch.float64)

    def constant(x: torch.Tensor) -> torch.Tensor:
        return 0.0 * x.sum(1) + 7.0

    assert r1_penalty(constant, real).item() == 0.0

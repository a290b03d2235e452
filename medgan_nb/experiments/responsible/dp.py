r"""Notebook 08, a differentially private discriminator: DP-SGD through Opacus, and the price of privacy.

:func:`train_dp_gan` trains a GAN whose discriminator is
:math:`(\varepsilon, \delta)`-DP by DP-SGD (per-example clipping to norm
:math:`C`, Gaussian noise, Poisson-sampled batches, Opacus' RDP accountant
picking the noise multiplier); the generator sees only the discriminator's
outputs, so it is DP too by post-processing. Its own short loop replaces
:func:`medgan_nb.train.train_gan` because Opacus must own the discriminator's
optimiser and data loader, and the same loop runs without DP (``epsilon=None``).
:func:`privacy_curve` runs it at several :math:`\varepsilon` and records the
Fréchet distance and the membership attack's AUC; :func:`plot_privacy_curve` and
:func:`dp_verdict` show and judge the trade-off.
"""
from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from ...losses import bce_discriminator_loss
from ...metrics.fid import frechet_distance, sample_generator
from ...metrics.uncertainty import NO_CLEAR_DIFFERENCE, above
from ...metrics.privacy import check_privacy_budget, discriminator_scores, membership_auc
from ...models.dcgan import build_dcgan
from .privacy import _auc_error


def train_dp_gan(images: torch.Tensor, epsilon: float | None, delta: float, steps: int, batch_size: int,
                 width: int, max_grad_norm: float = 1.0, seed: int = 0, device: str = "cpu",
                 progress: bool = True, lr: float = 2e-4) -> dict:
    """Return {"generator", "discriminator", "epsilon", "noise_multiplier", "steps"} of a GAN whose D is DP (or not, epsilon=None)."""
    from opacus import PrivacyEngine
    from opacus.validators import ModuleValidator

    n = len(images)
    if epsilon is not None:
        epsilon, delta = check_privacy_budget(epsilon, delta, n)
    torch.manual_seed(seed)
    generator, discriminator = build_dcgan(image_size=images.shape[-1], width=width, batch_norm=False)
    for layer in discriminator.modules():
        if isinstance(layer, nn.LeakyReLU):
            layer.inplace = False  # Opacus' backward hooks cannot see through in-place activations
    generator, discriminator = generator.to(device), discriminator.to(device)
    ModuleValidator.validate(discriminator, strict=True)  # DP-SGD needs per-example gradients: no BatchNorm in D
    optimizer_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=(0.5, 0.999))
    optimizer_d = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=(0.5, 0.999))
    batch_size = min(batch_size, n)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images), batch_size=batch_size, shuffle=True,
                                         generator=torch.Generator().manual_seed(seed))
    epochs = max(1, math.ceil(steps / len(loader)))
    engine, noise_multiplier = None, 0.0
    if epsilon is not None:
        engine = PrivacyEngine(accountant="rdp")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Opacus warns that secure_mode is off (fine for teaching)
            discriminator, optimizer_d, loader = engine.make_private_with_epsilon(
                module=discriminator, optimizer=optimizer_d, data_loader=loader, target_epsilon=epsilon,
                target_delta=delta, epochs=epochs, max_grad_norm=max_grad_norm,
                noise_generator=torch.Generator(device=device).manual_seed(seed))
        noise_multiplier = float(optimizer_d.noise_multiplier)
    latent = torch.Generator(device=device).manual_seed(seed + 1)
    done = 0
    bar = tqdm(total=epochs * len(loader), desc=f"GAN, DP eps={epsilon}" if epsilon else "GAN, no DP", disable=not progress)
    for _ in range(epochs):
        for (real,) in loader:
            bar.update(1)
            if len(real) == 0:  # Poisson sampling may draw an empty batch: nothing to learn from
                continue
            real = real.to(device)
            z = torch.randn(len(real), generator.latent_dim, generator=latent, device=device)
            fake = generator(z)
            # D step: L_D = -log sigma(D(x)) - log(1 - sigma(D(G(z)))); with DP, Opacus clips each example's gradient
            optimizer_d.zero_grad(set_to_none=True)
            bce_discriminator_loss(discriminator(real), discriminator(fake.detach())).backward()
            optimizer_d.step()
            # G step: L_G = -log sigma(D(G(z))); G never sees a real image, only D's output (post-processing)
            optimizer_g.zero_grad(set_to_none=True)
            if engine is not None:
                discriminator.disable_hooks()  # no per-example gradients of D for G's step (D is not updated)
            nn.functional.softplus(-discriminator(fake)).mean().backward()
            optimizer_g.step()
            if engine is not None:
                discriminator.enable_hooks()
            optimizer_d.zero_grad(set_to_none=True)  # drop the gradients the G step left in D
            done += 1
    bar.close()
    spent = float(engine.get_epsilon(delta)) if engine is not None else float("inf")
    generator.eval()
    return {"generator": generator, "discriminator": discriminator, "epsilon": spent,
            "noise_multiplier": noise_multiplier, "steps": done}


def privacy_curve(images: torch.Tensor, heldout: torch.Tensor, epsilons: Sequence[float | None], delta: float,
                  steps: int, batch_size: int, width: int, seed: int = 0, device: str = "cpu",
                  lr: float = 1e-3) -> pd.DataFrame:
    """Return one row per target epsilon (None = no DP): epsilon spent, noise, Fréchet distance and attack AUC.

    The attack scores every training image (the members) against every held-out image (the non-members):
    a DP run trains on few images, so the members are few, and the AUC's standard error shrinks with each
    extra non-member (Hanley & McNeil), which lets the verdict see a smaller effect.
    """
    rows = []
    members = images
    nonmembers = heldout
    for target in tqdm(list(epsilons), desc="privacy budgets"):
        result = train_dp_gan(images, target, delta, steps, batch_size, width, seed=seed, device=device,
                              progress=False, lr=lr)
        fake = sample_generator(result["generator"], len(heldout), seed=seed + 1)
        rows.append({
            "target_epsilon": math.inf if target is None else float(target), "epsilon": result["epsilon"],
            "noise_multiplier": result["noise_multiplier"], "frechet_distance": frechet_distance(heldout, fake),
            "attack_auc": membership_auc(discriminator_scores(result["discriminator"], members),
                                         discriminator_scores(result["discriminator"], nonmembers)),
            "n_members": len(members), "n_nonmembers": len(nonmembers),
        })
    return pd.DataFrame(rows)


def plot_privacy_curve(curve: pd.DataFrame):
    """Return a figure: Fréchet distance and attack AUC against the spent epsilon, the no-DP run as a dashed line.

    With a single private run (one epsilon, as under the smoke profile) the DP result is one marked point,
    labelled as such, not a "curve".
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    private = curve[np.isfinite(curve["epsilon"])].sort_values("epsilon")
    plain = curve[~np.isfinite(curve["epsilon"])]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    one = len(private) == 1
    for axis, column, label in ((left, "frechet_distance", "Fréchet distance"),
                                (right, "attack_auc", "attack ROC AUC")):
        axis.plot(private["epsilon"], private[column], marker="o", linestyle="none" if one else "-",
                  label="DP-SGD discriminator" + (" (one budget)" if one else ""))
        for value in plain[column]:
            axis.axhline(value, color="tab:red", linestyle="--", label="no DP")
        axis.set_xscale("log")
        if one:  # a log axis around a single point: a decade either side
            axis.set_xlim(private["epsilon"].iloc[0] / 10, private["epsilon"].iloc[0] * 10)
        # ticks at the budgets spent, and no minor-tick labels (on a log axis spanning about a decade they print
        # on top of each other)
        axis.set_xticks(private["epsilon"].tolist(), [f"{e:.2g}" for e in private["epsilon"]])
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.set(xlabel="ε spent (log scale; smaller = more private)", ylabel=label)
        axis.legend(fontsize=8)
    right.axhline(0.5, color="grey", linestyle=":")
    left.set_title("Price of privacy: distance to held-out images")
    right.set_title("Benefit of privacy: what the attack learns")
    fig.tight_layout()
    return fig


def dp_verdict(curve: pd.DataFrame) -> str:
    """Return the verdict: does the most private run lower the attack's AUC below the non-private one's, beyond its error?"""
    plain = curve[~np.isfinite(curve["epsilon"])].iloc[0]
    strict = curve[np.isfinite(curve["epsilon"])].sort_values("epsilon").iloc[0]
    se_plain, se_strict = _auc_error(plain), _auc_error(strict)
    leaks = above(plain["attack_auc"], 0.5, se_plain)
    if not leaks:
        effect = (f"the non-private discriminator does not clearly leak here (AUC {plain['attack_auc']:.3f} ± "
                  f"{2 * se_plain:.3f}), so there is nothing for DP to remove at this budget")
    elif above(plain["attack_auc"], strict["attack_auc"], se_plain, se_strict):
        effect = "DP clearly lowers the attack's AUC"
    else:
        effect = f"{NO_CLEAR_DIFFERENCE}: DP does not lower the attack's AUC beyond its error"
    return (f"verdict: at epsilon {strict['epsilon']:.2f} the attack's AUC is {strict['attack_auc']:.3f} ± "
            f"{2 * se_strict:.3f} (no DP: {plain['attack_auc']:.3f} ± {2 * se_plain:.3f}) and the Fréchet distance "
            f"{strict['frechet_distance']:.3f} (no DP: {plain['frechet_distance']:.3f}): {effect}")

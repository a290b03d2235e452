r"""Notebook 08's experiments: fairness across skin tones, privacy along training, DP-SGD, synthetic records.

Four experiments, each a function the notebook calls in one line:

* :func:`skewed_indices` / :func:`rebalanced_indices` build a light-skin-heavy
  training set and its remedy (the dark-skin images resampled to half the set);
  :func:`fairness_audit` measures a generator per skin-tone group
  (:mod:`medgan_nb.metrics.fairness`).
* :func:`privacy_along_training` trains small DCGANs on training sets of several
  sizes and, every few steps, records the near-copy share and the
  membership-inference AUC of the discriminator (:mod:`medgan_nb.metrics.privacy`).
* :func:`train_dp_gan` trains a GAN whose discriminator is differentially
  private by DP-SGD (Abadi et al., 2016) through Opacus. Each step clips every
  example's gradient to norm :math:`C` and adds Gaussian noise,

  .. math:: \tilde g = \frac{1}{B}\Big(\sum_{i \in \text{batch}} g_i \min\big(1, \tfrac{C}{\lVert g_i \rVert}\big)
            + \mathcal N(0, \sigma^2 C^2 I)\Big),

  with batches drawn by Poisson sampling; Opacus picks the noise multiplier
  :math:`\sigma` that reaches a target :math:`(\varepsilon, \delta)` after the
  planned number of steps (its RDP accountant). Only :math:`D` touches the real
  images; :math:`G` learns from :math:`D`'s outputs alone, so by the
  post-processing property of DP the generator (and every image it draws) is
  :math:`(\varepsilon, \delta)`-DP too. :func:`privacy_curve` runs it at several
  :math:`\varepsilon`.
* :func:`fit_ctgan` and :func:`tabular_report` fit a conditional tabular GAN
  (CTGAN, Xu et al., 2019, from the ``ctgan`` package) to health records and
  score the synthetic table with ``sdmetrics`` (column shapes, column-pair
  trends), train-on-synthetic/test-on-real utility and closest-record distances.

The DP GAN has its own short loop instead of :func:`medgan_nb.train.train_gan`:
Opacus must own the discriminator's optimiser and its data loader (per-example
gradients, clipping, noise, Poisson-sampled batches), which the engine's fused
step does not expose. The same loop runs without DP (``epsilon=None``), so the
curve compares like with like.
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

from .. import viz
from ..data.tabular import CATEGORICAL_COLUMNS
from ..losses import bce_discriminator_loss
from ..metrics.fairness import GROUPS, check_groups_present, coverage_distance, estimate_groups, group_shares, per_group_accuracy
from ..metrics.fid import frechet_distance, sample_generator
from ..metrics.uncertainty import NO_CLEAR_DIFFERENCE, above, above_chance, auc_se, differs, share_se
from ..metrics.privacy import (check_privacy_budget, closest_record_summary, discriminator_scores,
                               membership_auc, memorisation_record)
from ..models.dcgan import build_dcgan
from ..models.conditional import build_cgan
from ..train import TrainConfig, train_gan


# --------------------------------------------------------------------------------------
# Fairness across skin tones
# --------------------------------------------------------------------------------------

def skewed_indices(groups: Sequence[str] | np.ndarray, dark_share: float, seed: int = 0) -> np.ndarray:
    """Return indices of a subset with every light image and dark images making up ``dark_share`` of it."""
    groups = np.asarray(groups)
    check_groups_present(groups, "the training images")
    if not 0 < dark_share < 1:
        raise ValueError(f"dark_share must lie strictly between 0 and 1, got {dark_share!r}, e.g. 0.05")
    light, dark = np.flatnonzero(groups == "light"), np.flatnonzero(groups == "dark")
    # n_dark / (n_light + n_dark) = dark_share  =>  n_dark = dark_share / (1 - dark_share) * n_light
    n_dark = int(np.clip(round(dark_share / (1 - dark_share) * len(light)), 1, len(dark)))
    chosen = np.random.default_rng(seed).choice(dark, size=n_dark, replace=False)
    return np.sort(np.concatenate([light, chosen]))


def rebalanced_indices(groups: Sequence[str] | np.ndarray, seed: int = 0) -> np.ndarray:
    """Return indices that resample every group (with replacement) to as many images as the largest group has."""
    groups = np.asarray(groups)
    check_groups_present(groups, "the training images")
    rng = np.random.default_rng(seed)
    largest = max(int((groups == name).sum()) for name in GROUPS)
    parts = [rng.choice(np.flatnonzero(groups == name), size=largest, replace=True) for name in GROUPS]
    return rng.permutation(np.concatenate(parts))


def train_conditional_gan(images: torch.Tensor, labels: torch.Tensor, num_classes: int, steps: int,
                          batch_size: int, width: int, seed: int = 0, device: str = "cpu") -> nn.Module:
    """Return the generator of a class-conditional GAN (cGAN) trained on (images, labels) with the engine."""
    generator, discriminator = build_cgan(image_size=images.shape[-1], num_classes=num_classes, width=width)
    config = TrainConfig(steps=steps, batch_size=min(batch_size, len(images)), seed=seed, device=device, amp="off",
                         log_every=max(1, steps // 50))
    return train_gan(generator, discriminator, images, config, labels=labels).best_generator


def fairness_audit(generator: nn.Module, n_samples: int, class_probabilities: torch.Tensor,
                   heldout: torch.Tensor, heldout_labels: torch.Tensor, heldout_groups: Sequence[str],
                   seed: int = 0) -> dict:
    """Return per-group shares, coverage distances and synthetic-trained accuracies of a conditional generator."""
    heldout_groups = np.asarray(heldout_groups)
    check_groups_present(heldout_groups, "the held-out images")
    rng = torch.Generator().manual_seed(seed)
    labels = torch.multinomial(class_probabilities.float(), n_samples, replacement=True, generator=rng)
    fake = sample_generator(generator, n_samples, seed=seed, labels=labels)
    return {
        "generated_share": group_shares(estimate_groups(fake)),
        "coverage_distance": coverage_distance(fake, heldout, heldout_groups),
        "synthetic_accuracy": per_group_accuracy(fake, labels, heldout, heldout_labels, heldout_groups, seed=seed),
        "n_heldout": {group: int((heldout_groups == group).sum()) for group in GROUPS},
        "num_classes": int(class_probabilities.numel()),
        "samples": fake,
    }


# --------------------------------------------------------------------------------------
# Privacy along training: near-copies and membership inference
# --------------------------------------------------------------------------------------

def privacy_along_training(pool: torch.Tensor, heldout: torch.Tensor, train_sizes: Sequence[int], steps: int,
                           batch_size: int, width: int, n_checks: int = 5, n_generated: int = 200,
                           seed: int = 0, device: str = "cpu", lr: float = 1e-3) -> pd.DataFrame:
    """Return one row per (training-set size, step): near-copy share, memorisation ratio and attack AUC."""
    rows = []
    for n_train in tqdm(list(train_sizes), desc="training-set sizes"):
        if not 2 <= n_train <= len(pool):
            raise ValueError(f"training-set size {n_train} must lie between 2 and the pool's {len(pool)} images")
        train = pool[:n_train]
        members = train[: len(heldout)]  # as many members as non-members, so the AUC compares like with like
        nonmembers = heldout[: len(members)]
        generator, discriminator = build_dcgan(image_size=pool.shape[-1], width=width, batch_norm=False)
        check_every = max(1, steps // n_checks)

        def audit(step: int, state, n_train=n_train, train=train, members=members, nonmembers=nonmembers) -> None:
            if step % check_every and step != state.total_steps:
                return
            state.generator.eval()
            fake = sample_generator(state.generator, n_generated, seed=seed + 1)
            state.generator.train()
            row = memorisation_record(step, fake, train, heldout)
            row.update(n_train=n_train, attack_auc=membership_auc(discriminator_scores(state.discriminator, members),
                                                                  discriminator_scores(state.discriminator, nonmembers)),
                       n_members=len(members), n_nonmembers=len(nonmembers))
            rows.append(row)

        # a fast learning rate (5x DCGAN's) lets D memorise within the few steps of a teaching run
        config = TrainConfig(steps=steps, batch_size=min(batch_size, n_train), seed=seed, device=device, amp="off",
                             lr_g=lr, lr_d=lr, progress=False, log_every=max(1, steps // 20))
        train_gan(generator, discriminator, train, config, callbacks=[audit])
    return pd.DataFrame(rows)[["n_train", "step", "copy_fraction", "memorization_ratio", "attack_auc", "n_members",
                               "n_nonmembers"]]


# --------------------------------------------------------------------------------------
# Differentially private discriminator (Opacus DP-SGD)
# --------------------------------------------------------------------------------------

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
    """Return one row per target epsilon (None = no DP): epsilon spent, noise, Fréchet distance and attack AUC."""
    rows = []
    members = images[: len(heldout)]
    nonmembers = heldout[: len(members)]
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


# --------------------------------------------------------------------------------------
# Synthetic health records: CTGAN, sdmetrics, utility, closest records
# --------------------------------------------------------------------------------------

MISSING_SUFFIX = "__missing"


class MissingAwareCTGAN:
    """CTGAN with missing numbers: each gappy numeric column gets a yes/no "missing" column CTGAN learns with the rest.

    CTGAN refuses NaN in numeric columns; SDV solves it the same way: fill the gaps
    (here with the column's median) and model the missingness as its own category,
    so the synthetic table is missing values as often, and for the same kind of
    rows, as the real one (e.g. LDH missing more often for young patients).
    """

    def __init__(self, model, columns: list[str], gappy: list[str]) -> None:
        self.model, self.columns, self.gappy = model, columns, gappy

    def sample(self, n: int) -> pd.DataFrame:
        """Return ``n`` synthetic records with the original columns, NaN where the model drew "missing"."""
        table = self.model.sample(n)
        for column in self.gappy:
            table.loc[table[column + MISSING_SUFFIX] == "yes", column] = np.nan
        return table[self.columns]


def fit_ctgan(train: pd.DataFrame, epochs: int, batch_size: int = 100, seed: int = 0) -> MissingAwareCTGAN:
    """Return a CTGAN model (the ``ctgan`` package) fitted to ``train``; its ``.sample(n)`` draws records."""
    from ctgan import CTGAN

    torch.manual_seed(seed)
    np.random.seed(seed)
    numeric = [c for c in train.columns if c not in CATEGORICAL_COLUMNS]
    gappy = [c for c in numeric if train[c].isna().any()]
    filled = train.copy()
    for column in gappy:
        filled[column + MISSING_SUFFIX] = np.where(train[column].isna(), "yes", "no")
        filled[column] = train[column].fillna(train[column].median())
    discrete = [c for c in filled.columns if c in CATEGORICAL_COLUMNS or c.endswith(MISSING_SUFFIX)]
    batch_size = max(10, min(batch_size, len(train)) // 10 * 10)  # CTGAN needs a multiple of its pac (10)
    model = CTGAN(epochs=epochs, batch_size=batch_size, pac=10, enable_gpu=False, verbose=False)
    model.set_random_state(seed)
    model.fit(filled, discrete_columns=discrete)
    return MissingAwareCTGAN(model, list(train.columns), gappy)


def sdmetrics_metadata(table: pd.DataFrame) -> dict:
    """Return the sdmetrics single-table metadata: each column as "categorical" or "numerical"."""
    return {"columns": {column: {"sdtype": "categorical" if column in CATEGORICAL_COLUMNS else "numerical"}
                        for column in table.columns}}


def utility_accuracy(train: pd.DataFrame, test: pd.DataFrame, target: str = "dx", seed: int = 0) -> float:
    """Return the accuracy on ``test`` of a random forest that predicts ``target`` from the other columns of ``train``."""
    from sklearn.ensemble import RandomForestClassifier

    from ..metrics.privacy import encode_records

    features = [column for column in train.columns if column != target]
    train_x, test_x = encode_records([train[features], test[features]], reference=train[features])
    forest = RandomForestClassifier(n_estimators=100, min_samples_leaf=3, random_state=seed, n_jobs=1)
    forest.fit(train_x, train[target].astype(str))
    return float((forest.predict(test_x) == test[target].astype(str).to_numpy()).mean())


def tabular_report(train: pd.DataFrame, heldout: pd.DataFrame, synthetic: pd.DataFrame, seed: int = 0) -> dict:
    """Return fidelity (sdmetrics), utility (train on synthetic vs real, test on real) and closest-record figures."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the single-table report's move to a multi-table API
        from sdmetrics.reports.single_table import QualityReport

    report = QualityReport()
    report.generate(train, synthetic, sdmetrics_metadata(train), verbose=False)
    properties = report.get_properties().set_index("Property")["Score"]
    missing_real = train.isna().mean()
    missing_synthetic = synthetic.isna().mean()
    result = {
        "column_shapes": float(properties["Column Shapes"]),  # mean KS / TV complement per column, 1 = identical
        "column_pair_trends": float(properties["Column Pair Trends"]),  # correlation / contingency similarity
        "quality_score": float(report.get_score()),
        "missing_share_real": {c: float(v) for c, v in missing_real.items() if v > 0},
        "missing_share_synthetic": {c: float(missing_synthetic[c]) for c, v in missing_real.items() if v > 0},
        "utility_real": utility_accuracy(train, heldout, seed=seed),
        "utility_synthetic": utility_accuracy(synthetic, heldout, seed=seed),
        "majority_class_accuracy": float((heldout["dx"] == train["dx"].mode()[0]).mean()),
    }
    result.update(closest_record_summary(synthetic, train, heldout))
    result["column_details"] = report.get_details("Column Shapes")
    return result


# --------------------------------------------------------------------------------------
# Tables, verdicts and figures for the notebook
# --------------------------------------------------------------------------------------

AUDIT_FIGURES = ("generated_share", "coverage_distance", "synthetic_accuracy")


def before_after_table(before: dict, after: dict, training_share: dict[str, float]) -> pd.DataFrame:
    """Return a table (rows: figure and moment, columns: the skin-tone groups) of the audits before and after the remedy."""
    rows = {("training_share", "skewed set"): training_share}
    for moment, audit in (("before", before), ("after", after)):
        for figure in AUDIT_FIGURES:
            rows[(figure, moment)] = {group: audit[figure][group] for group in GROUPS}
    table = pd.DataFrame(rows).T
    table.index.names = ["figure", "moment"]
    return table


def fairness_verdict(before: dict, after: dict) -> str:
    """Return the verdict on the remedy: the dark group's share and coverage, and each group's accuracy with its error.

    An accuracy is a share of the group's held-out images, so its standard error is that of a proportion;
    a change of accuracy, and a group's accuracy against chance (1/K), are called only beyond two standard
    errors, since the dark group may have only a handful of held-out images.
    """
    share = after["generated_share"]["dark"] - before["generated_share"]["dark"]
    dark = after["coverage_distance"]["dark"] - before["coverage_distance"]["dark"]
    light = after["coverage_distance"]["light"] - before["coverage_distance"]["light"]
    lines = [f"verdict: rebalancing changed the dark group's generated share by {share:+.3f} and its coverage distance "
             f"by {dark:+.3f} ({'closer' if dark < 0 else 'not closer'}); the light group's coverage distance changed "
             f"by {light:+.3f} ({'a cost' if light > 0 else 'no cost'})"]
    chance = 1 / after.get("num_classes", 7)
    for group in GROUPS:
        n = after.get("n_heldout", {}).get(group, 0)
        a, b = before["synthetic_accuracy"][group], after["synthetic_accuracy"][group]
        if n < 1 or not (np.isfinite(a) and np.isfinite(b)):
            lines.append(f"  {group} skin: no held-out image of this group, so no accuracy")
            continue
        se_a, se_b = share_se(a, n), share_se(b, n)
        change = (f"{NO_CLEAR_DIFFERENCE} in accuracy" if not differs(a, b, se_a, se_b) else
                  "accuracy clearly higher after" if b > a else "accuracy clearly lower after")
        level = "above chance" if above_chance(b, chance, n) else f"not clearly above chance ({chance:.2f})"
        lines.append(f"  {group} skin, {n} held-out images: synthetic-trained accuracy {a:.3f} ± {2 * se_a:.3f} before, "
                     f"{b:.3f} ± {2 * se_b:.3f} after ({level}): {change}")
    return "\n".join(lines)


def audit_metrics(audit: dict, moment: str) -> dict[str, float]:
    """Return the audit's per-group figures as flat metrics named like ``before_coverage_distance_dark``."""
    return {f"{moment}_{figure}_{group}": float(audit[figure][group])
            for figure in AUDIT_FIGURES for group in (*GROUPS, "all") if group in audit[figure]}


def plot_before_after(table: pd.DataFrame):
    """Return a figure: one panel per audit figure, bars per skin-tone group before and after the remedy."""
    import matplotlib.pyplot as plt

    units = {"generated_share": "share of images", "coverage_distance": "feature distance (RMS)",
             "synthetic_accuracy": "accuracy on real images"}
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for axis, figure in zip(axes, AUDIT_FIGURES):
        values = table.loc[figure][list(GROUPS)]
        positions = np.arange(len(GROUPS))
        for offset, moment in ((-0.2, "before"), (0.2, "after")):
            axis.bar(positions + offset, values.loc[moment].to_numpy(), width=0.4, label=f"{moment} rebalancing")
        if figure == "generated_share":
            axis.scatter(positions, table.loc["training_share"][list(GROUPS)].to_numpy()[0], color="k", marker="_",
                         s=400, label="share in skewed training set", zorder=3)
        axis.set_xticks(positions, [f"{g} skin" for g in GROUPS])
        axis.set_xlabel("skin-tone group")
        axis.set_ylabel(units[figure])
        axis.set_title(figure.replace("_", " "))
    axes[0].legend(fontsize=8)
    fig.suptitle("Per-group audit of a conditional GAN before and after rebalancing the training set")
    viz.finish(fig)
    return fig


def plot_privacy_along_training(audit: pd.DataFrame):
    """Return a figure: near-copy share and membership-attack AUC against training steps, one line per set size."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
    for n_train, rows in audit.groupby("n_train"):
        left.plot(rows["step"], rows["copy_fraction"], marker="o", label=f"{n_train} training images")
        right.plot(rows["step"], rows["attack_auc"], marker="o", label=f"{n_train} training images")
    right.axhline(0.5, color="grey", linestyle="--", label="no leak (0.5)")
    left.set(title="Near-copies along training", xlabel="training step", ylabel="share of samples that are near-copies")
    right.set(title="Membership attack on D along training", xlabel="training step", ylabel="ROC AUC")
    left.legend(fontsize=8)
    right.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _auc_error(row) -> float:
    return auc_se(row["attack_auc"], int(row["n_members"]), int(row["n_nonmembers"]))


def privacy_verdict(audit: pd.DataFrame) -> str:
    """Return the verdict at the last step: does each training set leak (AUC clearly above 0.5), does the smaller leak more?

    The AUC's standard error is Hanley and McNeil's for the attack's members and non-members.
    """
    last = audit.sort_values("step").groupby("n_train").last()
    small, large = last.index.min(), last.index.max()
    auc_small, auc_large = last.loc[small, "attack_auc"], last.loc[large, "attack_auc"]
    se_small, se_large = _auc_error(last.loc[small]), _auc_error(last.loc[large])

    def leak(auc: float, se: float) -> str:
        return "a leak" if above(auc, 0.5, se) else "no clear leak"

    compare = ("the smaller set leaks more" if above(auc_small, auc_large, se_small, se_large) else
               "the larger set leaks more" if above(auc_large, auc_small, se_large, se_small) else
               f"{NO_CLEAR_DIFFERENCE} between the two sets")
    return (f"verdict: at the last step the attack's AUC is {auc_small:.3f} ± {2 * se_small:.3f} with {small} training "
            f"images ({leak(auc_small, se_small)}) and {auc_large:.3f} ± {2 * se_large:.3f} with {large} "
            f"({leak(auc_large, se_large)}): {compare}; near-copy shares {last.loc[small, 'copy_fraction']:.3f} and "
            f"{last.loc[large, 'copy_fraction']:.3f}")


def plot_privacy_curve(curve: pd.DataFrame):
    """Return a figure: Fréchet distance and attack AUC against the spent epsilon, the no-DP run as a dashed line.

    With a single private run (one epsilon, as under the smoke profile) the DP result is one marked point,
    labelled as such, not a "curve".
    """
    import matplotlib.pyplot as plt

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


def tabular_verdict(report: dict) -> str:
    """Return a one-line verdict on the synthetic table: fidelity, utility against the majority class, copies."""
    useful = report["utility_synthetic"] > report["majority_class_accuracy"]
    return (f"verdict: fidelity {report['quality_score']:.2f} (sdmetrics, 1 = identical); a classifier trained on "
            f"synthetic records {'beats' if useful else 'does not beat'} the majority class "
            f"({report['utility_synthetic']:.3f} vs {report['majority_class_accuracy']:.3f}; real: "
            f"{report['utility_real']:.3f}); exact copies {report['exact_copy_share']:.1%}, synthetic/held-out "
            f"closest-record ratio {report['dcr_ratio']:.2f} (near or above 1: no sign of copying)")


def plot_tabular_marginals(real: pd.DataFrame, synthetic: pd.DataFrame, columns: Sequence[str] | None = None):
    """Return a figure overlaying each column's distribution in real and synthetic records."""
    import matplotlib.pyplot as plt

    columns = list(columns or real.columns)
    fig, axes = plt.subplots(1, len(columns), figsize=(2.6 * len(columns), 3.2))
    for axis, column in zip(np.atleast_1d(axes), columns):
        if column in CATEGORICAL_COLUMNS:
            shares = pd.DataFrame({"real": real[column].value_counts(normalize=True),
                                   "synthetic": synthetic[column].value_counts(normalize=True)}).fillna(0)
            shares.plot.bar(ax=axis, width=0.8, legend=False)
            axis.set_ylabel("share of records")
        else:
            values = pd.concat([real[column], synthetic[column]]).dropna()
            bins = np.linspace(values.min(), values.max(), 20) if len(values) else 10
            axis.hist(real[column].dropna(), bins=bins, density=True, alpha=0.6, label="real")
            axis.hist(synthetic[column].dropna(), bins=bins, density=True, alpha=0.6, label="synthetic")
            axis.set_ylabel("density")
        axis.set_xlabel(column)
        axis.set_title(column, fontsize=9)
    np.atleast_1d(axes)[0].legend(["real", "synthetic"], fontsize=8)
    fig.suptitle("Real vs synthetic health records, column by column")
    viz.finish(fig)
    return fig

"""Notebook 08, privacy along training: near-copies and membership inference as a small DCGAN trains.

:func:`privacy_along_training` trains small DCGANs on training sets of several
sizes and, every few steps, records the share of generated near-copies, the
memorisation ratio and the ROC AUC of a membership attack that scores members
and non-members with the discriminator (:mod:`medgan_nb.metrics.privacy`);
:func:`plot_privacy_along_training` draws both against the step and
:func:`privacy_verdict` says, with Hanley and McNeil's standard error of the AUC
(:func:`_auc_error`, also used by the DP verdict), whether each set leaks and
whether the smaller one leaks more.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd
import torch
from tqdm.auto import tqdm

from ...metrics.fid import sample_generator
from ...metrics.uncertainty import NO_CLEAR_DIFFERENCE, above, auc_se
from ...metrics.privacy import discriminator_scores, membership_auc, memorisation_record
from ...models.dcgan import build_dcgan
from ...train import TrainConfig, train_gan


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

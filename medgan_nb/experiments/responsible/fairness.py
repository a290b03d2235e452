"""Notebook 08, fairness across skin tones: a skewed training set, two remedies, and a per-group audit.

:func:`skewed_indices` builds a light-skin-heavy training set and
:func:`rebalanced_indices` the first remedy (the dark-skin images resampled to a
target share); :func:`train_conditional_gan` trains a class-conditional GAN with
the engine. :func:`draw_labelled` draws its samples with their labels and, for
the second remedy, keeps samples by estimated skin tone until the dark ones make
up a target share. :func:`fairness_audit` measures a set of samples per
skin-tone group (generated share, coverage distance; :mod:`medgan_nb.metrics.fairness`)
and how often a judge, a classifier trained on real images (:func:`train_judge`),
recognises the diagnosis each sample was drawn for. :func:`remedy_table`,
:func:`fairness_verdict`, :func:`audit_metrics` and :func:`plot_remedies` turn
the audits of the arms into a table, a verdict with standard errors, flat
metrics and a figure; :func:`reference_audits` does the same for the shipped
long runs of each arm, with errors across runs (:func:`summarise_runs`).
"""
from __future__ import annotations

import textwrap
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from ... import viz
from ...metrics.classifier import predict, train_classifier
from ...metrics.fairness import GROUPS, check_groups_present, coverage_distance, estimate_groups, group_shares
from ...metrics.fid import features_of, sample_generator
from ...metrics.uncertainty import NO_CLEAR_DIFFERENCE, differs, mean_se, share_se
from ...models import build_family
from ...train import family_config, train_gan
from ...weights import reference_for_run

FAMILY = "projection"  # with the AC-GAN class head: notebook 04's family whose samples follow their label


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


def rebalanced_indices(groups: Sequence[str] | np.ndarray, seed: int = 0, dark_share: float = 0.5) -> np.ndarray:
    """Return indices that keep every light image and resample the dark ones (with replacement) to ``dark_share``
    of the result (0.5: both groups as large as the light one)."""
    groups = np.asarray(groups)
    check_groups_present(groups, "the training images")
    if not 0 < dark_share < 1:
        raise ValueError(f"dark_share must lie strictly between 0 and 1, got {dark_share!r}, e.g. 0.5 for equal groups")
    rng = np.random.default_rng(seed)
    light, dark = np.flatnonzero(groups == "light"), np.flatnonzero(groups == "dark")
    n_dark = max(1, round(dark_share / (1 - dark_share) * len(light)))  # as in skewed_indices
    return rng.permutation(np.concatenate([light, rng.choice(dark, size=n_dark, replace=True)]))


def train_conditional_gan(images: torch.Tensor, labels: torch.Tensor, num_classes: int, steps: int,
                          batch_size: int, width: int, seed: int = 0, device: str = "cpu") -> nn.Module:
    """Return the generator of a class-conditional GAN trained on (images, labels) with the engine.

    The family is notebook 04's projection discriminator with the AC-GAN class head (``class_weight`` 1), the one
    whose samples a real-image classifier recognises there: an audit of class fidelity per group needs a generator
    that follows its label at all.
    """
    size = images.shape[-1]
    generator, discriminator = build_family(FAMILY, image_size=size, num_classes=num_classes, width=width,
                                            class_head=True)
    config = family_config(FAMILY, size, steps=steps, batch_size=min(batch_size, len(images)), seed=seed,
                           device=device, amp="off", class_weight=1.0, log_every=max(1, steps // 50))
    return train_gan(generator, discriminator, images, config, labels=labels).best_generator


def train_judge(train_set, epochs: int, seed: int = 0) -> nn.Module:
    """Return the judge of the audit: a small CNN trained on the real training images (every group) and labels."""
    return train_classifier(train_set.images, train_set.labels, train_set.num_classes, epochs=epochs, seed=seed)


def judge_on_real(judge: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                  groups: Sequence[str]) -> dict[str, float]:
    """Return the judge's accuracy on real images of each group, the yardstick for a group's recognised share."""
    groups = np.asarray(groups)
    correct = (predict(judge, images) == labels).numpy()
    return {group: round(float(correct[groups == group].mean()), 3) for group in GROUPS if (groups == group).any()}


def draw_labelled(generator: nn.Module, n: int, class_probabilities: torch.Tensor, dark_share: float | None = None,
                  seed: int = 0, max_rounds: int = 20) -> dict:
    """Return ``n`` samples with labels drawn from ``class_probabilities``, and each sample's estimated group.

    With ``dark_share`` the samples are *selected*: batches of ``n`` are drawn and every sample's skin tone is
    estimated (ITA) until ``round(dark_share * n)`` dark and the rest light are kept. The generator is unchanged;
    only which of its samples are kept. A generator that rarely draws dark skin may not fill the dark part within
    ``max_rounds`` batches: the result then holds fewer dark samples, and ``"filled"`` says so.
    """
    if dark_share is not None and not 0 <= dark_share <= 1:
        raise ValueError(f"dark_share must lie in [0, 1], got {dark_share!r}, e.g. 0.5 for equal groups")
    rng = torch.Generator().manual_seed(seed)
    wanted = None if dark_share is None else {"dark": round(dark_share * n), "light": n - round(dark_share * n)}
    kept: dict[str, list] = {group: [] for group in GROUPS}  # (images, labels) per batch
    count, drawn = dict.fromkeys(GROUPS, 0), 0
    for round_ in range(1 if wanted is None else max_rounds):
        labels = torch.multinomial(class_probabilities.float(), n, replacement=True, generator=rng)
        images = sample_generator(generator, n, seed=seed + 7919 * round_, labels=labels)
        groups, drawn = estimate_groups(images), drawn + n
        for group in GROUPS:
            index = torch.from_numpy(np.flatnonzero(groups == group))
            if wanted is not None:
                index = index[:wanted[group] - count[group]]
            kept[group].append((images[index], labels[index]))
            count[group] += len(index)
        filled = wanted is None or all(count[group] >= wanted[group] for group in GROUPS)
        if filled:
            break
    images = torch.cat([batch[0] for group in GROUPS for batch in kept[group]])
    labels = torch.cat([batch[1] for group in GROUPS for batch in kept[group]])
    groups = np.repeat(np.array(GROUPS), [count[group] for group in GROUPS])
    return {"images": images, "labels": labels, "groups": groups, "drawn": drawn, "filled": bool(filled)}


def fairness_audit(drawn: dict, judge: nn.Module, heldout: torch.Tensor, heldout_groups: Sequence[str],
                   heldout_features: torch.Tensor | None = None) -> dict:
    """Return per-group shares, coverage distances and the judge's recognition of a :func:`draw_labelled` set.

    ``recognised`` is, per group, the share of that group's samples that ``judge`` (a classifier trained on real
    images) assigns to the class they were drawn for: NaN for a group with no sample. ``heldout_features``
    (``features_of(heldout)``) spares recomputing them when several sets are audited against one held-out set.
    """
    heldout_groups = np.asarray(heldout_groups)
    check_groups_present(heldout_groups, "the held-out images")
    images, labels, groups = drawn["images"], drawn["labels"], np.asarray(drawn["groups"])
    correct = (predict(judge, images) == labels).numpy()
    counts = {group: int((groups == group).sum()) for group in GROUPS}
    return {
        "generated_share": group_shares(groups),
        "coverage_distance": coverage_distance(images, heldout, heldout_groups, real_features=heldout_features),
        "recognised": {group: float(correct[groups == group].mean()) if counts[group] else float("nan")
                       for group in GROUPS},
        "n_generated": counts, "n_heldout": {group: int((heldout_groups == group).sum()) for group in GROUPS},
        "num_classes": int(judge.num_classes),
    }


AUDIT_FIGURES = ("generated_share", "coverage_distance", "recognised")


#: the arms of the remedy comparison: the skewed set's GAN, the GAN of the resampled set, the skewed GAN's samples
#: selected by estimated tone
ARMS = ("skewed", "resampled", "selected")
ARM_TITLES = {"skewed": "trained on the skewed set", "resampled": "trained on the resampled set",
              "selected": "skewed GAN, samples selected by tone"}


#: how many long training runs of each trained arm the kit ships (notebook 08, section 4b)
REFERENCE_RUNS = 3


def reference_names(arm: str) -> list[str]:
    """Return the names of the shipped reference runs of one trained arm ("skewed" or "resampled")."""
    return [f"fairness_{arm}_{seed}" for seed in range(REFERENCE_RUNS)]


def reference_audits(dataset: str, image_size: int, judge: nn.Module, heldout: torch.Tensor,
                     heldout_groups: Sequence[str], class_probabilities: torch.Tensor, n_samples: int,
                     seed: int = 0) -> tuple[dict | None, float | None, str]:
    """Return (the arms' audits summarised over the shipped reference runs, the dark share their remedies aimed
    at, a line saying what was loaded), or (None, None, why not) when the run is not the phantom at their size.

    The runs are compared with each other, with this run's judge and held-out images, so any width of the
    notebook's own network will do."""
    loaded: dict[str, list] = {"skewed": [], "resampled": []}
    for arm, generators in loaded.items():
        for name in reference_names(arm):
            generator, card, line = reference_for_run(name, dataset, image_size, "a conditional GAN")
            if generator is None:
                return None, None, line
            generators.append(generator)
    target = float(card["metrics"]["target_share"])
    heldout_features = features_of(heldout)  # once for the nine audits
    audits: dict[str, list] = {arm: [] for arm in ARMS}
    for skewed, resampled in tqdm(list(zip(loaded["skewed"], loaded["resampled"])), desc="auditing reference runs"):
        for arm, generator, share in (("skewed", skewed, None), ("resampled", resampled, None),
                                      ("selected", skewed, target)):
            drawn = draw_labelled(generator, n_samples, class_probabilities, share, seed=seed)
            audits[arm].append(fairness_audit(drawn, judge, heldout, heldout_groups, heldout_features))
    return ({arm: summarise_runs(runs) for arm, runs in audits.items()}, target,
            f"loaded {REFERENCE_RUNS} reference runs of each trained arm ({card['steps']} steps each, sha256 checked)")


def summarise_runs(audits: Sequence[dict]) -> dict:
    """Return one audit holding each figure's mean over several training runs and, under ``"se"``, its standard
    error across the runs (so it includes the run-to-run spread of GAN training; for a recognised share, at least the
    sampling error of all the runs' samples together); counts are summed."""
    if len(audits) < 2:
        raise ValueError(f"a spread across training runs needs at least 2 runs, got {len(audits)}")
    summary: dict = {"se": {}, "runs": len(audits), "num_classes": audits[0]["num_classes"]}
    for figure in AUDIT_FIGURES:
        values = {group: np.array([audit[figure][group] for audit in audits], float) for group in GROUPS}
        summary[figure] = {group: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
                           for group, v in values.items()}
        summary["se"][figure] = {group: mean_se(v[np.isfinite(v)]) for group, v in values.items()}
    for count in ("n_generated", "n_heldout"):
        summary[count] = {group: int(sum(audit[count][group] for audit in audits)) for group in GROUPS}
    for group in GROUPS:  # a few runs can agree by chance (all 0 recognised): never below the sampling error
        value, n = summary["recognised"][group], summary["n_generated"][group]
        if n and np.isfinite(value):
            summary["se"]["recognised"][group] = max(summary["se"]["recognised"][group], share_se(value, n))
    return summary


def _recognised_se(audit: dict, group: str) -> float:
    """The standard error of a group's recognised share: across runs for a summary, else over its samples."""
    if "se" in audit:
        return audit["se"]["recognised"][group]
    n, value = audit["n_generated"][group], audit["recognised"][group]
    return share_se(value, n) if n and np.isfinite(value) else float("inf")


def _coverage_change(base: dict, audit: dict) -> str:
    """Say how the dark group's coverage distance moved; called closer or farther only with errors across runs."""
    a, b = base["coverage_distance"]["dark"], audit["coverage_distance"]["dark"]
    if "se" not in base or "se" not in audit:
        return f"dark coverage distance {a:.3f} -> {b:.3f} (one run each: no interval)"
    se_a, se_b = base["se"]["coverage_distance"]["dark"], audit["se"]["coverage_distance"]["dark"]
    change = NO_CLEAR_DIFFERENCE if not differs(a, b, se_a, se_b) else "clearly closer" if b < a else "clearly farther"
    return f"dark coverage distance {a:.3f} ± {2 * se_a:.3f} -> {b:.3f} ± {2 * se_b:.3f} ({change})"


def remedy_table(audits: dict[str, dict], training_share: dict[str, float]) -> pd.DataFrame:
    """Return a table (rows: figure and arm, columns: the skin-tone groups) of the audits of every arm."""
    rows = {("generated_share", "skewed training set"): training_share}
    for figure in AUDIT_FIGURES:
        for arm, audit in audits.items():
            rows[(figure, arm)] = {group: audit[figure][group] for group in GROUPS}
    table = pd.DataFrame(rows).T
    table.index.names = ["figure", "arm"]
    return table


def fairness_verdict(audits: dict[str, dict], target_share: float) -> str:
    """Return the verdict on each remedy against the skewed GAN: the dark share against its target, each group's
    recognised share with two standard errors (a change called only beyond them), and the dark group's coverage
    distance (a change called only with errors across runs).

    For one training run per arm the error is that of a share of the group's samples, which leaves out the spread
    between training runs (the verdict says so); an audit from :func:`summarise_runs` carries its error across runs.
    """
    base = audits["skewed"]
    chance = 1 / base["num_classes"]
    runs = base.get("runs", 1)
    lines = [f"verdict ({runs} training run{'s' if runs > 1 else ''} per arm; chance {chance:.2f}; dark share asked "
             f"{target_share:.2f}):"]
    for arm, audit in audits.items():
        if arm == "skewed":
            continue
        share = (base["generated_share"]["dark"], audit["generated_share"]["dark"])
        parts = []
        for group in GROUPS:
            a, b = base["recognised"][group], audit["recognised"][group]
            se_a, se_b = _recognised_se(base, group), _recognised_se(audit, group)
            if not (np.isfinite(a) and np.isfinite(b)):
                parts.append(f"{group} skin: no sample of this group to judge")
                continue
            change = (NO_CLEAR_DIFFERENCE if not differs(a, b, se_a, se_b) else
                      "clearly higher" if b > a else "clearly lower")
            parts.append(f"{group} skin recognised {a:.2f} ± {2 * se_a:.2f} -> {b:.2f} ± {2 * se_b:.2f} ({change})")
        reached = "reached" if abs(share[1] - target_share) <= 0.05 else "short of"
        lines.append(f"  {ARM_TITLES[arm]}: dark share {share[0]:.3f} -> {share[1]:.3f} ({reached} the target); "
                     + "; ".join(parts) + f"; {_coverage_change(base, audit)}")
    if runs == 1:
        lines.append("  (one training run per arm: each ± covers the draw of samples, not the spread between two "
                     "training runs of the same GAN; the selected samples come from the skewed GAN itself, so that "
                     "comparison has no such spread)")
    return "\n".join(lines)


def audit_metrics(audit: dict, arm: str) -> dict[str, float]:
    """Return the audit's per-group figures as flat metrics named like ``skewed_recognised_dark``."""
    metrics = {f"{arm}_{figure}_{group}": float(audit[figure][group]) for figure in AUDIT_FIGURES for group in GROUPS}
    metrics.update({f"{arm}_n_generated_{group}": int(audit["n_generated"][group]) for group in GROUPS})
    for group in GROUPS:
        metrics[f"{arm}_recognised_se_{group}"] = float(_recognised_se(audit, group))
    return metrics


def plot_dark_samples(draws: dict[str, dict], n: int = 8):
    """Return a figure of the first ``n`` samples estimated dark-skin of each arm's :func:`draw_labelled` set, one row
    per arm that drew any, or None when no arm did."""
    rows = {arm: drawn["images"][torch.from_numpy(np.flatnonzero(drawn["groups"] == "dark"))][:n]
            for arm, drawn in draws.items()}
    rows = {arm: images for arm, images in rows.items() if len(images)}
    if not rows:
        return None
    width = max(len(images) for images in rows.values())
    padded = [torch.cat([images, torch.ones(width - len(images), *images.shape[1:])]) for images in rows.values()]
    title = "dark-skin samples, one row per arm: " + "; ".join(ARM_TITLES.get(arm, arm) for arm in rows)
    return viz.show_images(torch.cat(padded), nrow=width, title=textwrap.fill(title, 90))


def plot_remedies(audits: dict[str, dict], training_share: dict[str, float], title: str):
    """Return a figure: one panel per audit figure, a bar per arm and skin-tone group; whiskers of two standard errors
    on the recognised shares, and on every figure of a summary over runs (:func:`summarise_runs`)."""
    import matplotlib.pyplot as plt

    units = {"generated_share": "share of samples", "coverage_distance": "feature distance (RMS)",
             "recognised": "share recognised as their label"}
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    positions, width = np.arange(len(GROUPS)), 0.8 / len(audits)
    for axis, figure in zip(axes, AUDIT_FIGURES):
        for i, (arm, audit) in enumerate(audits.items()):
            values = [audit[figure][group] for group in GROUPS]
            errors = ([2 * _recognised_se(audit, group) for group in GROUPS] if figure == "recognised" else
                      [2 * audit["se"][figure][group] for group in GROUPS] if "se" in audit else None)
            axis.bar(positions + (i - (len(audits) - 1) / 2) * width, values, width=width, yerr=errors, capsize=3,
                     label=ARM_TITLES.get(arm, arm))
        if figure == "generated_share":
            axis.scatter(positions, [training_share[group] for group in GROUPS], color="k", marker="_", s=400,
                         label="share in the skewed training set", zorder=3)
        if figure == "recognised":
            axis.axhline(1 / audits["skewed"]["num_classes"], color="grey", ls=":", label="chance")
        axis.set_xticks(positions, [f"{g} skin" for g in GROUPS])
        axis.set_ylabel(units[figure])
        axis.set_title(figure.replace("_", " "))
    handles, names = [], []
    for axis in axes:
        for handle, name in zip(*axis.get_legend_handles_labels()):
            if name not in names:
                handles.append(handle)
                names.append(name)
    fig.legend(handles, names, loc="lower center", ncol=len(names), fontsize=8, frameon=False)
    fig.suptitle(title)
    viz.finish(fig)
    fig.subplots_adjust(bottom=0.2)
    return fig

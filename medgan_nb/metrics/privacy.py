r"""Does a trained GAN leak its training data? Membership inference, copies, closest records, privacy budgets.

**Membership inference** (Hayes et al., 2019, "LOGAN"). The discriminator is
trained to say "real" to the training images, so an overfitted :math:`D` scores
its own training images higher than new images of the same kind. An attacker
holding :math:`D` ranks candidate images by :math:`D(x)`; the attack's quality
is the area under the ROC curve of members (training images) against
non-members (held-out images),

.. math:: \mathrm{AUC} = P\big(D(x_{\text{member}}) > D(x_{\text{non-member}})\big),

0.5 when the scores say nothing about membership (no leak), 1 when every
training image scores above every new one. Computed with scikit-learn's
``roc_auc_score``.

**Near-copies along training** reuse the memorisation check of
:mod:`medgan_nb.metrics.memorization` (share of samples closer to a training
image than 95% of held-out images are); :func:`memorisation_record` takes one
row of that audit, for a snapshot of the generator.

**Closest records** for tables (synthetic health records): the distance to
closest record (DCR) of each synthetic row to the real training rows, after
scaling numbers to unit variance and one-hot coding categories,

.. math:: \mathrm{DCR}(s) = \min_{r \in \mathcal{R}_{\text{train}}} \lVert e(s) - e(r) \rVert_2,

compared with the same distance for real held-out rows; DCR = 0 is an exact
copy of a patient's record.

**Differential privacy** (Dwork et al., 2006): a training algorithm :math:`M` is
:math:`(\varepsilon, \delta)`-differentially private if for any two datasets
:math:`X, X'` that differ in one record and any set of outcomes :math:`S`,

.. math:: P[M(X) \in S] \le e^{\varepsilon}\, P[M(X') \in S] + \delta.

Small :math:`\varepsilon` (around 1) bounds how much any one patient can change
the trained model, hence what any attack can learn about them;
:math:`\delta` is the probability that the bound fails and must be far below
:math:`1/n`. :func:`check_privacy_budget` rejects budgets that promise nothing.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..models.sampling import model_device
from .features import check_images
from .memorization import memorization_summary


def check_privacy_budget(epsilon: float, delta: float, n_records: int) -> tuple[float, float]:
    r"""Return (epsilon, delta) as floats when they form a meaningful DP budget for ``n_records``, else raise ValueError."""
    try:
        epsilon, delta = float(epsilon), float(delta)
    except (TypeError, ValueError):
        raise ValueError(f"epsilon and delta must be numbers, got epsilon={epsilon!r}, delta={delta!r}") from None
    if not (epsilon > 0 and math.isfinite(epsilon)):
        raise ValueError(
            f"epsilon must be a finite number > 0, got {epsilon!r}; typical values are 0.5-10 (smaller = more "
            "private). For training without differential privacy leave DP off (epsilon=None) instead"
        )
    if not 0 < delta < 1:
        raise ValueError(f"delta must lie strictly between 0 and 1, got {delta!r}; use e.g. delta = 1 / (10 * n)")
    if n_records > 0 and delta >= 1.0 / n_records:
        raise ValueError(
            f"delta={delta!r} is not below 1/n = {1.0 / n_records:.3g} for n={n_records} training records: with "
            f"such a delta a mechanism may publish a whole record and still qualify. Use delta < 1/n, "
            f"e.g. delta={1.0 / (10 * n_records):.2g}"
        )
    return epsilon, delta


def discriminator_scores(discriminator: nn.Module, images: torch.Tensor, labels: torch.Tensor | None = None,
                         batch_size: int = 256) -> np.ndarray:
    """Return the discriminator's logits D(x) (N,) for images (N, 3, H, W), in eval mode and without gradients."""
    check_images(images)
    module = getattr(discriminator, "_module", discriminator)  # Opacus wraps D in a GradSampleModule
    device = model_device(module)
    was_training = module.training
    module.eval()
    scores = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = images[start:start + batch_size].to(device)
            extra = (labels[start:start + batch_size].to(device),) if labels is not None else ()
            scores.append(module(batch, *extra).float().flatten().cpu())
    module.train(was_training)
    return torch.cat(scores).numpy()


def membership_auc(member_scores: Sequence[float] | np.ndarray, nonmember_scores: Sequence[float] | np.ndarray) -> float:
    """Return the attack's ROC AUC: P(score of a training image > score of a held-out image); 0.5 = no leak."""
    from sklearn.metrics import roc_auc_score

    members, nonmembers = np.asarray(member_scores, float), np.asarray(nonmember_scores, float)
    if len(members) == 0 or len(nonmembers) == 0:
        raise ValueError(f"membership inference needs members and non-members, got {len(members)} and "
                         f"{len(nonmembers)} scores; score the training images and held-out images")
    truth = np.r_[np.ones(len(members)), np.zeros(len(nonmembers))]
    return float(roc_auc_score(truth, np.r_[members, nonmembers]))


def membership_attack(discriminator: nn.Module, members: torch.Tensor, nonmembers: torch.Tensor) -> float:
    """Return the ROC AUC of the attack that ranks images by D(x): training images vs held-out images."""
    return membership_auc(discriminator_scores(discriminator, members), discriminator_scores(discriminator, nonmembers))


def memorisation_record(step: int, generated: torch.Tensor, train: torch.Tensor, heldout: torch.Tensor) -> dict[str, float]:
    """Return one row of the memorisation audit: the step, the near-copy share and the memorisation ratio."""
    summary = memorization_summary(generated, train, heldout, space="pixel")
    return {"step": int(step), "copy_fraction": summary["copy_fraction"],
            "memorization_ratio": summary["memorization_ratio"]}


def encode_records(tables: Sequence[pd.DataFrame], reference: pd.DataFrame) -> list[np.ndarray]:
    """Return each table as a float matrix: numbers standardised on ``reference`` (missing -> mean), categories one-hot."""
    numeric = [c for c in reference.columns if pd.api.types.is_numeric_dtype(reference[c])]
    categorical = [c for c in reference.columns if c not in numeric]
    mean, std = reference[numeric].mean(), reference[numeric].std().replace(0, 1).fillna(1)
    levels = {c: sorted(reference[c].astype(str).unique()) for c in categorical}
    encoded = []
    for table in tables:
        missing = [c for c in reference.columns if c not in table.columns]
        if missing:
            raise ValueError(f"a table lacks the column(s) {missing} of the reference table; give all tables the "
                             f"same columns ({list(reference.columns)})")
        parts = [((table[numeric].astype(float) - mean) / std).fillna(0.0).to_numpy()]
        for column in categorical:
            values = table[column].astype(str).to_numpy()
            parts.append((values[:, None] == np.array(levels[column])[None, :]).astype(float))
        encoded.append(np.concatenate(parts, axis=1))
    return encoded


def closest_record_summary(synthetic: pd.DataFrame, train: pd.DataFrame, heldout: pd.DataFrame) -> dict[str, float]:
    """Return DCR medians of synthetic and held-out rows to the training rows, their ratio and the exact-copy share."""
    from sklearn.neighbors import NearestNeighbors

    synthetic_x, train_x, heldout_x = encode_records([synthetic, train, heldout], reference=train)
    index = NearestNeighbors(n_neighbors=1).fit(train_x)
    synthetic_dcr = index.kneighbors(synthetic_x)[0][:, 0]
    heldout_dcr = index.kneighbors(heldout_x)[0][:, 0]
    # exact copies: the same row, value for value (missing counts as equal to missing)
    train_rows = set(map(tuple, train.astype(str).to_numpy()))
    copies = np.array([tuple(row) in train_rows for row in synthetic[train.columns].astype(str).to_numpy()])
    return {
        "synthetic_median_dcr": float(np.median(synthetic_dcr)),
        "heldout_median_dcr": float(np.median(heldout_dcr)),
        "dcr_ratio": float(np.median(synthetic_dcr) / max(np.median(heldout_dcr), 1e-12)),
        "exact_copy_share": float(copies.mean()),
        "closer_than_heldout_5pct": float((synthetic_dcr < np.quantile(heldout_dcr, 0.05)).mean()),
    }

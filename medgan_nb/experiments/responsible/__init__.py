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

The code is in four modules following the notebook's sections: ``fairness``, ``privacy``
(near-copies and membership inference along training), ``dp`` (the DP-SGD GAN and its curve) and
``tabular`` (CTGAN and its report); every name is importable from here.
"""
from __future__ import annotations

from .fairness import (  # noqa: F401
    skewed_indices,
    rebalanced_indices,
    train_conditional_gan,
    fairness_audit,
    AUDIT_FIGURES,
    before_after_table,
    fairness_verdict,
    audit_metrics,
    plot_before_after,
)
from .privacy import (  # noqa: F401
    privacy_along_training,
    plot_privacy_along_training,
    _auc_error,
    privacy_verdict,
)
from .dp import (  # noqa: F401
    train_dp_gan,
    privacy_curve,
    plot_privacy_curve,
    dp_verdict,
)
from .tabular import (  # noqa: F401
    MISSING_SUFFIX,
    MissingAwareCTGAN,
    fit_ctgan,
    sdmetrics_metadata,
    utility_accuracy,
    tabular_report,
    tabular_verdict,
    plot_tabular_marginals,
)

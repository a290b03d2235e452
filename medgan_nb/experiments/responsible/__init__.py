r"""Notebook 08's experiments: fairness across skin tones, privacy along training, DP-SGD, synthetic records.

Four experiments, each a function the notebook calls in one line:

* :func:`skewed_indices` / :func:`rebalanced_indices` build a light-skin-heavy
  training set and a remedy (the dark-skin images resampled to a target share);
  :func:`draw_labelled` the other remedy (samples kept by estimated skin tone);
  :func:`fairness_audit` measures a set of samples per skin-tone group
  (:mod:`medgan_nb.metrics.fairness`, and a real-image classifier as judge of
  their diagnoses).
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
    FAMILY,
    train_conditional_gan,
    train_judge,
    judge_on_real,
    draw_labelled,
    REFERENCE_RUNS,
    reference_names,
    reference_audits,
    fairness_audit,
    AUDIT_FIGURES,
    ARMS,
    ARM_TITLES,
    summarise_runs,
    remedy_table,
    fairness_verdict,
    audit_metrics,
    plot_remedies,
    plot_dark_samples,
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

#: notebook 08's knobs per profile (``start(..., defaults=PROFILE_DEFAULTS)``). ``steps`` are the training steps of
#: each conditional GAN of the fairness lesson; ``judge_epochs`` those of the real-image classifier that judges the
#: samples' diagnoses (a profile setting, not a knob of the notebook's first cell)
PROFILE_DEFAULTS = {
    "smoke": dict(image_size=32, steps=40, batch_size=16, width=8, n_images=700, n_eval=120, dark_share=0.05,
                  target_share=0.5, n_samples=300, judge_epochs=1, privacy_steps=40, train_sizes=[16, 64],
                  epsilons=[1.0], delta=1e-3, dp_steps=40, dp_images=64, dp_width=8, n_records=300, ctgan_epochs=3),
    "cpu": dict(image_size=32, steps=2000, batch_size=32, width=16, n_images=3000, n_eval=300, dark_share=0.05,
                target_share=0.5, n_samples=1000, judge_epochs=8, privacy_steps=240, train_sizes=[32, 256, 1024],
                epsilons=[8.0, 2.0, 0.5], delta=1e-4, dp_steps=480, dp_images=32, dp_width=32, n_records=2000,
                ctgan_epochs=40),
    "gpu": dict(image_size=64, steps=8000, batch_size=64, width=32, n_images=10000, n_eval=1000, dark_share=0.05,
                target_share=0.5, n_samples=4000, judge_epochs=10, privacy_steps=3000, train_sizes=[64, 512, 4096],
                epsilons=[10.0, 3.0, 1.0, 0.3], delta=1e-5, dp_steps=3000, dp_images=128, dp_width=32,
                n_records=10000, ctgan_epochs=300),
}

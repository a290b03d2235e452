r"""Notebook 05's experiments: what StyleGAN's styles and noise do, and how progressive growing fades in.

**StyleGAN** (Karras et al., 2019; 2020). A mapping network turns
:math:`z \sim \mathcal N(0, I)` into :math:`w = f(z)`; every synthesis layer
:math:`\ell` gets its own copy :math:`w_\ell` and a fresh noise map
:math:`n_\ell`. So three probes separate three sources of variation:

* *style mixing*: :math:`w_\ell = w_A` for :math:`\ell < c` and
  :math:`w_\ell = w_B` for :math:`\ell \ge c`; the crossover :math:`c` decides
  whether :math:`A` keeps the coarse layout (small :math:`c`: only the 4-8 px
  layers) or everything but the finest detail (large :math:`c`). As a number,
  the *share of A* in the mixed image,
  :math:`\frac{d(x_{mix}, x_B)}{d(x_{mix}, x_A) + d(x_{mix}, x_B)}` with
  :math:`d` the root-mean-square pixel difference: 0 when the mix is
  :math:`B`, 1 when it is :math:`A`;
* *noise*: one :math:`w`, many draws of :math:`n_\ell`; the per-pixel standard
  deviation over the draws, :math:`\sigma(x, y) = \operatorname{std}_n G(w, n)(x, y)`,
  shows where the noise acts (all layers at once, or only the layers of one
  resolution);
* *truncation*: :math:`w' = \bar w + \psi (w - \bar w)`; the *diversity* of a
  set of samples is the mean over pixels of the per-pixel standard deviation
  over samples, computed with one shared noise map, so that
  :math:`\psi = 0` (every :math:`w' = \bar w`) gives exactly 0.

A latent walk interpolates either :math:`z` (slerp, then map) or :math:`w`
(a straight line between :math:`f(z_0)` and :math:`f(z_1)`); the jump between
neighbouring frames, :math:`d(x_{t_k}, x_{t_{k+1}})`, measures how even the
walk is (the idea behind StyleGAN's perceptual path length, here in pixels).

**Progressive growing** (Karras et al., 2018). The schedule
:math:`(r, \alpha)(t)` of :func:`medgan_nb.models.progressive.progressive_schedule`
walks the resolution :math:`r` from 4 to the image size and fades every new
block in, :math:`G_\alpha = (1-\alpha)\,\mathrm{up}(\mathrm{toRGB}_r) + \alpha\,\mathrm{toRGB}_{2r}`.
:class:`StageRecorder` is a ``train_gan`` callback that keeps the generator's
samples of a fixed :math:`z` together with :math:`(r, \alpha)` at every stage
change and at fixed steps. Whether a new stage keeps the layout of the last
one is measured on the samples of the same :math:`z` average-pooled to
:math:`4\times4`: the RMS change of one :math:`z` from stage to stage against
the RMS difference between two different :math:`z` (:func:`layout_kept`).

This package sits on top (``medgan_nb.experiments``): it trains with the engine,
measures with :mod:`medgan_nb.metrics` and draws with :mod:`medgan_nb.viz`. The code is in five
modules following the notebook's sections: ``comparison`` (the three families trained and compared),
``mixing`` (style mixing, share of A), ``noise_truncation``, ``walks`` (z and w) and ``growth``
(schedule, :class:`StageRecorder`, stage samples, layout); every name is importable from here.
"""
from __future__ import annotations

from .comparison import (  # noqa: F401
    Tensor,
    FAMILY_ORDER,
    family_row,
    forward_mflops,
    count_flops,
    train_families,
    plot_family_samples,
    training_verdict,
    closest_family,
    cost_verdict,
)
from .mixing import (  # noqa: F401
    shared_noise,
    crossover_layers,
    style_mixing_grid,
    share_of_a,
    share_of_a_per_pair,
    layer_groups_decide,
    mixing_verdict,
    plot_style_mixing,
    plot_share_of_a,
)
from .noise_truncation import (  # noqa: F401
    noise_std_maps,
    noise_std_by_resolution,
    noise_concentration,
    noise_verdict,
    plot_noise_effect,
    truncation_verdict,
    truncation_strip,
    truncation_diversity,
    plot_truncation,
)
from .walks import (  # noqa: F401
    latent_walks,
    frame_jumps,
    walk_smoothness,
    walk_verdict,
    plot_latent_walks,
)
from .growth import (  # noqa: F401
    stage_list,
    plot_schedule,
    StageRecorder,
    layout_kept,
    StageSnapshots,
    stage_generators,
    stage_records,
    layout_verdict,
    plot_stage_samples,
)

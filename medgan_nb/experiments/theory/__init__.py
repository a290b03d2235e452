r"""GAN theory you can watch: toy data, small experiments and their plots (notebook 01).

**The game** (Goodfellow et al., 2014). A generator :math:`G` maps noise
:math:`z\sim p_z` to samples with density :math:`p_g`; a discriminator
:math:`D(x)\in(0,1)` says how likely :math:`x` is real:

.. math::
    \min_G \max_D V(D, G) = \mathbb E_{x\sim p_{data}}[\log D(x)]
                          + \mathbb E_{z\sim p_z}[\log(1 - D(G(z)))].

For a fixed :math:`G` the integrand :math:`p_{data}\log D + p_g\log(1-D)` is
maximised pointwise by

.. math::
    D^*(x) = \frac{p_{data}(x)}{p_{data}(x) + p_g(x)},

and plugging :math:`D^*` back in gives
:math:`V(D^*, G) = 2\,\mathrm{JSD}(p_{data}\,\Vert\,p_g) - \log 4`, minimal
(:math:`-\log 4`) exactly when :math:`p_g = p_{data}`.

**Generator losses.** With :math:`\ell = \text{logit}` and :math:`D=\sigma(\ell)`,
the *saturating* loss :math:`\log(1-D)` has :math:`|\partial/\partial\ell| = D`,
which vanishes when D confidently rejects fakes (:math:`D\to 0`); the
*non-saturating* loss :math:`-\log D` has :math:`|\partial/\partial\ell| = 1-D`,
largest exactly then.

**Dirac-GAN** (Mescheder et al., 2018): :math:`p_{data}=\delta_0`,
:math:`G=\delta_\theta`, :math:`D_\psi(x)=\psi x`. The only equilibrium is
:math:`(\theta,\psi)=(0,0)`; the Jacobian of the gradient field there has purely
imaginary eigenvalues, so simultaneous gradient steps spiral *outwards*,
alternating steps circle, and an R1 penalty :math:`\tfrac\gamma2\psi^2` adds
damping that makes the iterates converge.

**Mode collapse** is measured on a ring of :math:`K` Gaussians with standard
deviation :math:`s`: a sample is *high quality* when it lies within
:math:`3s` of a mode centre, and a mode is *covered* when it receives a fair
share of the high-quality samples (Srivastava et al., 2017, VEEGAN).

All losses come from :mod:`medgan_nb.losses`, the same ones the image notebooks use. The code is in four
modules: ``toy_data`` (the rings, grids and 1-D mixture), ``game`` (sections 1-3a), ``toy_gan`` (sections
3b-3e) and ``playground`` (the live training widget); every name is importable from here.
"""
from __future__ import annotations

from .toy_data import (  # noqa: F401
    ring_centres,
    sample_ring,
    sample_grid,
    grid_centres,
    GaussianMixture1D,
)
from .game import (  # noqa: F401
    optimal_discriminator,
    value_on_grid,
    jensen_shannon,
    train_discriminator_1d,
    OptimalDiscriminatorSnapshot,
    optimal_discriminator_experiment,
    plot_optimal_discriminator,
    generator_gradient_vs_d,
    plot_generator_gradients,
    parameter_gradient_norm,
    saturation_experiment,
    plot_saturation,
    dirac_gan,
    plot_dirac_trajectories,
)
from .toy_gan import (  # noqa: F401
    ModeCoverage,
    mode_coverage,
    ToyGANConfig,
    ToyGANResult,
    sample_generator,
    train_toy_gan,
    plot_ring_runs,
    vanishing_gradient_experiment,
    plot_vanishing_gradients,
    loss_oscillation,
    SweepResult,
    sensitivity_sweep,
    plot_sweep_heatmap,
    plot_loss_histories,
)
from .playground import (  # noqa: F401
    draw_playground_frame,
    play_toy_gan,
    training_playground,
)

"""Figures for the notebooks: image grids, loss curves, colour statistics.

Every function returns the matplotlib Figure it drew, so a notebook can show
it inline and a script can save it (``fig.savefig(...)``). Images may be given
as uint8 arrays (N, H, W, 3) or as float tensors (N, 3, H, W) in [-1, 1]; both
are converted by :func:`to_uint8_images`.

The figures live in modules by what they draw: ``layout`` (finishing touches),
``images``, ``training``, ``distributions``, ``evaluation``, ``latent`` and
``architecture``; every name is re-exported here, so ``viz.show_images`` and
``from medgan_nb.viz import show_images`` both work.
"""
from __future__ import annotations

from .architecture import layer_summary
from .distributions import (
    channel_means,
    class_counts,
    compare_channel_means,
    plot_attribute_histograms,
    plot_channel_means,
    plot_class_balance,
    plot_class_channel_means,
    plot_value_histogram,
)
from .evaluation import plot_distance_bars, plot_morphology_histograms
from .images import (
    image_grid,
    plot_before_after,
    plot_family_samples,
    plot_image_rows,
    plot_lesion_gallery,
    plot_nearest_neighbours,
    plot_sample_grids,
    show_images,
)
from .latent import interpolate_latents, plot_latent_interpolation, slerp
from .layout import finish, finish_log_axes

# private, re-exported as before; live_plot looks it up in viz.training, so patch it there
from .training import _in_notebook as _in_notebook
from .training import (
    live_plot,
    plot_curves,
    plot_gan_history,
    plot_samples_over_training,
)

__all__ = [
    "channel_means",
    "class_counts",
    "compare_channel_means",
    "finish",
    "finish_log_axes",
    "image_grid",
    "interpolate_latents",
    "layer_summary",
    "live_plot",
    "plot_attribute_histograms",
    "plot_before_after",
    "plot_channel_means",
    "plot_class_balance",
    "plot_class_channel_means",
    "plot_curves",
    "plot_distance_bars",
    "plot_family_samples",
    "plot_gan_history",
    "plot_image_rows",
    "plot_latent_interpolation",
    "plot_lesion_gallery",
    "plot_morphology_histograms",
    "plot_nearest_neighbours",
    "plot_sample_grids",
    "plot_samples_over_training",
    "plot_value_histogram",
    "show_images",
    "slerp",
]

"""Interactive explorers built on ipywidgets.

Each function returns a widget (or a box of widgets) that a notebook cell
shows by leaving it as the cell's last expression. Under papermill the
widgets are built but never clicked, so every explorer also has a plain
function behind it that the notebook calls once to draw a static figure.
"""
from __future__ import annotations


# ----------------------------------------------------------------------------
# Latent explorer: move z along a few directions and watch G(z) change
# ----------------------------------------------------------------------------

def latent_directions(latent_dim: int, n_directions: int = 3, seed: int = 0):
    """Return ``n_directions`` orthonormal random directions in z space, shape (n_directions, latent_dim)."""
    import torch

    if not 1 <= n_directions <= latent_dim:
        raise ValueError(f"n_directions must be between 1 and latent_dim={latent_dim}, got {n_directions}")
    gaussian = torch.randn(latent_dim, n_directions, generator=torch.Generator().manual_seed(seed))
    q, _ = torch.linalg.qr(gaussian)  # Gram-Schmidt: unit length, mutually perpendicular
    return q.T.contiguous()


def draw_latent_directions(generator, z_base, directions, coefficients, title: str | None = None):
    """Draw G(z_base + sum_i c_i d_i) for every row of z_base with the given coefficients c; return the Figure."""
    import matplotlib.pyplot as plt
    import torch

    from .viz import image_grid

    coefficients = torch.as_tensor(list(coefficients), dtype=torch.float32)
    if len(coefficients) != len(directions):
        raise ValueError(f"got {len(coefficients)} coefficients for {len(directions)} directions; give one per direction")
    z = z_base + coefficients @ directions  # the same offset for every base vector
    from .models.sampling import sample_images  # eval mode, no gradients, model's mode restored

    images = sample_images(generator, z)
    fig, ax = plt.subplots(figsize=(1.2 * len(z), 1.6))
    ax.imshow(image_grid(images, nrow=len(z)))
    ax.set_axis_off()
    shown = ", ".join(f"c{i + 1}={c:+.1f}" for i, c in enumerate(coefficients.tolist()))
    ax.set_title(title or f"G(z + sum c_i d_i) with {shown}")
    fig.tight_layout()
    return fig


def latent_explorer(generator, n_directions: int = 3, n_images: int = 8, seed: int = 0, max_step: float = 3.0):
    """Return an ipywidgets box: one slider per latent direction, a 'new samples' button, and the redrawn images."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    import torch

    latent_dim = generator.latent_dim
    directions = latent_directions(latent_dim, n_directions, seed)
    state = {"seed": seed, "z": torch.randn(n_images, latent_dim, generator=torch.Generator().manual_seed(seed))}
    sliders = [widgets.FloatSlider(value=0.0, min=-max_step, max=max_step, step=0.25,
                                   description=f"direction {i + 1}", continuous_update=False)
               for i in range(n_directions)]
    new_samples = widgets.Button(description="new samples", tooltip="draw new base vectors z")
    output = widgets.Output()

    def redraw(*_):
        fig = draw_latent_directions(generator, state["z"], directions, [s.value for s in sliders])
        # Set the Output widget's contents directly instead of `with output: display(fig)`: the
        # context-manager route occasionally blocks headless runs (papermill/nbclient) at this cell.
        output.outputs = ()
        output.append_display_data(fig)
        plt.close(fig)  # closed, so the notebook does not draw it a second time

    def resample(_):
        state["seed"] += 1
        state["z"] = torch.randn(n_images, latent_dim, generator=torch.Generator().manual_seed(state["seed"]))
        redraw()

    for slider in sliders:
        slider.observe(redraw, names="value")
    new_samples.on_click(resample)
    redraw()
    return widgets.VBox([widgets.HBox([widgets.VBox(sliders), new_samples]), output])

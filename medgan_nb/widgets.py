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


# ----------------------------------------------------------------------------
# Training playground: train the 2-D toy GAN live with your own settings
# ----------------------------------------------------------------------------

def draw_playground_frame(step: int, samples, history: dict, config):
    """Draw the generator's samples on the ring and the two loss curves so far; return the Figure."""
    import matplotlib.pyplot as plt

    from .theory import mode_coverage, ring_centres

    centres = ring_centres(config.n_modes, config.radius).numpy()
    coverage = mode_coverage(samples, centres, config.mode_std)
    fig, (ax_ring, ax_loss) = plt.subplots(1, 2, figsize=(9, 3.6))
    ax_ring.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.4, color="tab:blue", label="G(z)")
    ax_ring.scatter(centres[:, 0], centres[:, 1], marker="x", s=40, color="tab:red", label="modes")
    lim = config.radius * 1.6
    ax_ring.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xlabel="$x_1$", ylabel="$x_2$",
                title=f"step {step}/{config.steps}: {coverage.modes_covered}/{config.n_modes} modes, "
                      f"{100 * coverage.high_quality:.0f}% HQ")
    for key, colour in (("d_loss", "tab:orange"), ("g_loss", "tab:green")):
        ax_loss.plot(history.get(key, []), color=colour, lw=1, label=key.replace("_", " "))
    ax_loss.set(title=f"losses ({config.loss})", xlabel="generator step", ylabel="loss (nats)", xlim=(0, config.steps))
    ax_loss.grid(alpha=0.3)
    ax_loss.legend(fontsize=8)
    fig.tight_layout()
    return fig


def play_toy_gan(config, output=None, update_every: int = 100, device: str = "cpu", progress: bool = True):
    """Train the toy GAN of ``config`` while redrawing samples and losses every ``update_every`` steps; return the ToyGANResult.

    This is the function behind the playground's button; call it directly to
    run it without clicking (``output`` None draws into the cell's own output).
    """
    import matplotlib.pyplot as plt
    from IPython.display import display

    from .theory import train_toy_gan

    handle = {"display": None}

    def redraw(step: int, samples, history: dict) -> None:
        fig = draw_playground_frame(step, samples, history, config)
        if output is not None:
            with output:
                output.clear_output(wait=True)
                display(fig)
        elif handle["display"] is None:
            handle["display"] = display(fig, display_id=True)
        else:
            handle["display"].update(fig)
        plt.close(fig)  # closed, so the notebook does not draw it a second time

    return train_toy_gan(config, device=device, progress=progress, callback=redraw, callback_every=update_every)


def training_playground(steps: int = 1000, device: str = "cpu", seed: int = 0):
    """Return an ipywidgets box with controls (loss, learning rates, steps, width, n_critic, penalties) and a Train button."""
    import ipywidgets as widgets

    from .losses import LOSSES
    from .theory import ToyGANConfig

    style = {"description_width": "150px"}
    layout = widgets.Layout(width="420px")
    controls = {
        "loss": widgets.Dropdown(options=sorted(set(LOSSES) - {"bce"}), value="nonsaturating", description="loss", style=style, layout=layout),
        "lr_generator": widgets.FloatLogSlider(value=1e-3, base=10, min=-5, max=-1, description="generator lr", style=style, layout=layout),
        "lr_discriminator": widgets.FloatLogSlider(value=1e-3, base=10, min=-5, max=-1, description="discriminator lr", style=style, layout=layout),
        "steps": widgets.IntSlider(value=steps, min=100, max=5000, step=100, description="generator steps", style=style, layout=layout),
        "hidden": widgets.IntSlider(value=128, min=8, max=512, step=8, description="hidden width", style=style, layout=layout),
        "n_critic": widgets.IntSlider(value=1, min=1, max=10, description="D steps per G step", style=style, layout=layout),
        "gp_weight": widgets.FloatSlider(value=0.0, min=0.0, max=10.0, step=0.1, description="gradient penalty", style=style, layout=layout),
        "r1_gamma": widgets.FloatSlider(value=0.0, min=0.0, max=10.0, step=0.1, description="R1 gamma", style=style, layout=layout),
        "minibatch_std": widgets.Checkbox(value=False, description="minibatch-std layer in D", style=style, layout=layout),
    }
    button = widgets.Button(description="Train", button_style="primary", tooltip="train a fresh toy GAN with these settings")
    output = widgets.Output()

    def on_click(_) -> None:
        button.disabled = True
        try:
            config = ToyGANConfig(seed=seed, **{name: control.value for name, control in controls.items()})
            play_toy_gan(config, output=output, device=device)
        except ValueError as error:  # a bad combination of settings: say so in the output area
            with output:
                print(f"cannot train with these settings: {error}")
        finally:
            button.disabled = False

    button.on_click(on_click)
    return widgets.VBox([widgets.VBox(list(controls.values())), button, output])

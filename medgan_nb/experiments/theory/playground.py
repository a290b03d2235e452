"""The training playground of notebook 01: train the 2-D toy GAN live with your own settings (ipywidgets).

Under papermill the widget is built but never clicked, so the notebook also calls
:func:`play_toy_gan` once, the function behind the button.
"""
from __future__ import annotations

from ...losses import LOSSES
from .toy_data import ring_centres
from .toy_gan import ToyGANConfig, mode_coverage, train_toy_gan


def draw_playground_frame(step: int, samples, history: dict, config):
    """Draw the generator's samples on the ring and the two loss curves so far; return the Figure."""
    import matplotlib.pyplot as plt

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

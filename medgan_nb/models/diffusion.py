r"""A small DDPM: the denoising diffusion probabilistic model of Ho, Jain & Abbeel (2020), built on ``diffusers``.

A GAN draws an image in one forward pass of its generator. A diffusion model
draws it by *removing noise*, step by step, with one network used many times.

**The forward process** adds Gaussian noise in :math:`T` small steps with
variances :math:`\beta_1, \dots, \beta_T` (the *schedule*):
:math:`q(x_t \mid x_{t-1}) = \mathcal N(\sqrt{1-\beta_t}\,x_{t-1},\ \beta_t I)`.
With :math:`\alpha_t = 1 - \beta_t` and :math:`\bar\alpha_t = \prod_{s\le t}\alpha_s`
it has a closed form for any :math:`t` (:func:`forward_marginal`, :func:`noisy_images`):

.. math::
    q(x_t \mid x_0) = \mathcal N\big(\sqrt{\bar\alpha_t}\,x_0,\ (1-\bar\alpha_t)\,I\big),
    \qquad x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon,\quad \varepsilon\sim\mathcal N(0, I).

At :math:`t = T` almost nothing of :math:`x_0` is left: :math:`x_T \approx \mathcal N(0, I)`.

**Training** teaches a U-Net :math:`\varepsilon_\theta(x_t, t)` to tell the noise
from the image: one regression loss (:func:`epsilon_loss`), no discriminator,

.. math::
    L(\theta) = \mathbb E_{t,\,x_0,\,\varepsilon}\,
    \big\lVert \varepsilon - \varepsilon_\theta\big(\sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon,\ t\big)\big\rVert^2 .

**Sampling** (:func:`sample`) starts from :math:`x_T \sim \mathcal N(0, I)` and
walks back. From the predicted noise the sampler estimates the clean image
:math:`\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\hat\varepsilon)/\sqrt{\bar\alpha_t}`
(clipped to :math:`[-1, 1]`), then

* **DDPM** (ancestral sampling) draws :math:`x_{t-1}` from the posterior
  :math:`q(x_{t-1}\mid x_t, \hat x_0) = \mathcal N(\tilde\mu_t, \tilde\beta_t I)` with
  :math:`\tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1-\bar\alpha_t}\hat x_0
  + \frac{\sqrt{\alpha_t}\,(1-\bar\alpha_{t-1})}{1-\bar\alpha_t}x_t` and
  :math:`\tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\beta_t`: one network
  evaluation per training timestep (:math:`T`, e.g. 1000, per image);
* **DDIM** (Song, Meng & Ermon 2021) takes
  :math:`x_{t'} = \sqrt{\bar\alpha_{t'}}\,\hat x_0 + \sqrt{1-\bar\alpha_{t'}-\sigma_t^2}\,\hat\varepsilon + \sigma_t z`
  for an earlier :math:`t'` that may skip many timesteps, with
  :math:`\sigma_t = \eta\,\sqrt{\tilde\beta_t}`: :math:`\eta = 0` is deterministic,
  :math:`\eta = 1` with every timestep is DDPM again. The same trained network
  samples in 20 to 50 steps instead of 1000 -- that is the cost the notebook compares
  with a GAN's single pass (:func:`seconds_per_image`).

Schedulers: :func:`make_scheduler` returns ``diffusers``' ``DDPMScheduler`` or
``DDIMScheduler`` (Ho et al.'s linear :math:`\beta` or the cosine schedule of
Nichol & Dhariwal 2021); :func:`ddim_from` turns a DDPM scheduler into a DDIM one
with the same :math:`\beta`. Both space :math:`S` inference timesteps evenly and
start from the last one, :math:`\tau = \{T-1, T-1-k, \dots, k-1\}` with :math:`k = T / S`
(``timestep_spacing="trailing"``, Lin et al. 2024): the walk starts from pure noise,
where the "leading" spacing of the DDIM paper would start at :math:`(S-1)k`, from noise
that still holds some image (with the cosine schedule and few steps that shows as
saturated colours). DDIM steps from :math:`t` to :math:`t - T/S`, so its :math:`S` must
divide :math:`T`; the last step lands on :math:`\bar\alpha = 1`, the clean image
(``set_alpha_to_one=True``).

``diffusers`` takes a few seconds to import, so this module imports it inside the
functions that need it: importing :mod:`medgan_nb.models` or :mod:`medgan_nb.train`
stays cheap.

Reading order: the network (:func:`build_unet`), the schedulers
(:func:`make_scheduler`, :func:`ddim_from`), the forward process
(:func:`forward_marginal`, :func:`noisy_images`), the loss (:func:`epsilon_loss`),
sampling (:func:`sample`, :func:`seconds_per_image`), and last the argument checks.
"""
from __future__ import annotations

import inspect
import time
from typing import TYPE_CHECKING, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .sampling import model_device

if TYPE_CHECKING:  # only for type hints: diffusers is imported lazily (it costs ~3 s)
    from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel

Tensor = torch.Tensor

SCHEDULER_KINDS = ("ddpm", "ddim")
SCHEDULES = {"linear": "linear", "cosine": "squaredcos_cap_v2"}  # our name -> diffusers' beta_schedule
NORM_GROUPS = 32  # GroupNorm groups, as in Ho et al.; fewer (= width) for narrower U-Nets
MIN_RESOLUTION = 4  # px at the U-Net's lowest level
MAX_BETA = 0.999  # the cap on every beta_t (the cosine schedule's own cap), so short linear chains stay valid


# ----------------------------------------------------------------------------
# The network
# ----------------------------------------------------------------------------

def build_unet(image_size: int, width: int = 32, num_classes: int | None = None, levels: int = 3,
               attention: bool = True) -> UNet2DModel:
    r"""Return a small ``diffusers.UNet2DModel`` :math:`\varepsilon_\theta(x_t, t\,[, y])` for RGB images of side ``image_size``.

    Args:
        image_size: the side S of the images in pixels; a multiple of :math:`2^{levels-1}` with at
            least 4 px left at the lowest level.
        width: channels of the first level; the others have ``2 * width``
            (``block_out_channels = (w, 2w, 2w, ...)``). GroupNorm uses ``min(32, width)`` groups.
        num_classes: None for an unconditional U-Net; K >= 2 adds a learned class embedding to the
            timestep embedding (``num_class_embeds``), and the U-Net then needs ``class_labels``.
        levels: resolutions of the U-Net (``levels - 1`` halvings), one ResNet block per level and side.
        attention: True puts one self-attention block (one head, as in Ho et al.) in the middle
            block, at the lowest resolution.

    The returned module carries ``image_size``, ``num_classes`` and ``width``.
    """
    _check_unet_arguments(image_size, width, num_classes, levels, attention)
    from diffusers import UNet2DModel

    unet = UNet2DModel(
        sample_size=image_size, in_channels=3, out_channels=3,
        block_out_channels=(width, *[2 * width] * (levels - 1)),
        down_block_types=("DownBlock2D",) * levels, up_block_types=("UpBlock2D",) * levels,
        layers_per_block=1, norm_num_groups=min(NORM_GROUPS, width),
        add_attention=attention, attention_head_dim=None,  # None: one head over all channels
        num_class_embeds=num_classes,
    )
    unet.image_size = image_size
    unet.num_classes = num_classes
    unet.width = width
    return unet


# ----------------------------------------------------------------------------
# Schedulers
# ----------------------------------------------------------------------------

def make_scheduler(kind: str = "ddpm", timesteps: int = 1000,
                   schedule: str = "linear") -> DDPMScheduler | DDIMScheduler:
    r"""Return a ``diffusers`` DDPM or DDIM scheduler over ``timesteps`` training timesteps.

    Args:
        kind: ``"ddpm"`` (ancestral sampling, posterior variance :math:`\tilde\beta_t`) or ``"ddim"``.
        timesteps: :math:`T`, the number of noise levels the U-Net is trained on.
        schedule: ``"linear"`` -- Ho et al.'s :math:`\beta` from :math:`10^{-4}` to :math:`0.02` for
            :math:`T = 1000`, both ends scaled by :math:`1000/T` for other :math:`T` (as in Nichol &
            Dhariwal's code) so that :math:`\bar\alpha_T \approx 0` for short chains too, capped at 0.999;
            or ``"cosine"`` -- :math:`\bar\alpha_t \propto \cos^2\!\big(\frac{t/T + 0.008}{1.008}\frac\pi2\big)`
            (diffusers' ``"squaredcos_cap_v2"``), which destroys the image more gently.

    Both predict the noise (``prediction_type="epsilon"``) and clip :math:`\hat x_0` to [-1, 1].
    """
    _check_scheduler_arguments(kind, timesteps, schedule)
    from diffusers import DDIMScheduler, DDPMScheduler

    settings = dict(num_train_timesteps=timesteps, beta_schedule=SCHEDULES[schedule], clip_sample=True,
                    prediction_type="epsilon", timestep_spacing="trailing", steps_offset=0)
    if schedule == "linear":
        scale = 1000 / timesteps
        settings.update(beta_start=min(1e-4 * scale, MAX_BETA), beta_end=min(0.02 * scale, MAX_BETA))
    if kind == "ddpm":
        return DDPMScheduler(**settings, variance_type="fixed_small")  # fixed_small: sigma_t^2 = beta~_t
    return DDIMScheduler(**settings, set_alpha_to_one=True)  # the last step lands on alpha-bar = 1: x_0


def ddim_from(scheduler: DDPMScheduler | DDIMScheduler) -> DDIMScheduler:
    """Return a DDIM scheduler with the same betas (and timesteps, clipping, prediction) as ``scheduler``.

    A U-Net trained with a DDPM scheduler samples with it unchanged: DDIM needs no retraining.
    """
    from diffusers import DDIMScheduler

    accepted = inspect.signature(DDIMScheduler.__init__).parameters
    config = {key: value for key, value in scheduler.config.items() if key in accepted}  # drops DDPM's variance_type
    return DDIMScheduler.from_config({**config, "set_alpha_to_one": True, "steps_offset": 0})


# ----------------------------------------------------------------------------
# The forward process q(x_t | x_0)
# ----------------------------------------------------------------------------

def forward_marginal(scheduler, t: Tensor | int) -> tuple[Tensor, Tensor]:
    r"""Return :math:`(\sqrt{\bar\alpha_t},\ 1-\bar\alpha_t)`: the mean coefficient and variance of :math:`q(x_t\mid x_0)`.

    ``t`` is an integer timestep or a tensor of them in :math:`0, \dots, T-1`; the results have its shape.
    """
    t = torch.as_tensor(t, dtype=torch.long)
    _check_timesteps(t, _train_timesteps(scheduler))
    alpha_bar = scheduler.alphas_cumprod.to(t.device)[t]
    return alpha_bar.sqrt(), 1.0 - alpha_bar


def noisy_images(scheduler, x0: Tensor, t: Tensor | int, noise: Tensor) -> Tensor:
    r"""Return :math:`x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon` (``scheduler.add_noise``).

    ``t`` is one timestep for all images or one per image (shape (N,)); ``noise`` has ``x0``'s shape.
    """
    if noise.shape != x0.shape:
        raise ValueError(f"noise must have the images' shape {tuple(x0.shape)}, got {tuple(noise.shape)}; "
                         "draw it with torch.randn_like(x0)")
    t = torch.as_tensor(t, dtype=torch.long, device=x0.device)
    _check_timesteps(t, _train_timesteps(scheduler))
    return scheduler.add_noise(x0, noise, t.reshape(-1))


# ----------------------------------------------------------------------------
# The loss
# ----------------------------------------------------------------------------

def epsilon_loss(unet: nn.Module, scheduler, x0: Tensor, labels: Tensor | None = None,
                 generator: torch.Generator | None = None) -> Tensor:
    r"""Return the noise-prediction loss of Ho et al. (their :math:`L_{simple}`) on the images ``x0``.

    .. math::
        L = \frac{1}{N\,C\,H\,W}\sum_{i,c,h,w}
        \Big(\varepsilon_i - \varepsilon_\theta\big(\sqrt{\bar\alpha_{t_i}}\,x_{0,i}
        + \sqrt{1-\bar\alpha_{t_i}}\,\varepsilon_i,\ t_i\big)\Big)^2_{c,h,w},
        \qquad t_i \sim \mathcal U\{0, \dots, T-1\},\ \varepsilon_i \sim \mathcal N(0, I),

    a Monte-Carlo estimate of :math:`\mathbb E_{t,\varepsilon}\lVert\varepsilon - \varepsilon_\theta(x_t, t)\rVert^2`
    per element. A U-Net that always predicts zero scores :math:`\mathbb E[\varepsilon^2] = 1`.

    ``t`` and :math:`\varepsilon` are drawn from ``generator`` (a CPU ``torch.Generator``: the same seed gives
    the same draws on every device), else from torch's global generator. ``labels`` (N,) are the class
    labels of a class-conditional U-Net (and must be None for an unconditional one).
    """
    n = x0.shape[0]
    labels = _check_labels(unet, labels, n)
    if generator is not None:
        t = torch.randint(0, _train_timesteps(scheduler), (n,), generator=generator).to(x0.device)
        noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype).to(x0.device)
    else:
        t = torch.randint(0, _train_timesteps(scheduler), (n,), device=x0.device)
        noise = torch.randn_like(x0)
    x_t = scheduler.add_noise(x0, noise, t)
    return F.mse_loss(_predict_noise(unet, x_t, t, labels), noise)


def _predict_noise(unet: nn.Module, x: Tensor, t: Tensor, labels: Tensor | None) -> Tensor:
    r"""Return :math:`\varepsilon_\theta(x_t, t\,[, y])` (a UNet2DModel returns an output object, a plain module a tensor)."""
    out = unet(x, t) if labels is None else unet(x, t, class_labels=labels)
    return out.sample if hasattr(out, "sample") else out


# ----------------------------------------------------------------------------
# Sampling: the reverse process
# ----------------------------------------------------------------------------

@torch.no_grad()
def sample(unet: nn.Module, scheduler, n: int, steps: int | None = None, seed: int = 0,
           labels: Tensor | None = None, eta: float = 0.0, batch_size: int = 64, keep: Sequence[int] = (),
           progress: bool = True, device: str | torch.device | None = None
           ) -> Tensor | tuple[Tensor, dict[int, Tensor]]:
    r"""Draw ``n`` images by running the reverse process from pure noise; return them (n, 3, H, W) in [-1, 1] on the CPU.

    Args:
        unet: the trained :math:`\varepsilon_\theta` (:func:`build_unet`); used in evaluation mode, its mode
            restored afterwards.
        scheduler: a DDPM scheduler (ancestral sampling) or a DDIM one (:func:`ddim_from`).
        n: how many images.
        steps: :math:`S`, the number of reverse steps (network evaluations per image); None uses every
            training timestep (:math:`S = T`). With :math:`S < T` the timesteps are
            :math:`\tau = T-1, T-1-k, \dots, k-1` with :math:`k = T/S` (for DDIM, :math:`S` must divide
            :math:`T`; a DDPM scheduler takes any :math:`S` and recomputes :math:`\beta` between its steps).
        seed: seeds a CPU ``torch.Generator`` that draws the initial noise :math:`x_T` and every step's
            noise (DDPM, or DDIM with :math:`\eta > 0`): the same seed, batch size and steps give the same
            images.
        labels: class labels (n,), required by a class-conditional U-Net and refused by an unconditional one.
        eta: DDIM's :math:`\eta` (0 deterministic, 1 DDPM-like noise); DDPM accepts only 0.
        batch_size: images denoised together.
        keep: frame indices to keep, each in :math:`0, \dots, S`: frame 0 is the initial noise
            :math:`x_T`, frame :math:`k` the images after :math:`k` reverse steps (the input of step
            :math:`k`, at timestep ``scheduler.timesteps[k]``, for :math:`k < S`), frame :math:`S` the
            finished images (equal to the output).
        progress: show a progress bar (one tick per reverse step of a batch).
        device: where to run; None uses the U-Net's device (the U-Net is moved when another is given).

    Returns:
        the images, or ``(images, frames)`` when ``keep`` is not empty, with ``frames`` a dict
        ``{frame index: images (n, 3, H, W) in [-1, 1] on the CPU}`` in increasing order of index,
        ready to draw the walk from noise to image.
    """
    from tqdm.auto import tqdm

    total = _train_timesteps(scheduler)
    steps = total if steps is None else steps
    _check_steps(steps, total)
    _check_positive(n, "n", "the number of images to draw")
    _check_positive(batch_size, "batch_size", "images denoised together")
    ddim = _is_ddim(scheduler)
    _check_eta(eta, ddim)
    if ddim and total % steps:
        divisors = [k for k in range(1, total + 1) if total % k == 0 and k <= 4 * steps][-4:]
        raise ValueError(f"DDIM steps from t to t - T/S, so its steps must divide the scheduler's T = {total}; got "
                         f"steps={steps}: use one of {divisors} (or another divisor of {total})")
    labels = _check_labels(unet, labels, n)
    keep = _check_keep(keep, steps)
    device = model_device(unet) if device is None else torch.device(device)
    unet.to(device)
    size = getattr(unet, "image_size", None) or unet.config.sample_size
    scheduler.set_timesteps(steps)  # every call: a previous call may have used other steps
    timesteps = [int(t) for t in scheduler.timesteps]
    step_options = {"eta": eta} if ddim else {}
    generator = torch.Generator().manual_seed(seed)

    images, frames = [], {k: [] for k in keep}
    was_training = unet.training
    unet.eval()
    bar = tqdm(total=-(-n // batch_size) * steps, desc="DDIM sampling" if ddim else "DDPM sampling", unit="step",
               disable=not progress, leave=False)
    try:
        for start in range(0, n, batch_size):
            count = min(batch_size, n - start)
            y = None if labels is None else labels[start:start + count].to(device)
            x = torch.randn(count, 3, size, size, generator=generator).to(device)  # x_T ~ N(0, I)
            if 0 in frames:
                frames[0].append(x.clamp(-1, 1).cpu())
            for k, t in enumerate(timesteps, start=1):
                eps = _predict_noise(unet, x, torch.full((count,), t, device=device, dtype=torch.long), y)
                x = scheduler.step(eps, t, x, generator=generator, **step_options).prev_sample  # x_t -> x_t'
                if k in frames:
                    frames[k].append(x.clamp(-1, 1).cpu())
                bar.update(1)
            images.append(x.clamp(-1, 1).cpu())
    finally:
        bar.close()
        unet.train(was_training)
    images = torch.cat(images)
    if not keep:
        return images
    return images, {k: torch.cat(frames[k]) for k in keep}


def seconds_per_image(unet: nn.Module, scheduler, steps: int, n: int = 16, seed: int = 0,
                      labels: Tensor | None = None) -> float:
    """Return the wall time of :func:`sample` per image (``steps`` reverse steps, ``n`` images in one batch)."""
    start = time.perf_counter()
    sample(unet, scheduler, n, steps=steps, seed=seed, labels=labels, batch_size=n, progress=False)  # ends on .cpu()
    return (time.perf_counter() - start) / n


# ----------------------------------------------------------------------------
# Argument checks and small helpers
# ----------------------------------------------------------------------------

def _train_timesteps(scheduler) -> int:
    return int(scheduler.config.num_train_timesteps)


def _is_ddim(scheduler) -> bool:
    from diffusers import DDIMScheduler, DDPMScheduler

    if isinstance(scheduler, DDIMScheduler):
        return True
    if isinstance(scheduler, DDPMScheduler):
        return False
    raise ValueError(f"scheduler must be a diffusers DDPMScheduler or DDIMScheduler, got {type(scheduler).__name__}; "
                     "build one with make_scheduler('ddpm') or ddim_from(scheduler)")


def _check_unet_arguments(image_size: int, width: int, num_classes: int | None, levels: int,
                          attention: bool) -> None:
    if not isinstance(levels, int) or levels < 1:
        raise ValueError(f"levels must be a positive integer (3 is a good start), got {levels!r}")
    factor = 2 ** (levels - 1)
    smallest = MIN_RESOLUTION * factor
    if not isinstance(image_size, int) or image_size % factor or image_size < smallest:
        nearest = _sizes_near(image_size, factor, smallest)
        raise ValueError(
            f"image_size {image_size!r} does not fit a U-Net with levels={levels}: it halves the image "
            f"{levels - 1} time(s) and needs at least {MIN_RESOLUTION} px at the lowest level, so the size must be "
            f"a multiple of {factor} that is at least {smallest} (e.g. {', '.join(map(str, nearest))}); "
            "resize the images, or choose fewer levels"
        )
    groups = min(NORM_GROUPS, width) if isinstance(width, int) and width > 0 else None
    if groups is None or width % groups:
        raise ValueError(
            f"width must be a positive integer that GroupNorm's {NORM_GROUPS} groups divide when it exceeds "
            f"{NORM_GROUPS} (any width up to {NORM_GROUPS} works), got {width!r}; use e.g. 16, 32 or 64"
        )
    if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 2):
        raise ValueError(f"num_classes must be None (unconditional) or an integer >= 2, got {num_classes!r}; "
                         "pass num_classes=None for an unconditional U-Net")
    if not isinstance(attention, bool):
        raise ValueError(f"attention must be True or False, got {attention!r}")


def _sizes_near(image_size, factor: int, smallest: int) -> list[int]:
    """Return the one or two image sizes nearest ``image_size`` that a U-Net halving by ``factor`` accepts."""
    if not isinstance(image_size, int):
        return [smallest]
    below, above = factor * (image_size // factor), factor * -(-image_size // factor)
    return sorted({max(smallest, below), max(smallest, above)})


def _check_scheduler_arguments(kind: str, timesteps: int, schedule: str) -> None:
    if kind not in SCHEDULER_KINDS:
        raise ValueError(f"unknown scheduler kind {kind!r}; use one of {SCHEDULER_KINDS}")
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown noise schedule {schedule!r}; use one of {tuple(SCHEDULES)}")
    if not isinstance(timesteps, int) or timesteps < 1:
        raise ValueError(f"timesteps must be a positive integer (1000 in Ho et al.; 50 to 200 for a quick run), "
                         f"got {timesteps!r}")


def _check_timesteps(t: Tensor, total: int) -> None:
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= total):
        raise ValueError(f"timesteps must lie in 0..{total - 1} (the scheduler's training timesteps), "
                         f"got values from {int(t.min())} to {int(t.max())}")


def _check_steps(steps: int, total: int) -> None:
    if not isinstance(steps, int) or not 1 <= steps <= total:
        raise ValueError(f"steps must be an integer from 1 to the scheduler's {total} training timesteps, "
                         f"got {steps!r}; pass steps=None for all {total}, or fewer (e.g. 50) with a DDIM scheduler")


def _check_positive(value: int, name: str, meaning: str) -> None:
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} ({meaning}) must be a positive integer, got {value!r}")


def _check_eta(eta: float, ddim: bool) -> None:
    if eta < 0:
        raise ValueError(f"eta must be >= 0 (0: deterministic DDIM, 1: DDPM-like noise), got {eta!r}")
    if eta and not ddim:
        raise ValueError(f"eta={eta!r} applies to DDIM only, and this is a DDPM scheduler; "
                         "sample with ddim_from(scheduler), or leave eta=0")


def _check_labels(unet: nn.Module, labels: Tensor | None, n: int) -> Tensor | None:
    """Return the labels as a long tensor (n,) for a class-conditional U-Net, None for an unconditional one."""
    num_classes = getattr(unet, "num_classes", None)
    if num_classes is None:
        if labels is not None:
            raise ValueError("labels were given but the U-Net is unconditional; leave labels=None, or build a "
                             "class-conditional U-Net with build_unet(..., num_classes=K)")
        return None
    if labels is None:
        raise ValueError(f"this U-Net is class-conditional ({num_classes} classes) and needs labels: pass "
                         f"labels=torch.tensor([...]) with {n} class indices in 0..{num_classes - 1}")
    labels = torch.as_tensor(labels)
    if labels.shape != (n,) or labels.dtype.is_floating_point:
        raise ValueError(f"labels must be {n} integer class indices, shape ({n},), got shape {tuple(labels.shape)} "
                         f"and dtype {labels.dtype}; one label per image")
    if n and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1} (the U-Net's {num_classes} classes), "
                         f"got values from {int(labels.min())} to {int(labels.max())}")
    return labels.long()


def _check_keep(keep: Sequence[int], steps: int) -> list[int]:
    keep = sorted({int(k) for k in keep})
    wrong = [k for k in keep if not 0 <= k <= steps]
    if wrong:
        raise ValueError(f"keep holds frame indices from 0 (the initial noise) to steps={steps} (the finished "
                         f"images), got {wrong}; e.g. keep=(0, {steps // 2}, {steps})")
    return keep

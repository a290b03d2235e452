"""The phases of one :func:`~medgan_nb.train.engine.train_gan` step, each advancing a :class:`~medgan_nb.train.run._Run`.

A step is ``n_critic`` calls of :func:`_critic_update` (a fresh batch and fresh z, L_D with its optional
gradient penalty and lazy R1, WGAN weight clipping), then :func:`_generator_update` (L_G on the last critic
update's G(z), extra generator terms, the EMA update), then bookkeeping: :func:`_record` (history and progress
bar, on logged steps) and :func:`_end_step` (samples, checkpoints, callbacks, a stop request), and at the end
:func:`_result`. Every loss is checked before its update is applied: a NaN or infinite one raises
:class:`TrainingDiverged`, defined here and re-exported by :mod:`~medgan_nb.train.engine`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..losses import gradient_penalty, r1_penalty
from .config import GeneratorBatch
from .history import TrainResult, TrainState
from .run import _any_process, _Run

Tensor = torch.Tensor


class TrainingDiverged(RuntimeError):
    """Raised when a loss becomes NaN or infinite; ``.step`` names the step, ``.checkpoint`` the last good file."""

    def __init__(self, message: str, step: int, checkpoint: Path | None = None) -> None:
        super().__init__(message)
        self.step = step
        self.checkpoint = checkpoint


# ----------------------------------------------------------------------------
# Numbers: gradient norms, divergence
# ----------------------------------------------------------------------------

def _grad_norm(parameters: Iterable[nn.Parameter]) -> float:
    """Return the L2 norm of all gradients together (what clip_grad_norm_ would measure)."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return float("nan")
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads])))


def _check_finite(loss: Tensor, name: str, step: int, checkpoint: Path | None) -> None:
    """Raise TrainingDiverged when a loss is NaN or infinite (before its update is applied)."""
    if not bool(torch.isfinite(loss)):
        where = (f"the last good checkpoint {checkpoint} is intact and the models were restored to it"
                 if checkpoint is not None
                 else "no checkpoint was written (set TrainConfig.checkpoint_dir to keep one)")
        raise TrainingDiverged(
            f"training diverged at step {step}: the {name} loss is {float(loss.detach())}; {where}. "
            "Try a smaller learning rate (lr_d/lr_g), amp='off', a gradient penalty (gp_weight) or R1 (r1_gamma)",
            step=step, checkpoint=checkpoint,
        )


# ----------------------------------------------------------------------------
# One step: n_critic discriminator updates, one generator update, bookkeeping
# ----------------------------------------------------------------------------

@dataclass
class _Step:
    """The tensors of one generator step: the last critic update's batch and outputs, then the generator's loss."""

    step: int
    real: Tensor
    real_labels: Tensor | None
    z: Tensor
    fake: Tensor  # G(z) of the last critic update, with gradients into G: reused by the generator update
    critic_condition: tuple[Tensor, ...]  # (labels,) when D takes them, else ()
    real_logits: Tensor
    fake_logits: Tensor
    loss_d: Tensor
    grad_norm_d: float = float("nan")  # measured on logged steps only
    loss_g: Tensor | None = None
    extra_terms: dict[str, Tensor] = field(default_factory=dict)
    class_loss_d: Tensor | None = None  # AC-GAN: CE(C(x), y) of D's class head on the real batch
    class_loss_g: Tensor | None = None  # AC-GAN: CE(C(G(z, y)), y), G's class term
    grad_norm_g: float = float("nan")


def _backward_and_step(loss: Tensor, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                       module: nn.Module, measure: bool) -> float:
    """Back-propagate ``loss`` and step ``optimizer``; return the gradient norm when ``measure``, else NaN."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    grad_norm = float("nan")
    if measure:
        scaler.unscale_(optimizer)  # the norm of the true gradients, not of the fp16-scaled ones
        grad_norm = _grad_norm(module.parameters())
    scaler.step(optimizer)
    scaler.update()
    return grad_norm


def _critic_loss(run: _Run, step: int, critic_iteration: int, real: Tensor, fake: Tensor,
                 critic_condition: tuple[Tensor, ...]) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """Return (D(x), D(G(z)), L_D = loss_d(D(x), D(G(z))) [+ class term] [+ gradient penalty] [+ lazy R1], the
    class term or None) under autocast."""
    config = run.config
    critic_update = (step - 1) * config.n_critic + critic_iteration  # counts from 0
    class_loss = None
    with run.autocast():
        real_seen, fake_seen = run.augment(real), run.augment(fake.detach())
        if config.class_weight > 0:  # AC-GAN: D(x) and its class logits C(x) from one pass
            real_logits, real_classes = run.discriminator(real_seen, *critic_condition, classes=True)
            class_loss = F.cross_entropy(real_classes.float(), critic_condition[0],  # CE(C(x), y), real images only
                                         weight=run.class_balance)
        else:
            real_logits = run.discriminator(real_seen, *critic_condition)  # D(x)
        fake_logits = run.discriminator(fake_seen, *critic_condition)  # D(G(z)); no gradient into G
        loss_d = run.loss_d_fn(real_logits, fake_logits)
        if class_loss is not None:  # + lambda CE(C(x), y)
            loss_d = loss_d + config.class_weight * class_loss
        if config.gp_weight > 0:  # + lambda E[(||grad D(x_hat)|| - 1)^2]
            loss_d = loss_d + config.gp_weight * gradient_penalty(run.critic_module, real_seen, fake_seen,
                                                                  *critic_condition)
        if config.r1_gamma > 0 and critic_update % config.r1_every == 0:
            # + gamma/2 E[||grad_x D(x)||^2], every r1_every-th update weighted by r1_every (lazy R1)
            loss_d = loss_d + config.r1_gamma / 2 * config.r1_every * r1_penalty(
                run.critic_module, real_seen, *critic_condition)
    return real_logits, fake_logits, loss_d, class_loss


def _critic_update(run: _Run, step: int, critic_iteration: int, measure: bool) -> _Step:
    """Take one discriminator update on a fresh batch and fresh z; return the batch, G(z) and D's outputs."""
    config = run.config
    real, real_labels = run.next_batch()
    z = torch.randn(run.local_batch, run.latent_dim, device=run.device)  # z ~ N(0, I)
    condition = (real_labels,) if run.conditional else ()  # fakes get the real batch's classes (or masks)
    critic_condition = condition if run.critic_conditional else ()
    last_iteration = critic_iteration == config.n_critic - 1
    with torch.set_grad_enabled(last_iteration), run.autocast():  # the last G(z) is reused for G's step
        fake = run.generator(z, *condition)  # G(z)
    real_logits, fake_logits, loss_d, class_loss = _critic_loss(run, step, critic_iteration, real, fake,
                                                                critic_condition)
    _check_finite(loss_d, "discriminator", step, run.last_checkpoint)
    grad_norm_d = _backward_and_step(loss_d, run.optimizer_d, run.scaler_d, run.critic_module,
                                     measure and last_iteration)
    if config.weight_clip is not None:  # WGAN: w <- clip(w, -c, c) keeps D roughly 1-Lipschitz
        with torch.no_grad():
            for parameter in run.critic_module.parameters():
                parameter.clamp_(-config.weight_clip, config.weight_clip)
    return _Step(step, real, real_labels, z, fake, critic_condition, real_logits, fake_logits, loss_d, grad_norm_d,
                 class_loss_d=class_loss)


def _generator_update(run: _Run, batch: _Step, measure: bool) -> None:
    """Take one generator update on L_G = loss_g(D(G(z))) [+ extra terms] with the last critic update's G(z)."""
    config = run.config
    run.critic_module.requires_grad_(False)  # D's weights are constants here: half of D's backward is skipped
    with run.autocast():
        fake_seen = run.augment(batch.fake)
        if config.class_weight > 0:  # AC-GAN: G is rewarded when D's classifier recognises the class it asked for
            fake_logits, fake_classes = run.critic_module(fake_seen, *batch.critic_condition, classes=True)
            batch.class_loss_g = F.cross_entropy(fake_classes.float(), batch.critic_condition[0],  # CE(C(G(z, y)), y)
                                                 weight=run.class_balance)
        else:
            fake_logits = run.critic_module(fake_seen, *batch.critic_condition)
        loss_g = run.loss_g_fn(fake_logits)  # the updated D
        if batch.class_loss_g is not None:
            loss_g = loss_g + config.class_weight * batch.class_loss_g
        if config.generator_loss is not None:
            terms = config.generator_loss(GeneratorBatch(
                fake=batch.fake, real=batch.real, z=batch.z, condition=batch.real_labels if run.conditional else None,
                generator=run.generator_module, discriminator=run.critic_module, step=batch.step))
            batch.extra_terms = terms if isinstance(terms, dict) else {"extra": terms}
            for term in batch.extra_terms.values():
                loss_g = loss_g + term
    run.critic_module.requires_grad_(True)
    _check_finite(loss_g, "generator", batch.step, run.last_checkpoint)
    batch.loss_g = loss_g
    batch.grad_norm_g = _backward_and_step(loss_g, run.optimizer_g, run.scaler_g, run.generator_module, measure)
    if run.ema is not None:  # G_ema <- beta_t G_ema + (1 - beta_t) G
        run.ema.update(run.generator_module)


def _record(run: _Run, batch: _Step, progress: Any) -> None:
    """Append the step's losses, D outputs, gradient norms and speed to the history; show them on the progress bar."""
    now = time.perf_counter()
    speed = (batch.step - run.last_log_step) * run.images_per_step / max(now - run.last_log_time, 1e-9)
    d_real, d_fake = batch.real_logits.detach().float(), batch.fake_logits.detach().float()
    if run.d_output == "probability":
        d_real, d_fake = torch.sigmoid(d_real), torch.sigmoid(d_fake)
    history = run.history
    history.append(step=batch.step, loss_d=float(batch.loss_d.detach()), loss_g=float(batch.loss_g.detach()),
                   d_real=float(d_real.mean()), d_fake=float(d_fake.mean()),
                   grad_norm_g=batch.grad_norm_g, grad_norm_d=batch.grad_norm_d,
                   seconds=run.previous_seconds + now - run.started, images_per_second=speed,
                   **{f"loss_{name}": float(term.detach()) for name, term in batch.extra_terms.items()},
                   **_class_terms(batch))
    run.last_log_time, run.last_log_step = now, batch.step
    progress.set_postfix({"loss_D": f"{history['loss_d'][-1]:.3f}", "loss_G": f"{history['loss_g'][-1]:.3f}",
                          "D(x)": f"{history['d_real'][-1]:.2f}",
                          "D(G(z))": f"{history['d_fake'][-1]:.2f}", "img/s": f"{speed:.0f}"},
                         refresh=False)


def _class_terms(batch: _Step) -> dict[str, float]:
    """Return the AC-GAN class terms of a step for the history ({} without a class head): unweighted CEs."""
    if batch.class_loss_d is None or batch.class_loss_g is None:
        return {}
    return {"class_ce_real": float(batch.class_loss_d.detach()), "class_ce_fake": float(batch.class_loss_g.detach())}


def _end_step(run: _Run, step: int, state: TrainState, callbacks: Iterable[Callable[[int, TrainState], None]]) -> bool:
    """Take samples and write a checkpoint when due, call the callbacks; return whether training stops here."""
    config, is_main = run.config, run.is_main
    if is_main and config.sample_every and (step % config.sample_every == 0 or step == run.total_steps):
        run.take_samples(step)
    if is_main and run.checkpoint_path is not None and (
        (config.checkpoint_every and step % config.checkpoint_every == 0) or step == run.total_steps
    ):
        run.write_checkpoint(step)
    state.step, state.checkpoint = step, run.last_checkpoint
    if is_main:
        for callback in callbacks:
            callback(step, state)
    if run.distributed.world_size > 1:  # a stop requested on rank 0 stops every process
        state.stop = _any_process(state.stop, run.device)
    if state.stop and is_main and run.checkpoint_path is not None and run.checkpoint_step != step:
        run.write_checkpoint(step)  # a callback asked to end here: keep a checkpoint of this step
    return state.stop


def _result(run: _Run, step: int) -> TrainResult:
    """Return what train_gan hands back after ``step``: models, EMA copy, history, samples, checkpoint and speed."""
    seconds = time.perf_counter() - run.started
    trained = step - run.start_step
    return TrainResult(
        generator=run.generator_module,
        discriminator=run.critic_module,
        ema_generator=run.ema_generator(step) if run.ema is not None else None,
        history=run.history,
        samples=run.samples,
        checkpoint=run.last_checkpoint if run.is_main else None,
        images_per_second=trained * run.images_per_step / seconds if trained else 0.0,
        steps=step,
        seconds=seconds,
    )

"""The CUDA-only code paths (mixed precision on a GPU, channels_last, data kept on the GPU, resume on a GPU).

Each test skips without CUDA: CI has no GPU. The `gpu` profile's other branches run on the CPU in
tests/test_gpu_profile_on_cpu.py; these are the parts a CPU cannot execute.
"""
from __future__ import annotations

import dataclasses

import pytest
import torch

from medgan_nb.models.dcgan import build_dcgan
from medgan_nb.train import TrainConfig, train_gan
from medgan_nb.train.engine import _resolve_amp

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _images(n: int = 64, size: int = 32) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(3)) * 2 - 1


def _config(tmp_path, steps: int, **kwargs) -> TrainConfig:
    return TrainConfig(steps=steps, batch_size=16, device="cuda", amp="auto", channels_last=True,
                       ema_decay=0.999, progress=False, checkpoint_dir=str(tmp_path), checkpoint_every=5,
                       sample_every=5, n_samples=8, seed=1, **kwargs)


def test_amp_auto_picks_bf16_or_fp16_with_scaling_on_cuda():
    dtype, scaling = _resolve_amp("auto", torch.device("cuda"))
    assert (dtype, scaling) == ((torch.bfloat16, False) if torch.cuda.is_bf16_supported() else (torch.float16, True))
    assert _resolve_amp("fp16", torch.device("cuda")) == (torch.float16, True)


@pytest.mark.parametrize("amp", ["auto", "fp16"])
def test_training_on_cuda_with_mixed_precision_and_channels_last(tmp_path, amp):
    torch.manual_seed(0)
    generator, discriminator = build_dcgan(image_size=32, latent_dim=16, width=16)
    config = dataclasses.replace(_config(tmp_path, 10), amp=amp)
    result = train_gan(generator, discriminator, _images(), config)
    assert next(result.generator.parameters()).is_cuda
    losses = torch.tensor([result.history["loss_d"], result.history["loss_g"]])
    assert torch.isfinite(losses).all(), f"non-finite losses under amp={amp}: {losses}"
    with torch.no_grad():
        fake = result.best_generator(torch.randn(16, 16, device="cuda"))
    assert fake.is_cuda and fake.dtype == torch.float32 and fake.abs().max() <= 1.0
    assert fake.std() > 0.05, "the EMA generator draws near-constant images on the GPU"


def test_resume_on_cuda_continues_exactly(tmp_path):
    def run(directory, steps, resume):
        torch.manual_seed(0)
        generator, discriminator = build_dcgan(image_size=32, latent_dim=16, width=16)
        return train_gan(generator, discriminator, _images(), _config(directory, steps),
                         resume=directory if resume else None)

    straight = run(tmp_path / "straight", 10, False)
    run(tmp_path / "split", 5, False)
    resumed = run(tmp_path / "split", 10, True)
    for a, b in zip(straight.generator.state_dict().values(), resumed.generator.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-5), "resume on CUDA drifted from the straight run"
    # a checkpoint written on the GPU loads on a CPU-only machine
    state = torch.load(resumed.checkpoint, map_location="cpu", weights_only=False)
    assert all(not t.is_cuda for t in state["generator"].values() if torch.is_tensor(t))

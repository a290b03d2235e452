"""Several processes under torchrun (gloo on the CPU): DDP keeps one model (the ranks start from different weights
and end with the same), only rank 0 checkpoints, each rank draws a disjoint slice of every global batch, and a run
resumes from its checkpoint under torchrun."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from medgan_nb.train import BatchOrder

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    import torch
    import torch.distributed as dist
    from torch import nn
    from medgan_nb.train import TrainConfig, train_gan

    out, steps, resume = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None

    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            self.latent_dim = 4
            self.net = nn.Linear(4, 3 * 4 * 4)

        def forward(self, z):
            return torch.tanh(self.net(z)).view(-1, 3, 4, 4)

    class RecordingCritic(nn.Module):
        # remembers the image ids of the real batch it is shown first in every step
        def __init__(self):
            super().__init__()
            self.net = nn.Linear(3 * 4 * 4, 1)
            self.seen = []

        def forward(self, x):
            ids = torch.round((x[:, 1, 0, 0] + 1) * 100).long().tolist()  # channel 1 encodes the image id
            if x[:, 2].abs().max() == 0:  # real images have channel 2 == 0; fakes (tanh) do not
                self.seen.append(ids)
            return self.net(x.flatten(1)).flatten()

    n = 64
    images = torch.zeros(n, 3, 4, 4)
    images[:, 1] = (torch.arange(n).float() / 100 - 1)[:, None, None]  # id i -> value i/100 - 1 in [-1, 1]
    torch.manual_seed(int(os.environ["RANK"]))  # different initial weights per process: DDP must synchronise them
    generator, critic = Generator(), RecordingCritic()
    config = TrainConfig(steps=steps, batch_size=8, progress=False, seed=3, checkpoint_dir=str(out / "checkpoints"))
    result = train_gan(generator, critic, images, config, resume=resume)
    rank = dist.get_rank()
    torch.save(dict(result.generator.named_parameters()), out / f"generator_rank{rank}.pt")
    (out / f"rank{rank}.json").write_text(json.dumps({
        "seen": critic.seen, "history_steps": result.history["step"], "steps": result.steps,
        "world_size": dist.get_world_size(), "backend": dist.get_backend(),
        "checkpoint": None if result.checkpoint is None else str(result.checkpoint), "loss_d": result.history["loss_d"],
    }))
    dist.destroy_process_group()
    # Gloo's worker threads can outlive destroy_process_group and abort the interpreter's finalisation
    # ("terminate called without an active exception", SIGABRT; pytorch/pytorch#179291): once every output is
    # written and the group is gone, leave without finalising so a teardown race cannot fail the run.
    os._exit(0)
    """
)


def _torchrun(script: Path, *args: str) -> None:
    # pinned to the CPU (gloo): on a machine with one GPU, nccl would put both processes on it
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script), *args], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
def test_each_rank_draws_a_disjoint_slice_of_the_global_batch_and_resume_works(tmp_path):
    script = tmp_path / "record.py"
    script.write_text(SCRIPT)
    _torchrun(script, str(tmp_path), "3")
    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world_size"] == 2 and r["backend"] == "gloo" for r in reports)
    # one model: the ranks started from different weights and end with the same ones
    rank0 = torch.load(tmp_path / "generator_rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "generator_rank1.pt", weights_only=True)
    assert rank0.keys() == rank1.keys()
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), f"{name} differs between the processes"
    # rank 0 alone checkpoints, and its checkpoint holds that model
    assert reports[0]["checkpoint"] is not None and reports[1]["checkpoint"] is None
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["checkpoint.pt"]
    saved = torch.load(tmp_path / "checkpoints" / "checkpoint.pt", weights_only=True)
    assert saved["step"] == 3
    assert all(torch.equal(saved["generator"][name], rank0[name]) for name in rank0)
    # each process saw its own half of every batch (and its own noise): their losses differ
    assert reports[0]["loss_d"] != reports[1]["loss_d"]

    seen = [report["seen"] for report in reports]
    order = BatchOrder(64, 8, seed=3)  # what one process with the same global batch would draw
    assert len(seen[0]) == len(seen[1]) == 3
    for step in range(3):
        rank0, rank1 = set(seen[0][step]), set(seen[1][step])
        assert len(rank0) == len(rank1) == 4 and not rank0 & rank1, f"step {step + 1}: slices overlap"
        assert rank0 | rank1 == set(order.next().tolist()), f"step {step + 1}: not the single-process batch"

    # resume under torchrun from the 3-step checkpoint: training goes on at step 4 on both processes
    _torchrun(script, str(tmp_path), "5", str(tmp_path / "checkpoints" / "checkpoint.pt"))
    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["steps"] == 5 and len(r["seen"]) == 2 for r in reports)
    assert reports[0]["history_steps"] == [1, 2, 3, 4, 5]  # the saved history continues
    for step in range(2):  # the batch order continues where it stopped
        assert set(reports[0]["seen"][step]) | set(reports[1]["seen"][step]) == set(order.next().tolist())
    assert torch.load(tmp_path / "checkpoints" / "checkpoint.pt", weights_only=True)["step"] == 5

"""A training run killed (SIGKILL) at random moments resumes from its checkpoint each time and leaves no debris."""
from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import torch
    from medgan_nb.models.dcgan import build_dcgan
    from medgan_nb.train import TrainConfig, train_gan

    folder = Path(sys.argv[1])
    torch.manual_seed(0)
    generator, discriminator = build_dcgan(image_size=32, latent_dim=16, width=8)
    data = torch.rand(64, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    checkpoint = folder / "checkpoint.pt"
    config = TrainConfig(steps=int(sys.argv[2]), batch_size=8, checkpoint_dir=str(folder), checkpoint_every=1,
                         progress=False, device="cpu")
    print("started", flush=True)
    result = train_gan(generator, discriminator, data, config, resume=checkpoint if checkpoint.exists() else None)
    print("finished", result.steps, flush=True)
    """
)


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume(tmp_path):
    script = tmp_path / "train_until_killed.py"
    script.write_text(SCRIPT)
    folder = tmp_path / "run"
    env = {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    # each run is killed a few steps after it starts, whatever the machine's speed, so 40 steps outlast four kills
    total_steps, rng, kills, steps_seen = 40, random.Random(7), 0, []
    for _ in range(4):
        process = subprocess.Popen([sys.executable, str(script), str(folder), str(total_steps)], env=env,
                                   stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline().strip() == "started"  # torch is imported; training is about to begin
        before = int(torch.load(folder / "checkpoint.pt", weights_only=True)["step"]) if steps_seen else 0
        target = before + rng.randint(1, 3)  # kill after a random number of new steps ...
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if int(torch.load(folder / "checkpoint.pt", weights_only=True)["step"]) >= target:
                    break
            except (FileNotFoundError, RuntimeError, EOFError):
                pass  # not written yet (a reader never sees half a file: os.replace is atomic)
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.03))  # ... at a random moment within a step, often in the middle of a write
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
        if (folder / "checkpoint.pt").exists():
            saved = torch.load(folder / "checkpoint.pt", weights_only=True)  # always loadable, never half-written
            steps_seen.append(int(saved["step"]))
    assert kills >= 3, "the runs finished before they could be killed; raise total_steps"
    assert steps_seen == sorted(steps_seen) and steps_seen[-1] > 0  # every restart went on from the last step
    done = subprocess.run([sys.executable, str(script), str(folder), str(total_steps)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == str(total_steps)
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint.pt"]  # temporaries of killed writers removed

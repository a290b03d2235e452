"""The classifier two-sample test: chance level for real vs real, clearly above for a checkerboard artefact."""
from __future__ import annotations

import pytest
import torch

from medgan_nb.metrics.two_sample import classifier_two_sample_test, two_sample_floor


@pytest.fixture(scope="module")
def lesions() -> torch.Tensor:
    """400 phantom lesions at 32 px."""
    from medgan_nb.data import load_dataset

    return load_dataset("phantom", size=32, split="all", n=400, seed=5, progress=False).images[:400]


def checkerboard(images: torch.Tensor, amplitude: float = 0.1) -> torch.Tensor:
    """Return images + amplitude * (-1)^(i + j), the pixel-level artefact of a transposed convolution."""
    rows, cols = torch.arange(images.shape[-2]), torch.arange(images.shape[-1])
    pattern = 1 - 2 * ((rows[:, None] + cols[None, :]) % 2).float()
    return (images + amplitude * pattern).clamp(-1, 1)


def test_real_vs_real_is_chance_and_a_checkerboard_is_found(lesions):
    state = torch.random.get_rng_state()
    floor = two_sample_floor(lesions, epochs=6, seed=0, progress=False)
    assert abs(floor.accuracy - 0.5) < 0.15 and floor.n_test == 200, floor
    artefact = classifier_two_sample_test(lesions[:200], checkerboard(lesions[200:]), epochs=6, seed=0, progress=False)
    assert artefact.accuracy > 0.8 and artefact.p_value < 1e-6, artefact
    assert floor.p_value > artefact.p_value
    assert torch.equal(torch.random.get_rng_state(), state), "the test must not consume the caller's RNG"
    again = classifier_two_sample_test(lesions[:200], checkerboard(lesions[200:]), epochs=6, seed=0, progress=False)
    assert again.accuracy == artefact.accuracy


def test_bad_input_gets_clear_errors(lesions):
    with pytest.raises(ValueError, match="at least 4 images"):
        classifier_two_sample_test(lesions[:3], lesions[3:6], progress=False)
    with pytest.raises(ValueError, match=r"127.5"):
        classifier_two_sample_test(lesions[:8], (lesions[8:16] + 1) * 127.5, progress=False)

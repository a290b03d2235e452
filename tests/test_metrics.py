"""The fixed feature space, the Fréchet distance and the memorisation checks behave as their docstrings say."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF

from medgan_nb import viz, widgets
from medgan_nb.metrics.features import LesionFeatureExtractor, default_extractor
from medgan_nb.metrics.fid import features_of, frechet_distance, sample_generator
from medgan_nb.metrics.memorization import memorization_summary, nearest_neighbours
from medgan_nb.models.dcgan import build_dcgan


@pytest.fixture(scope="module")
def lesions() -> dict[str, torch.Tensor]:
    """Three disjoint sets of 48-px phantom lesions: reference, held-out (same distribution) and a third."""
    from medgan_nb.data import load_dataset

    images = load_dataset("phantom", size=48, split="all", n=720, seed=3).images
    assert images.shape[0] >= 720 and images.dtype == torch.float32
    return {"reference": images[:240], "heldout": images[240:480], "other": images[480:720]}


def test_features_are_fixed_sized_and_independent_of_global_rng(lesions):
    images = lesions["reference"][:16]
    state = torch.random.get_rng_state()
    first, second = LesionFeatureExtractor(), LesionFeatureExtractor()
    assert torch.equal(torch.random.get_rng_state(), state), "building the extractor consumed the global RNG"
    a, b = first(images), second(images)
    assert a.shape == (16, first.num_features) and torch.equal(a, b)
    assert not a.requires_grad and torch.isfinite(a).all()
    for size in (28, 64, 100):  # any input size is resized internally
        resized = torch.nn.functional.interpolate(images, size=size, mode="bilinear")
        assert first(resized).shape == (16, first.num_features)
    first.train()
    assert not first.training, "the feature extractor must stay in eval mode"
    assert not torch.equal(LesionFeatureExtractor(seed=1)(images), a), "the seed must define the weights"


def test_frechet_distance_orders_degradations(lesions):
    reference, heldout = lesions["reference"], lesions["heldout"]
    same = frechet_distance(reference, heldout)
    blurred = frechet_distance(reference, TF.gaussian_blur(heldout, kernel_size=7, sigma=2.0))
    tinted = frechet_distance(reference, (heldout + torch.tensor([-0.2, 0.15, 0.2])[:, None, None]).clamp(-1, 1))
    noise = frechet_distance(reference, torch.rand_like(heldout) * 2 - 1)
    assert 0 < same < blurred < noise and same < tinted < noise, (same, blurred, tinted, noise)
    # measured on the soft-bordered phantom: blur ~2.2x, tint ~200x, noise ~500x the real-vs-real distance (a
    # phantom as smooth as real dermoscopy loses less to a sigma-2 blur than the old, crisp one did: 5x)
    assert blurred > 1.6 * same and tinted > 3 * same, "degraded images should be clearly farther than new real ones"
    assert noise > 50 * same


def frechet_closed_form(phi_r: np.ndarray, phi_g: np.ndarray) -> float:
    """Return ||mu_r - mu_g||^2 + Tr(S_r) + Tr(S_g) - 2 Tr((S_r S_g)^{1/2}) without a matrix square root.

    With A = (phi - mean) / sqrt(n - 1), S = A^T A, and the non-zero eigenvalues of S_r S_g are those of
    M M^T for M = A_r A_g^T, so Tr((S_r S_g)^{1/2}) is the sum of M's singular values (its nuclear norm).
    An SVD is well-posed for any n, also when n <= D and S_r S_g is singular, where sqrtm is not.
    """
    a_r = (phi_r - phi_r.mean(0)) / np.sqrt(len(phi_r) - 1)
    a_g = (phi_g - phi_g.mean(0)) / np.sqrt(len(phi_g) - 1)
    trace_sqrt = np.linalg.svd(a_r @ a_g.T, compute_uv=False).sum()
    return float(((phi_r.mean(0) - phi_g.mean(0)) ** 2).sum() + (a_r**2).sum() + (a_g**2).sum() - 2 * trace_sqrt)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_frechet_distance_matches_the_closed_form(lesions, seed):
    rng = torch.Generator().manual_seed(seed)  # three different pairs of 160-image subsets
    real = lesions["reference"][torch.randperm(240, generator=rng)[:160]]
    fake = lesions["other"][torch.randperm(240, generator=rng)[:160]] * 0.8  # a contrast change
    phi_r, phi_g = features_of(real).double().numpy(), features_of(fake).double().numpy()
    expected = frechet_closed_form(phi_r, phi_g)
    # measured relative differences 1.6e-7 to 2.0e-7 over the three seeds (the kit returns a float32)
    assert frechet_distance(real, fake) == pytest.approx(expected, rel=1e-5)
    assert frechet_distance(real, real) < 1e-3 * expected


def test_frechet_distance_rejects_bad_input(lesions):
    images = lesions["reference"]
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(images, images[:1])
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        frechet_distance(images, torch.rand(8, 1, 28, 28))
    with pytest.raises(ValueError, match="float"):
        frechet_distance(images, (torch.rand(8, 3, 32, 32) * 255).to(torch.uint8))


def test_nearest_neighbours_agree_with_brute_force(lesions):
    references = lesions["reference"][:60]
    queries = torch.cat([references[[5, 17, 42]], lesions["other"][:5]])
    indices, distances = nearest_neighbours(queries, references, k=3, chunk_size=2)
    assert indices.shape == distances.shape == (8, 3)
    assert indices[:3, 0].tolist() == [5, 17, 42] and torch.allclose(distances[:3, 0], torch.zeros(3), atol=1e-3)
    assert (distances[:, 1:] >= distances[:, :-1]).all(), "neighbours must come closest first"
    flat_q, flat_r = queries.flatten(1), references.flatten(1)
    brute = ((flat_q[:, None] - flat_r[None]) ** 2).mean(-1).sqrt()  # root-mean-square difference
    assert torch.allclose(distances, brute.sort(dim=1).values[:, :3], atol=1e-3)  # cdist's matmul path rounds
    feature_indices, _ = nearest_neighbours(queries[:3], references, space="features")
    assert feature_indices[:, 0].tolist() == [5, 17, 42]
    with pytest.raises(ValueError, match="space"):
        nearest_neighbours(queries, references, space="latent")
    with pytest.raises(ValueError, match="one size"):
        nearest_neighbours(queries[:, :, :32, :32], references)


def test_memorization_ratio_flags_copies_not_new_images(lesions):
    train, heldout, other = lesions["reference"], lesions["heldout"][:80], lesions["other"][:80]
    copies = (train[:80] + 0.01 * torch.randn(80, *train.shape[1:], generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
    copied = memorization_summary(copies, train, heldout)
    fresh = memorization_summary(other, train, heldout)
    assert copied["memorization_ratio"] < 0.3 and copied["copy_fraction"] > 0.9, copied
    assert 0.7 < fresh["memorization_ratio"] < 1.4 and fresh["copy_fraction"] < 0.25, fresh


def test_sample_generator_is_reproducible_and_viz_helpers_draw():
    generator, discriminator = build_dcgan(image_size=32, latent_dim=16, width=8)
    a, b = sample_generator(generator, 10, seed=4, batch_size=3), sample_generator(generator, 10, seed=4)
    assert a.shape == (10, 3, 32, 32) and torch.allclose(a, b, atol=1e-6) and a.abs().max() <= 1
    table = viz.layer_summary(generator, torch.randn(1, 16))
    assert table["parameters"].iloc[-1] == sum(p.numel() for p in generator.parameters())
    assert table["output shape"].iloc[-2] == (3, 32, 32)
    assert viz.layer_summary(discriminator, a[:1])["output shape"].iloc[-2] == (1, 1, 1)  # one logit per image
    z0, z1 = torch.randn(16), torch.randn(16)
    path = viz.interpolate_latents(z0, z1, n_steps=5)
    assert torch.allclose(path[0], z0, atol=1e-5) and torch.allclose(path[-1], z1, atol=1e-5)
    directions = widgets.latent_directions(16, 3)
    assert torch.allclose(directions @ directions.T, torch.eye(3), atol=1e-5)
    assert widgets.draw_latent_directions(generator, torch.randn(4, 16), directions, [1, 0, -1]) is not None
    assert widgets.latent_explorer(generator, n_images=4).children
    assert default_extractor() is default_extractor()


def test_random_subset_is_seeded_and_not_the_first_rows():
    from medgan_nb.data import random_subset

    images = torch.arange(100).float()[:, None, None, None].expand(100, 3, 2, 2)
    first = random_subset(images, 10, seed=1)
    assert first.shape == (10, 3, 2, 2) and torch.equal(first, random_subset(images, 10, seed=1))
    assert not torch.equal(first, images[:10]) and len(set(first[:, 0, 0, 0].tolist())) == 10
    assert len(random_subset(images, 500, seed=0)) == 100


def test_channel_mean_verdict_is_computed_from_the_images():
    from medgan_nb.viz import compare_channel_means

    real = torch.zeros(50, 3, 4, 4)
    real[:, 0] += torch.linspace(-0.2, 0.2, 50)[:, None, None]  # red varies between images
    table, verdict = compare_channel_means(real, real.clone())
    assert abs(table["red"]["in_std"]) < 1e-6 and "within the spread" in verdict
    redder = real.clone()
    redder[:, 0] += 0.5
    table, verdict = compare_channel_means(real, redder)
    assert table["red"]["percent"] > 20 and table["red"]["in_std"] > 1
    assert verdict.startswith("largest difference: red") and "do not match" in verdict

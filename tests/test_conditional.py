"""Conditional GANs: shapes, ranges, label checks, label effect, truncation, and a short training run of each."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from medgan_nb.models.conditional import (
    BigGANDiscriminator,
    BigGANGenerator,
    ConditionalDiscriminator,
    ConditionalGenerator,
    ProjectionDiscriminator,
    build_biggan,
    build_cgan,
    build_projection_gan,
    truncated_noise,
)
from medgan_nb.train import TrainConfig, sample_images, takes_labels, train_gan

BUILDERS = {"cgan": build_cgan, "projection": build_projection_gan, "biggan": build_biggan}
NUM_CLASSES = 7


def build(name: str, image_size: int = 32, width: int = 8):
    torch.manual_seed(0)
    return BUILDERS[name](image_size=image_size, num_classes=NUM_CLASSES, width=width)


@pytest.mark.parametrize("name", BUILDERS)
@pytest.mark.parametrize("image_size", [32, 64, 128])
def test_shapes_range_and_attributes(name, image_size):
    generator, discriminator = build(name, image_size, width=4)
    z = torch.randn(5, generator.latent_dim) * 3
    labels = torch.tensor([0, 1, 2, 5, 6])
    images = generator(z, labels)
    assert images.shape == (5, 3, image_size, image_size)
    assert images.min() >= -1 and images.max() <= 1 and images.std() > 0.01
    logits = discriminator(images, labels)
    assert logits.shape == (5,) and torch.isfinite(logits).all()
    for model in (generator, discriminator):
        assert takes_labels(model)
        assert (model.image_size, model.width, model.channels, model.num_classes) == (image_size, 4, 3, NUM_CLASSES)
    assert isinstance(generator.latent_dim, int)


@pytest.mark.parametrize("name", BUILDERS)
def test_the_label_changes_the_generated_image_and_the_score(name):
    generator, discriminator = build(name)
    # training mode: BatchNorm normalises by the batch's spread, and with one z repeated that spread can only
    # come from the labels (a generator that ignored them would give 7 identical images whatever the mode)
    generator.train()
    z = torch.randn(1, generator.latent_dim).expand(NUM_CLASSES, -1)  # one z for every class
    labels = torch.arange(NUM_CLASSES)
    with torch.no_grad():
        images = generator(z, labels)
        per_class_difference = (images - images[:1]).flatten(1).abs().mean(1)[1:]
        assert (per_class_difference > 1e-2).all(), per_class_difference
        same_image = images[:1].expand(NUM_CLASSES, -1, -1, -1)
        scores = discriminator(same_image, labels)
    assert scores.std() > 1e-4, "the discriminator's score must depend on the label"


@pytest.mark.parametrize("name", BUILDERS)
def test_bad_labels_are_clear_errors(name):
    generator, discriminator = build(name)
    z = torch.randn(4, generator.latent_dim)
    x = torch.zeros(4, 3, 32, 32)
    for model, inputs in ((generator, z), (discriminator, x)):
        with pytest.raises(ValueError, match=r"label\(s\) \[7\] outside the valid range 0\.\.6"):
            model(inputs, torch.tensor([0, 1, 7, 2]))
        with pytest.raises(ValueError, match=r"\[-1\] outside the valid range 0\.\.6"):
            model(inputs, torch.tensor([0, -1, 1, 2]))
        with pytest.raises(ValueError, match=r"shape \(3,\) for a batch of 4.*one class label per image"):
            model(inputs, torch.tensor([0, 1, 2]))
        with pytest.raises(ValueError, match=r"class-conditional: call it with labels"):
            model(inputs, None)
        with pytest.raises(ValueError, match=r"integer class indices.*labels.long\(\)"):
            model(inputs, torch.zeros(4))


def test_wrong_latent_or_image_shape_and_bad_settings_are_clear_errors():
    generator, discriminator = build("biggan")
    with pytest.raises(ValueError, match=r"\(N, 120\).*torch.randn"):
        generator(torch.randn(4, 100), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(N, 3, 32, 32\).*size=32"):
        discriminator(torch.zeros(4, 3, 64, 64), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"4 chunks.*>= 4, got 3"):
        BigGANGenerator(3, NUM_CLASSES, image_size=32)
    with pytest.raises(ValueError, match=r"num_classes must be a positive integer.*got 0"):
        ConditionalDiscriminator(0, image_size=32)
    with pytest.raises(ValueError, match=r"image_size must be one of"):
        ProjectionDiscriminator(NUM_CLASSES, image_size=48)


def test_cgan_feeds_the_label_to_both_networks_as_the_papers_describe():
    generator = ConditionalGenerator(16, NUM_CLASSES, image_size=32, width=4, embedding_dim=10)
    assert generator.backbone.latent_dim == 16 + 10  # [z, e(y)]
    discriminator = ConditionalDiscriminator(NUM_CLASSES, image_size=32, width=4)
    assert discriminator.backbone.channels == 3 + NUM_CLASSES  # image channels + one-hot class maps


def test_projection_discriminator_is_psi_plus_embedding_dot_features():
    torch.manual_seed(0)
    discriminator = ProjectionDiscriminator(NUM_CLASSES, image_size=32, width=4).eval()
    x, labels = torch.randn(3, 3, 32, 32), torch.tensor([0, 3, 6])
    with torch.no_grad():
        features = discriminator.phi(x).sum(dim=(2, 3))  # phi(x)
        psi = discriminator.head.psi(features).squeeze(1)  # psi(phi(x))
        embedding = discriminator.head.embed.weight[labels]  # embed(y)
        expected = psi + (embedding * features).sum(1)
        assert torch.allclose(discriminator(x, labels), expected, atol=1e-5)
    convs = [m for m in discriminator.modules() if isinstance(m, nn.Conv2d)]
    assert all(hasattr(m, "parametrizations") for m in convs), "spectral norm on every convolution"
    assert not any(isinstance(m, nn.BatchNorm2d) for m in discriminator.modules())


def test_biggan_is_spectrally_normalised_and_orthogonally_initialised():
    generator, discriminator = build("biggan")
    for model in (generator, discriminator):
        layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        assert layers and all(hasattr(m, "parametrizations") for m in layers)
    # orthogonal init: the raw weight matrix has orthonormal rows (or columns), so W W^T = I
    raw = generator.blocks[0].conv1.parametrizations.weight.original.detach().flatten(1)  # (C_out, C_in * 9)
    assert torch.allclose(raw @ raw.T, torch.eye(len(raw)), atol=1e-4)
    # conditional BatchNorm: gain and bias come from [shared embedding, z chunk]
    norm = generator.blocks[0].norm1
    assert norm.gain.in_features == 64 + generator.z_sizes[1]
    assert sum(generator.z_sizes) == generator.latent_dim and len(generator.z_sizes) == len(generator.blocks) + 1


def test_truncated_noise_stays_within_the_threshold_and_shrinks_the_spread():
    z_tight = truncated_noise(4000, 16, truncation=0.5, seed=0)
    z_wide = truncated_noise(4000, 16, truncation=2.0, seed=0)
    assert z_tight.shape == (4000, 16) and z_tight.dtype == torch.float32
    assert z_tight.abs().max() <= 0.5 and z_wide.abs().max() <= 2.0
    assert z_wide.abs().max() > 1.9, "values near the threshold occur: resampled, not scaled down"
    assert z_tight.std() < z_wide.std() < 1.0
    # a normal truncated to [-t, t] resamples out-of-range values: the std of N(0,1) | [-0.5, 0.5] is 0.2859
    assert abs(z_tight.std().item() - 0.2859) < 0.01
    assert torch.equal(truncated_noise(8, 4, 1.0, seed=3), truncated_noise(8, 4, 1.0, seed=3))
    assert not torch.equal(truncated_noise(8, 4, 1.0, seed=3), truncated_noise(8, 4, 1.0, seed=4))
    with pytest.raises(ValueError, match=r"truncation must be a positive threshold.*got 0"):
        truncated_noise(2, 4, truncation=0)


@pytest.fixture(scope="module")
def phantoms():
    from medgan_nb.data import load_dataset

    return load_dataset("phantom", size=32, n=256, seed=0)


@pytest.mark.parametrize("name, loss", [("cgan", "bce"), ("projection", "hinge"), ("biggan", "hinge")])
def test_a_short_training_run_through_the_engine(phantoms, name, loss):
    generator, discriminator = build(name)
    assert int(phantoms.labels.max()) < NUM_CLASSES
    z = torch.randn(14, generator.latent_dim)
    labels = torch.arange(14) % NUM_CLASSES
    before = sample_images(generator, z, labels)
    result = train_gan(generator, discriminator, phantoms,
                       TrainConfig(steps=30, batch_size=16, loss=loss, progress=False, seed=0))
    assert len(result.history) == 30
    assert all(math.isfinite(v) for v in result.history["loss_d"] + result.history["loss_g"])
    after = sample_images(generator, z, labels)
    assert (after - before).abs().mean() > 0.01, "training must change the generated samples"
    assert after.min() >= -1 and after.max() <= 1


@pytest.mark.parametrize("name", BUILDERS)
def test_the_engine_refuses_missing_or_out_of_range_labels_for_a_conditional_family(name):
    generator, discriminator = build(name)
    images = torch.rand(16, 3, 32, 32) * 2 - 1
    config = TrainConfig(steps=1, batch_size=8, progress=False)
    with pytest.raises(ValueError, match=r"forward takes class labels \(or masks\) but none were given; pass a "
                                         r"dataset with \.labels"):
        train_gan(generator, discriminator, images, config)  # a plain tensor carries no labels
    labels = torch.arange(16) % NUM_CLASSES
    labels[5] = 9  # one image labelled with a class the model does not have
    with pytest.raises(ValueError, match=rf"label 9 is outside the classes of {type(generator).__name__} "
                                         r"\(0\.\.6, num_classes=7\); build the model with num_classes=10"):
        train_gan(generator, discriminator, images, config, labels=labels)


def test_labels_for_an_unconditional_model_and_none_for_a_conditional_one_are_clear_errors():
    from medgan_nb.models import build_family

    dcgan, dcgan_critic = build_family("dcgan", image_size=32, budget="smoke")
    conditional, conditional_critic = build("cgan")
    labels = torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match="labels were given to DCGANGenerator, an unconditional generator.*drop labels"):
        sample_images(dcgan, torch.randn(4, dcgan.latent_dim), labels)
    with pytest.raises(ValueError, match=r"ConditionalGenerator is conditional: pass labels=\.\.\."):
        sample_images(conditional, torch.randn(4, conditional.latent_dim))
    with pytest.raises(ValueError, match="takes a condition but DCGANGenerator does not; pair a conditional"):
        train_gan(dcgan, conditional_critic, torch.zeros(8, 3, 32, 32), TrainConfig(steps=1, batch_size=4, progress=False))
    with pytest.raises(ValueError, match=r"unknown GAN family 'cgan2'; known families: .*cgan, projection, biggan"):
        build_family("cgan2", image_size=32, budget="smoke")


@pytest.mark.slow
def test_a_cgan_learns_to_draw_the_requested_class_on_an_easy_problem():
    """Three classes told apart by colour alone: after 600 steps the samples of each class have its colour."""
    from medgan_nb.experiments.conditional import sample_classes
    from medgan_nb.models import build_family
    from medgan_nb.train import family_config

    colours = torch.tensor([[0.8, -0.6, -0.6], [-0.6, 0.8, -0.6], [-0.6, -0.6, 0.8]])  # red, green, blue
    labels = torch.arange(3).repeat(64)
    noise = 0.15 * torch.randn(len(labels), 3, 32, 32, generator=torch.Generator().manual_seed(0))
    images = (colours[labels][:, :, None, None] + noise).clamp(-1, 1)
    torch.manual_seed(0)
    generator, discriminator = build_family("cgan", image_size=32, budget="smoke", num_classes=3)
    train_gan(generator, discriminator, images, family_config("cgan", steps=600, batch_size=16, seed=0, progress=False),
              labels=labels)
    samples, requested = sample_classes(generator, 3, 20, seed=1)
    judged = torch.cdist(samples.mean(dim=(2, 3)), colours).argmin(dim=1)  # the nearest class colour
    accuracy = (judged == requested).float().mean().item()
    assert accuracy > 0.8, f"accuracy {accuracy:.2f} (chance 0.33): the label does not steer the generator"


# ----------------------------------------------------------------------------
# AC-GAN's auxiliary classifier (class_head=True, TrainConfig.class_weight)
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["projection", "biggan"])
def test_the_class_head_reads_the_image_only_and_leaves_the_score_unchanged(name):
    torch.manual_seed(0)
    generator, discriminator = BUILDERS[name](image_size=32, num_classes=NUM_CLASSES, width=8, class_head=True)
    torch.manual_seed(0)
    _, plain = BUILDERS[name](image_size=32, num_classes=NUM_CLASSES, width=8)
    assert discriminator.class_head and not plain.class_head
    discriminator.eval()  # spectral norm's power iteration stands still: the same weights at every call
    x = torch.rand(6, 3, 32, 32) * 2 - 1
    labels, other = torch.tensor([0, 1, 2, 3, 4, 5]), torch.tensor([6, 5, 4, 3, 2, 1])
    logits, classes = discriminator(x, labels, classes=True)
    assert logits.shape == (6,) and classes.shape == (6, NUM_CLASSES)
    assert torch.allclose(logits, discriminator(x, labels))  # the head adds an output, not a change of D(x, y)
    assert torch.equal(classes, discriminator(x, other, classes=True)[1])  # C(phi(x)) never sees the label
    assert not torch.allclose(classes, discriminator(x.flip(0), labels, classes=True)[1])  # it does see the image
    with pytest.raises(ValueError, match=r"has no class head: build it with class_head=True"):
        plain(x, labels, classes=True)


def test_class_weight_without_a_class_head_or_class_labels_is_a_clear_error():
    from medgan_nb.models import build_family

    images, labels = torch.rand(16, 3, 32, 32) * 2 - 1, torch.arange(16) % NUM_CLASSES
    config = TrainConfig(steps=1, batch_size=8, progress=False, class_weight=1.0)
    generator, discriminator = build("projection")
    with pytest.raises(ValueError, match=r"ProjectionDiscriminator has none: build it with class_head=True"):
        train_gan(generator, discriminator, images, config, labels=labels)
    spade, spade_critic = build_family("spade", image_size=32, budget="smoke")
    with pytest.raises(ValueError, match=r"trains an auxiliary classifier on class labels, but this run has masks"):
        train_gan(spade, spade_critic, images, config, labels=torch.rand(16, 1, 32, 32) > 0.5)
    with pytest.raises(ValueError, match=r"class_weight must be >= 0"):
        train_gan(generator, discriminator, images, TrainConfig(steps=1, batch_size=8, class_weight=-1.0), labels=labels)


@pytest.mark.parametrize("name", ["projection", "biggan"])
def test_the_class_terms_are_recorded_and_the_head_learns_the_real_classes(name):
    """On the colour problem D's class head learns the real classes: its CE on real images falls well below log 3."""
    from medgan_nb.models import build_family
    from medgan_nb.train import family_config

    images, labels = _colour_problem()
    torch.manual_seed(0)
    generator, discriminator = build_family(name, image_size=32, budget="smoke", num_classes=3, class_head=True)
    result = train_gan(generator, discriminator, images, family_config(name, steps=60, batch_size=16, seed=0,
                       progress=False, class_weight=1.0), labels=labels)
    real_ce, fake_ce = result.history["class_ce_real"], result.history["class_ce_fake"]
    assert len(real_ce) == len(fake_ce) == len(result.history["loss_d"])
    start, end = real_ce[0], sum(real_ce[-10:]) / 10  # the untrained head guesses: CE near log 3 = 1.10
    assert start > 0.8 and end < 0.3 * math.log(3), f"class CE on real images {start:.3f} -> {end:.3f}"


def _colour_problem(n_per_class: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Three classes told apart by colour alone (red, green, blue), 32 px, with pixel noise."""
    colours = torch.tensor([[0.8, -0.6, -0.6], [-0.6, 0.8, -0.6], [-0.6, -0.6, 0.8]])
    labels = torch.arange(3).repeat(n_per_class)
    noise = 0.15 * torch.randn(len(labels), 3, 32, 32, generator=torch.Generator().manual_seed(seed))
    return (colours[labels][:, :, None, None] + noise).clamp(-1, 1), labels


def test_within_class_distance_is_zero_for_copies_and_the_pixel_distance_otherwise():
    from medgan_nb.experiments.conditional import within_class_distance

    images = torch.zeros(4, 3, 2, 2)
    images[1] = 0.5  # class 0: two images 0.5 apart in every one of 12 values -> distance sqrt(12 * 0.25) = sqrt(3)
    labels = torch.tensor([0, 0, 1, 1])  # class 1: two identical images -> 0
    assert within_class_distance(images, labels, 2) == pytest.approx((math.sqrt(3) + 0) / 2)
    assert within_class_distance(images, torch.tensor([0, 0, 1, 2]), 3) == pytest.approx(math.sqrt(3))  # singletons out
    with pytest.raises(ValueError, match="at least two images of one class"):
        within_class_distance(images, torch.tensor([0, 1, 2, 3]), 4)

"""Notebook 06's experiment code (medgan_nb.experiments.translation) on tiny models and phantoms: what it measures,
what it saves, and the clear errors on bad masks, pairs and images."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from medgan_nb.data import load_dataset
from medgan_nb.data.sources import LesionDataset
from medgan_nb import viz
from medgan_nb.experiments import translation as tr
from medgan_nb.metrics.fid import sample_generator
from medgan_nb.metrics.morphology import dice_score
from medgan_nb.models import build_family
from medgan_nb.models.spade import build_spade
from medgan_nb.models.translation import build_pix2pix
from medgan_nb.train import TrainConfig


@pytest.fixture(scope="module")
def phantom():
    return load_dataset("phantom", size=32, n=64, seed=0, progress=False)


@pytest.fixture(scope="module")
def hair_pairs():
    return tr.render_hair_pairs(24, 32, seed=3)


def tiny_spade(seed: int = 0):
    torch.manual_seed(seed)
    return build_spade(32, width=4, latent_dim=8, hidden=8)[0]


def tiny_pix2pix(seed: int = 0):
    torch.manual_seed(seed)
    return build_pix2pix(32, source_channels=1, width=4)[0]


# ---------------------------------------------------------------------------- masks and settings

def test_dataset_masks_prefers_the_datasets_own_masks(phantom):
    masks, source = tr.dataset_masks(phantom)
    assert source == "the dataset's masks"
    assert masks.dtype == torch.bool and torch.equal(masks, phantom.masks)


def test_dataset_masks_falls_back_to_otsu_and_says_so(phantom):
    no_masks = LesionDataset(phantom.images[:8], phantom.labels[:8], phantom.class_names)
    masks, source = tr.dataset_masks(no_masks)
    assert "Otsu" in source and masks.shape == (8, 32, 32) and masks.dtype == torch.bool
    # Otsu finds the phantom's lesions: the fallback masks overlap the true ones
    assert dice_score(masks.numpy(), phantom.masks[:8].numpy()).mean() > 0.5


def test_translation_config_carries_the_family_hooks_and_the_run_settings():
    config = tr.translation_config("pix2pix", 32, steps=7, batch_size=5, seed=3, device="cpu")
    assert isinstance(config, TrainConfig)
    assert (config.steps, config.batch_size, config.seed, config.loss) == (7, 5, 3, "lsgan")
    assert config.generator_loss is not None  # the L1 hook
    assert tr.translation_config("spade", 32, steps=7, batch_size=5, seed=3, device="cpu").generator_loss is None


def test_loss_trend_means_of_first_and_last_values():
    first, last = tr.loss_trend({"loss_l1": list(range(50))}, "loss_l1")
    assert (first, last) == (np.mean(range(10)), np.mean(range(40, 50)))  # a fifth of 50: 10 values each end
    assert tr.loss_trend({"x": [4.0, 2.0]}, "x") == (4.0, 2.0)
    with pytest.raises(ValueError, match=r"the history has no 'loss_cycle' values; train at least one step"):
        tr.loss_trend({"loss_cycle": []}, "loss_cycle")


# ---------------------------------------------------------------------------- one mask, several lesions

def test_samples_per_mask_spade_varies_with_z_pix2pix_only_with_dropout(phantom):
    masks = phantom.masks[:3, None].float()
    spade = tr.samples_per_mask(tiny_spade(), masks, 4, seed=1)
    assert spade.shape == (3, 4, 3, 32, 32) and spade.abs().max() <= 1
    assert tr.sample_diversity(spade) > 1e-3
    pix2pix = tiny_pix2pix()
    plain = tr.samples_per_mask(pix2pix, masks, 4, seed=1)
    assert tr.sample_diversity(plain) == 0.0  # evaluation mode: G(m) is a function of m
    noisy = tr.samples_per_mask(pix2pix, masks, 4, seed=1, dropout=True)
    assert tr.sample_diversity(noisy) > 0.0
    assert pix2pix.training  # the mode is restored (a fresh model is in training mode)
    again = tr.samples_per_mask(pix2pix, masks, 4, seed=1, dropout=True)
    assert torch.equal(noisy, again)  # seeded: the dropout draws repeat


def test_samples_per_mask_rejects_masks_without_the_channel_axis(phantom):
    with pytest.raises(ValueError, match=r"expects masks of shape \(N, 1, 32, 32\), got \(12, 32, 32\)"):
        tr.samples_per_mask(tiny_spade(), phantom.masks[:3].float(), 4)


# ---------------------------------------------------------------------------- mask Dice

def test_mask_dice_is_high_on_real_pairs_and_low_on_shuffled_ones(phantom):
    real = tr.mask_dice(phantom.images, phantom.masks)
    assert real.shape == (len(phantom.images),) and ((0 <= real) & (real <= 1)).all()
    shuffled = tr.mask_dice(phantom.images, phantom.masks.roll(1, dims=0))
    assert real.mean() > 0.5 and real.mean() > shuffled.mean() + 0.2
    # the generators' condition (N, 1, S, S) float gives the same numbers
    assert np.allclose(tr.mask_dice(phantom.images, phantom.masks[:, None].float()), real)


def test_mask_dice_bad_inputs_are_clear_errors(phantom):
    with pytest.raises(ValueError, match=r"8 images but 7 masks: give exactly one mask per image"):
        tr.mask_dice(phantom.images[:8], phantom.masks[:7])
    with pytest.raises(ValueError, match=r"masks must have shape \(N, S, S\) or \(N, 1, S, S\), got \(8, 3, 32, 32\)"):
        tr.mask_dice(phantom.images[:8], phantom.masks[:8, None].expand(8, 3, 32, 32))
    with pytest.raises(ValueError, match=r"images are 32x32 but masks 16x16; load both at one size"):
        tr.mask_dice(phantom.images[:8], phantom.masks[:8, ::2, ::2])


def test_dice_verdict_names_the_judgement():
    assert "about as well as real images" in tr.dice_verdict("spade", 0.66, 0.7)
    assert "at least as well as real images do (its lesions are easier to segment)" in tr.dice_verdict("p", 0.9, 0.7)
    assert "only partly" in tr.dice_verdict("spade", 0.5, 0.7)
    assert "largely ignores" in tr.dice_verdict("pix2pix", 0.1, 0.7)
    assert "(94%)" in tr.dice_verdict("spade", 0.66, 0.7)


# ---------------------------------------------------------------------------- synthetic pairs

def test_synthetic_pairs_round_trip_from_a_generator(phantom, tmp_path):
    generator = tiny_spade()
    path = tr.save_synthetic_pairs(generator, phantom.masks[:10], tmp_path, seed=2)
    assert path == tmp_path / tr.PAIRS_FILE and not list(tmp_path.glob("*.tmp"))
    with np.load(path) as stored:
        assert stored["images"].dtype == np.uint8 and stored["images"].shape == (10, 32, 32, 3)
        assert stored["masks"].dtype == bool and np.array_equal(stored["masks"], phantom.masks[:10].numpy())
    pairs = tr.load_synthetic_pairs(path)
    assert len(pairs) == 10 and pairs.images.shape == (10, 3, 32, 32) and pairs.masks.dtype == torch.bool
    # the images are the generator's draws for these masks (seeded), up to 8-bit rounding
    expected = sample_generator(generator, 10, seed=2, labels=phantom.masks[:10, None].float())
    assert (pairs.images - expected).abs().max() <= 1 / 127.5 + 1e-6


def test_synthetic_pairs_from_images_keep_each_mask_with_its_image(phantom, tmp_path):
    path = tr.save_synthetic_pairs(phantom.images[:6], phantom.masks[:6, None].float(), tmp_path, file_name="p.npz")
    pairs = tr.load_synthetic_pairs(path)
    assert torch.equal(pairs.masks, phantom.masks[:6])
    assert np.allclose(tr.mask_dice(pairs.images, pairs.masks), tr.mask_dice(phantom.images[:6], phantom.masks[:6]))


def test_synthetic_pairs_bad_inputs_are_clear_errors(phantom, tmp_path):
    masks = phantom.masks[:4]
    with pytest.raises(ValueError, match=r"5 images but 4 masks: give exactly one mask per image"):
        tr.save_synthetic_pairs(phantom.images[:5], masks, tmp_path)
    with pytest.raises(ValueError, match=r"masks must be binary.*got values 0, 0.5.*masks > 0.5"):
        tr.save_synthetic_pairs(phantom.images[:4], masks.float() * 0.5, tmp_path)
    with pytest.raises(ValueError, match=r"masks are 16x16 but the generator makes 32x32 images.*size=32"):
        tr.save_synthetic_pairs(tiny_spade(), masks[:, ::2, ::2], tmp_path)
    with pytest.raises(ValueError, match=r"masks must have shape \(N, S, S\) or \(N, 1, S, S\), got \(4, 2, 32, 32\)"):
        tr.save_synthetic_pairs(phantom.images[:4], torch.stack([masks, masks], 1), tmp_path)
    with pytest.raises(ValueError, match=r"images must have shape \(N, 3, S, S\), got \(4, 1, 32, 32\)"):
        tr.save_synthetic_pairs(phantom.images[:4, :1], masks, tmp_path)
    assert not list(tmp_path.iterdir()), "a failed save must leave nothing behind"


def test_a_failed_write_leaves_no_partial_file(phantom, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(tr.np, "savez_compressed", broken)
    with pytest.raises(OSError, match="disk full"):
        tr.save_synthetic_pairs(phantom.images[:4], phantom.masks[:4], tmp_path)
    assert not list(tmp_path.iterdir())


def test_loading_pairs_names_the_missing_file_or_keys(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no synthetic pairs at .*nothing.npz; write them with save_synthetic"):
        tr.load_synthetic_pairs(tmp_path / "nothing.npz")
    np.savez(tmp_path / "other.npz", images=np.zeros((2, 8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match=r"lacks \['masks'\]; it was not written by save_synthetic_pairs"):
        tr.load_synthetic_pairs(tmp_path / "other.npz")


# ---------------------------------------------------------------------------- paired phantoms and hair removal

def test_hair_pairs_differ_only_by_the_hairs(hair_pairs):
    a, b = hair_pairs.a, hair_pairs.b
    assert a.shape == b.shape and len(a) == len(hair_pairs.masks) > 0
    changed = (a - b).abs().amax(dim=1) > 0.02  # pixels where the hairy rendering differs
    assert changed.flatten(1).any(1).all(), "every kept pair must show a hair"
    assert changed.float().mean() < 0.35  # hairs cover a share of the image, not all of it
    assert (a - b)[changed[:, None].expand_as(a)].mean() < 0  # and hairs are darker than what they cover
    train, test = hair_pairs.split(n_test=5)
    assert len(test.a) == 5 and len(train.a) == len(a) - 5 and torch.equal(test.b, b[-5:])


def test_skin_tone_pairs_share_the_lesion_and_differ_in_skin():
    tone = tr.render_skin_tone_pairs(8, 32, seed=4)
    outside = ~tone.masks[:, None].expand_as(tone.a)
    assert tone.a[outside].mean() > tone.b[outside].mean() + 0.3  # type I skin is much lighter than type VI
    assert tr.mask_dice(tone.a, tone.masks).mean() > 0.5  # the one mask fits the light rendering


def test_dullrazor_beats_doing_nothing_against_the_true_hair_free_image(hair_pairs):
    cleaned = tr.dullrazor(hair_pairs.a)
    assert cleaned.shape == hair_pairs.a.shape and cleaned.abs().max() <= 1
    identity = tr.restoration_scores(hair_pairs.a, hair_pairs.b)
    razor = tr.restoration_scores(cleaned, hair_pairs.b)
    assert razor["psnr"].mean() > identity["psnr"].mean() + 1.0
    assert razor["ssim"].mean() > identity["ssim"].mean()


def test_restoration_scores_known_values():
    truth = torch.zeros(3, 3, 16, 16)
    exact = tr.restoration_scores(truth, truth)
    assert np.allclose(exact["psnr"], 100.0) and np.allclose(exact["ssim"], 1.0)  # an exact copy: capped, perfect
    # a uniform error of 10 grey levels: PSNR = 10 log10(255^2 / 10^2)
    truth_u8 = np.full((2, 16, 16, 3), 100, np.uint8)
    shifted = tr.restoration_scores(truth_u8 + 10, truth_u8)
    assert np.allclose(shifted["psnr"], 10 * np.log10(255 ** 2 / 100))
    with pytest.raises(ValueError, match=r"differ in shape; give one true image per restored image"):
        tr.restoration_scores(torch.zeros(3, 3, 16, 16), torch.zeros(2, 3, 16, 16))


# ---------------------------------------------------------------------------- figures

def test_figures_have_titles_and_labelled_axes(phantom, hair_pairs):
    import matplotlib.pyplot as plt

    dice_figure = tr.plot_dice({"real": np.array([0.7, 0.8]), "spade": np.array([0.5, 0.6])})
    axis = dice_figure.axes[0]
    assert axis.get_title() and axis.get_ylabel() and axis.get_xlabel()
    scores = {"identity": tr.restoration_scores(hair_pairs.a[:4], hair_pairs.b[:4])}
    score_figure = tr.plot_restoration_scores(scores)
    assert all(ax.get_ylabel() and ax.get_title() for ax in score_figure.axes)
    rows = viz.plot_image_rows({"a": hair_pairs.a, "b": hair_pairs.b}, n=4, title="rows",
                              outline_masks=hair_pairs.masks)
    assert rows._suptitle.get_text() == "rows" and len(rows.axes) == 8
    model = build_family("pix2pix", 32, budget="smoke")[0]
    per_mask = tr.samples_per_mask(model, phantom.masks[:2, None].float(), 2)
    grid = tr.plot_samples_per_mask(phantom.masks[:2], {"pix2pix": per_mask})
    assert len(grid.axes) == 2 * 3
    plt.close("all")


# ---------------------------------------------------------------------------- attention-gated hair removal

def test_gain_verdict_names_a_winner_only_beyond_two_standard_errors():
    base = np.linspace(20.0, 24.0, 40)
    scores = {"nothing": {"psnr": base}, "clear": {"psnr": base + 3.0 + 0.1 * np.sin(np.arange(40))},
              "noise": {"psnr": base + np.where(np.arange(40) % 2 == 0, 1.0, -1.0)},
              "worse": {"psnr": base - 2.0 + 0.1 * np.cos(np.arange(40))}}
    assert tr.gain_verdict(scores, "clear", "nothing").startswith("clear beats nothing: +3.0")
    assert "no clear difference at this budget" in tr.gain_verdict(scores, "noise", "nothing")
    assert tr.gain_verdict(scores, "worse", "nothing").startswith("worse is worse than nothing: -2.0")


def test_hair_pixels_and_attention_verdict_find_a_map_that_lies_on_the_hairs(hair_pairs):
    hair = tr.hair_pixels(hair_pairs.a, hair_pairs.b)
    assert hair.shape == hair_pairs.masks.shape and 0 < hair.float().mean() < 0.35
    assert not tr.hair_pixels(hair_pairs.b, hair_pairs.b).any()
    on_hair = hair.float() * 0.9 + 0.05  # a map that found the hairs
    flat = torch.full_like(on_hair, 0.3)  # a map that did not
    found, none = tr.attention_on_hair(on_hair, hair), tr.attention_on_hair(flat, hair)
    assert found == pytest.approx({"on_hair": 0.95, "elsewhere": 0.05, "gap": 0.9, "gap_se": 0.0}, abs=1e-6)
    verdict = tr.attention_verdict({"found": found, "flat": none})
    assert "found: the attention found the hairs (0.95 on the hairs vs 0.05 elsewhere, gap +0.90" in verdict
    assert "flat: the attention is not clearly on the hairs (0.30 on the hairs vs 0.30 elsewhere" in verdict
    with pytest.raises(ValueError, match="needs images with hair pixels and other pixels"):
        tr.attention_on_hair(flat, torch.zeros_like(hair))
    picture = tr.as_picture(on_hair)
    assert picture.shape == (len(hair), 3, *hair.shape[1:]) and picture.min() >= -1 and picture.max() <= 1


def test_attention_maps_come_from_the_gated_generator_and_hair_metrics_key_every_method(hair_pairs):
    torch.manual_seed(0)
    generator, _ = build_family("cyclegan", 32, budget="smoke", **tr.HAIR_BUILD)
    maps = tr.attention_maps(generator, hair_pairs.a)
    _, gate = generator.g_ab.content_and_attention(hair_pairs.a)
    assert maps.shape == hair_pairs.masks.shape and torch.allclose(maps, gate[:, 0].detach())
    assert generator.training  # the mode is restored
    scores = {name: tr.restoration_scores(images, hair_pairs.b) for name, images in
              {"identity (hairy input)": hair_pairs.a, "CycleGAN": hair_pairs.b * 0.9}.items()}
    values = tr.hair_section_metrics(scores, {"your run": tr.attention_on_hair(maps, tr.hair_pixels(hair_pairs.a,
                                                                                                    hair_pairs.b))})
    assert values["hair_reference_loaded"] is False and "cyclegan_reference_psnr" not in values
    assert values["cyclegan_psnr_gain"] == pytest.approx(values["cyclegan_psnr"] - values["identity_psnr"])
    assert values["cyclegan_psnr_gain_se"] > 0 and 0 <= values["cyclegan_attention_on_hair"] <= 1
    plain, _ = build_family("cyclegan", 32, budget="smoke")
    with pytest.raises(ValueError, match="built without attention"):
        tr.attention_maps(plain, hair_pairs.a)


def test_the_hair_config_lightens_the_cycle_term():
    config = tr.hair_config(32, steps=10, batch_size=4, seed=0, device="cpu")
    assert config.generator_loss.__qualname__ == "cycle_loss(weight_cycle=1.0, weight_identity=0.5)"
    assert config.loss == "lsgan" and config.steps == 10


@pytest.mark.parametrize("name", [tr.HAIR_REFERENCE, tr.TONE_REFERENCE])
def test_a_translation_reference_is_loaded_at_its_size_only(name):
    generator, card, line = tr.translation_reference(name, 64)
    assert generator is None and card["build"]["image_size"] == 32
    assert line.startswith(f"no reference for this run: {name} was trained on the phantom at 32 px and this run is "
                           "phantom at 64 px")
    generator, card, line = tr.translation_reference(name, 32)
    assert generator is not None and not generator.training and line.startswith(f"loaded the reference {name}: ")
    assert ("attention-gated" in line) == bool(card["build"].get("attention"))

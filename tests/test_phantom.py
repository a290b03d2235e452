"""Tests of the DermSynth phantom: API, determinism, realism figures, truthful attributes, learnability."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.color import rgb2gray
from skimage.filters import threshold_otsu

from medgan_nb.data.phantom import (
    CLASS_NAMES,
    DISPLAY_NAMES,
    HAM10000_COUNTS,
    PhantomBatch,
    PhantomConfig,
    render_phantoms,
)

ARTEFACT_KEYS = ("has_hair", "has_ruler", "has_bubbles", "has_vignette", "has_glints")
NV, MEL = CLASS_NAMES.index("nv"), CLASS_NAMES.index("mel")


@pytest.fixture(scope="module")
def clean64() -> PhantomBatch:
    """Return 700 artefact-free phantoms at 64 px (uniform priors)."""
    return render_phantoms(700, size=64, seed=1, config=PhantomConfig.clean())


@pytest.fixture(scope="module")
def many28() -> PhantomBatch:
    """Return 2000 default phantoms at 28 px, for frequencies."""
    return render_phantoms(2000, size=28, seed=2)


def otsu_dice(batch: PhantomBatch) -> np.ndarray:
    """Return per-image Dice of Otsu's threshold (darker side = lesion) against the true mask."""
    scores = []
    for image, mask in zip(batch.images, batch.masks):
        grey = rgb2gray(image)
        lesion = grey <= threshold_otsu(grey)
        scores.append(2 * (lesion & mask).sum() / (lesion.sum() + mask.sum()))
    return np.array(scores)


# --- API ---------------------------------------------------------------------------------


def test_class_names_follow_dermamnist_label_order():
    assert CLASS_NAMES == ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
    assert DISPLAY_NAMES == tuple(f"{name}-like" for name in CLASS_NAMES)


def test_batch_fields_shapes_and_types():
    batch = render_phantoms(10, size=48, seed=0)
    assert len(batch) == 10
    assert batch.images.shape == (10, 48, 48, 3) and batch.images.dtype == np.uint8
    assert batch.masks.shape == (10, 48, 48) and batch.masks.dtype == bool
    assert batch.labels.shape == (10,) and batch.labels.dtype == np.int64
    assert batch.class_names == DISPLAY_NAMES
    expected = {"area_fraction", "asymmetry", "border_irregularity", "n_colours", "skin_tone", *ARTEFACT_KEYS}
    assert expected <= set(batch.attributes)
    for key, values in batch.attributes.items():
        assert values.shape == (10,), key
    tensor = batch.to_tensor()
    assert tensor.shape == (10, 3, 48, 48) and tensor.dtype == torch.float32
    assert -1.0 <= tensor.min() and tensor.max() <= 1.0
    assert torch.allclose((tensor[0].permute(1, 2, 0) + 1) * 127.5, torch.from_numpy(batch.images[0]).float(), atol=1e-3)


def test_empty_batch_is_allowed():
    batch = render_phantoms(0, size=32)
    assert len(batch) == 0 and batch.images.shape == (0, 32, 32, 3)


def test_forced_labels_are_used():
    labels = [6, 0, 4, 4, 5]
    batch = render_phantoms(5, size=32, seed=3, labels=labels)
    assert batch.labels.tolist() == labels


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(n=-1), "n must"),
        (dict(n=2.5), "n must"),
        (dict(n=2, size=27), "size must"),
        (dict(n=2, size=257), "size must"),
        (dict(n=2, size=64.0), "size must"),
        (dict(n=2, seed=-3), "seed must"),
        (dict(n=2, start=-1), "start must"),
        (dict(n=2, labels=[0, 7]), "labels must"),
        (dict(n=2, labels=[0]), "labels must"),
        (dict(n=2, config="clean"), "config must"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, words):
    with pytest.raises(ValueError, match=words):
        render_phantoms(**kwargs)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(class_priors="imagenet"), "unknown class_priors"),
        (dict(class_priors=(1, 2, 3)), "class_priors must"),
        (dict(class_priors=(0,) * 7), "class_priors must"),
        (dict(skin_tones=(0, 6)), "skin_tones"),
        (dict(skin_tones=(5, 2)), "skin_tones"),
        (dict(vignette_probability=1.5), "vignette_probability"),
    ],
)
def test_bad_config_raises_clear_errors(kwargs, words):
    with pytest.raises(ValueError, match=words):
        PhantomConfig(**kwargs)


def test_clean_config_switches_every_artefact_off():
    clean = PhantomConfig.clean()
    assert not (clean.hairs or clean.ruler or clean.bubbles or clean.vignette or clean.glints)
    assert not clean.artefacts and PhantomConfig().artefacts
    batch = render_phantoms(300, size=32, seed=4, config=clean)
    for key in ARTEFACT_KEYS:
        assert not batch.attributes[key].any(), key


# --- determinism -------------------------------------------------------------------------


def test_same_seed_same_bytes_and_other_seed_differs():
    first = render_phantoms(20, size=40, seed=9)
    again = render_phantoms(20, size=40, seed=9)
    other = render_phantoms(20, size=40, seed=10)
    assert first.images.tobytes() == again.images.tobytes()
    assert (first.masks == again.masks).all() and (first.labels == again.labels).all()
    assert (first.images != other.images).mean() > 0.5


@pytest.mark.parametrize("chunks", [(25, 25, 25, 25), (1, 70, 29)])
def test_chunked_rendering_equals_one_call(chunks):
    whole = render_phantoms(100, size=64, seed=5)
    starts = np.cumsum((0,) + chunks[:-1])
    parts = [render_phantoms(count, size=64, seed=5, start=int(first)) for first, count in zip(starts, chunks)]
    assert np.concatenate([p.images for p in parts]).tobytes() == whole.images.tobytes()
    assert (np.concatenate([p.masks for p in parts]) == whole.masks).all()
    assert (np.concatenate([p.labels for p in parts]) == whole.labels).all()
    for key, values in whole.attributes.items():
        np.testing.assert_array_equal(np.concatenate([p.attributes[key] for p in parts]), values, err_msg=key)


@pytest.mark.parametrize("size", [28, 33, 64, 100, 128, 256])
def test_supported_sizes_render_a_lesion(size):
    batch = render_phantoms(6, size=size, seed=6, config=PhantomConfig.clean())
    assert batch.images.shape == (6, size, size, 3)
    assert (batch.masks.mean(axis=(1, 2)) > 0.01).all()
    assert np.allclose(batch.attributes["area_fraction"], batch.masks.mean(axis=(1, 2)), atol=1e-6)


def test_attributes_do_not_depend_much_on_size():
    small = render_phantoms(60, size=32, seed=8, config=PhantomConfig.clean())
    large = render_phantoms(60, size=128, seed=8, config=PhantomConfig.clean())
    assert (small.labels == large.labels).all()
    np.testing.assert_allclose(small.attributes["asymmetry"], large.attributes["asymmetry"])
    assert np.abs(small.attributes["area_fraction"] - large.attributes["area_fraction"]).mean() < 0.02


# --- priors, tones and artefact frequencies --------------------------------------------------


def test_ham10000_priors_follow_the_dataset_imbalance():
    batch = render_phantoms(3000, size=28, seed=7, config=PhantomConfig.clean(class_priors="ham10000"))
    counts = np.bincount(batch.labels, minlength=7) / 3000
    total = sum(HAM10000_COUNTS.values())
    for label, name in enumerate(CLASS_NAMES):
        expected = HAM10000_COUNTS[name] / total
        assert abs(counts[label] - expected) < 4 * np.sqrt(expected * (1 - expected) / 3000) + 0.005, name


def test_uniform_priors_give_every_class(many28):
    counts = np.bincount(many28.labels, minlength=7) / len(many28)
    assert np.all(np.abs(counts - 1 / 7) < 0.035)


def test_skin_tones_span_all_types_weighted_to_light(many28):
    tones = many28.attributes["skin_tone"]
    assert set(np.unique(tones)) == {1, 2, 3, 4, 5, 6}
    assert (tones <= 3).mean() > 0.7
    # darker type means darker skin: median outside-lesion brightness falls with the type
    brightness = np.array([img[~m].mean() if (~m).any() else np.nan for img, m in zip(many28.images, many28.masks)])
    medians = [np.nanmedian(brightness[tones == t]) for t in range(1, 7)]
    assert all(a > b for a, b in zip(medians, medians[1:])), medians


def test_skin_tone_range_is_respected():
    batch = render_phantoms(200, size=28, seed=3, config=PhantomConfig(skin_tones=(5, 6)))
    assert set(np.unique(batch.attributes["skin_tone"])) <= {5, 6}


def test_artefact_frequencies_match_the_config(many28):
    config = PhantomConfig()
    n = len(many28)
    for key, p in [("has_vignette", config.vignette_probability), ("has_ruler", config.ruler_probability),
                   ("has_bubbles", config.bubble_probability), ("has_glints", config.glint_probability)]:
        rate = many28.attributes[key].mean()
        assert abs(rate - p) < 4 * np.sqrt(p * (1 - p) / n), (key, rate, p)
    assert 0.08 < config.vignette_probability < 0.18  # HAM10000: about 13%
    hair = many28.attributes["has_hair"].mean()
    assert 0.5 * config.hair_probability < hair <= config.hair_probability + 0.04


def test_artefacts_only_change_the_images_that_report_them():
    dirty = render_phantoms(300, size=48, seed=12)
    clean = render_phantoms(300, size=48, seed=12, config=PhantomConfig.clean())
    assert (dirty.masks == clean.masks).all()
    changed = (dirty.images != clean.images).reshape(300, -1).any(axis=1)
    flagged = np.any([dirty.attributes[key] for key in ARTEFACT_KEYS], axis=0)
    assert not changed[~flagged].any()
    assert changed[flagged].mean() > 0.95


def test_vignette_darkens_the_corners(many28):
    corners = many28.images[:, [0, 0, -1, -1], [0, -1, 0, -1]].mean(axis=(1, 2))
    vignette = many28.attributes["has_vignette"]
    assert np.median(corners[vignette]) < 0.4 * np.median(corners[~vignette])


def test_lesions_touch_the_border_about_as_often_as_in_ham10000(many28):
    assert 0.10 < many28.attributes["touches_border"].mean() < 0.30  # HAM10000: 18%


# --- realism: colours and sizes ------------------------------------------------------------


def _lesion_and_skin_means(batch: PhantomBatch) -> tuple[np.ndarray, np.ndarray]:
    lesion = np.array([img[m].mean(axis=0) for img, m in zip(batch.images, batch.masks)])
    skin = np.array([img[~m].mean(axis=0) if (~m).any() else np.full(3, np.nan) for img, m in zip(batch.images, batch.masks)])
    return lesion, skin


def test_skin_is_pinkish_and_lesions_darker_in_green_and_blue(clean64):
    lesion, skin = _lesion_and_skin_means(clean64)
    light = clean64.attributes["skin_tone"] <= 2
    r, g, b = np.nanmedian(skin[light], axis=0)
    assert r > b > g, (r, g, b)
    assert 170 < r < 235  # HAM10000 median skin: 199, 157, 164
    ratio = np.nanmedian(lesion / skin, axis=0)
    assert ratio[1] < ratio[0] and ratio[2] < ratio[0]  # darkening mainly in G and B


def test_lesion_is_darker_than_skin_on_every_tone(clean64):
    grey = np.array([rgb2gray(img) for img in clean64.images])
    lesion = np.array([g[m].mean() for g, m in zip(grey, clean64.masks)])
    skin = np.array([g[~m].mean() if (~m).any() else 1.0 for g, m in zip(grey, clean64.masks)])
    assert (lesion < skin).mean() > 0.97
    dark = clean64.attributes["skin_tone"] >= 5
    assert dark.sum() >= 10 and (lesion[dark] < skin[dark]).mean() > 0.9


def test_class_colour_cues(clean64):
    lesion, skin = _lesion_and_skin_means(clean64)
    ratio = lesion / skin
    by_class = {name: np.nanmedian(ratio[clean64.labels == k], axis=0) for k, name in enumerate(CLASS_NAMES)}
    grey = {name: v @ np.array([0.2125, 0.7154, 0.0721]) for name, v in by_class.items()}
    assert grey["mel"] == min(grey.values())                          # melanoma-like darkest
    assert grey["akiec"] > grey["nv"] and grey["bcc"] > grey["nv"]     # pinkish lesions are lighter
    blue_over_green = {name: v[2] / v[1] for name, v in by_class.items()}
    assert blue_over_green["vasc"] > blue_over_green["nv"] + 0.1      # purple-red: high blue for its green
    assert by_class["bkl"] @ np.ones(3) > by_class["nv"] @ np.ones(3)  # keratosis-like lighter than nevus-like


def test_area_fractions_follow_ham10000_medians(clean64):
    ham_median = {"akiec": 0.40, "bcc": 0.23, "bkl": 0.27, "df": 0.28, "mel": 0.31, "nv": 0.23, "vasc": 0.10}
    area = clean64.attributes["area_fraction"]
    medians = {name: np.median(area[clean64.labels == k]) for k, name in enumerate(CLASS_NAMES)}
    for name, target in ham_median.items():
        assert 0.6 * target < medians[name] < 1.4 * target, (name, medians[name])
    assert medians["vasc"] == min(medians.values())
    assert medians["mel"] > medians["nv"]


def test_lesion_and_skin_colours_stay_near_ham10000_medians(clean64):
    # HAM10000 medians of the per-image mean RGB inside the lesion and of the surrounding skin
    ham_lesion = {"akiec": (195, 136, 141), "bcc": (191, 139, 147), "bkl": (167, 120, 121), "df": (196, 131, 137),
                  "mel": (159, 103, 101), "nv": (177, 92, 90), "vasc": (171, 81, 115), "all": (180, 120, 123)}
    ham_skin = {"akiec": (201, 157, 162), "bcc": (198, 163, 171), "bkl": (182, 149, 159), "df": (203, 161, 167),
                "mel": (190, 158, 167), "nv": (215, 151, 159), "vasc": (205, 161, 170), "all": (199, 157, 164)}
    lesion, skin = _lesion_and_skin_means(clean64)
    groups = {name: clean64.labels == k for k, name in enumerate(CLASS_NAMES)}
    groups["all"] = np.ones(len(clean64), bool)
    for name, chosen in groups.items():
        lesion_gap = np.abs(np.nanmedian(lesion[chosen], axis=0) - ham_lesion[name])
        skin_gap = np.abs(np.nanmedian(skin[chosen], axis=0) - ham_skin[name])
        lesion_bound, skin_bound = (20, 10) if name == "all" else (30, 20)
        assert (lesion_gap <= lesion_bound).all(), (name, "lesion", lesion_gap)
        assert (skin_gap <= skin_bound).all(), (name, "skin", skin_gap)


# --- attributes are truthful -----------------------------------------------------------------


def test_area_fraction_equals_mask_mean(clean64):
    np.testing.assert_allclose(clean64.attributes["area_fraction"], clean64.masks.mean(axis=(1, 2)), atol=1e-6)


def test_melanoma_like_exceeds_nevus_like_on_abcd_attributes(clean64):
    mel, nv = clean64.labels == MEL, clean64.labels == NV
    for key in ("area_fraction", "asymmetry", "border_irregularity", "n_colours"):
        values = clean64.attributes[key]
        assert np.median(values[mel]) > np.median(values[nv]), key
    colours = clean64.attributes["n_colours"]
    assert (colours[nv] <= 2).mean() > 0.9 and (colours[mel] >= 3).mean() > 0.8


def pixel_mirror_asymmetry(mask: np.ndarray) -> float:
    """Return |M xor M'| / (2|M|) averaged over mirrors about the two principal axes, measured on pixels."""
    ys, xs = np.nonzero(mask)
    cy, cx = ys.mean(), xs.mean()
    dy, dx = ys - cy, xs - cx
    axis = 0.5 * np.arctan2(2 * (dx * dy).mean(), (dx * dx).mean() - (dy * dy).mean())
    parts = []
    for angle in (axis, axis + np.pi / 2):
        c, s = np.cos(2 * angle), np.sin(2 * angle)          # reflection matrix [[c, s], [s, -c]]
        my = np.rint(cy + s * dx - c * dy).astype(int)
        mx = np.rint(cx + c * dx + s * dy).astype(int)
        inside = (my >= 0) & (my < mask.shape[0]) & (mx >= 0) & (mx < mask.shape[1])
        hits = np.zeros(len(ys), bool)
        hits[inside] = mask[my[inside], mx[inside]]
        parts.append((~hits).mean())                          # |M \ M'| / |M| = |M xor M'| / (2|M|)
    return float(np.mean(parts))


def test_asymmetry_and_irregularity_are_shape_measures():
    batch = render_phantoms(150, size=128, seed=13, config=PhantomConfig.clean())
    asymmetry, irregularity = batch.attributes["asymmetry"], batch.attributes["border_irregularity"]
    assert (asymmetry >= 0).all() and (asymmetry < 0.6).all()
    assert (irregularity >= 1.0 - 1e-4).all()  # P^2 / (4 pi A) is 1 only for a circle
    inside = ~batch.attributes["touches_border"]
    measured = np.array([pixel_mirror_asymmetry(m) for m in batch.masks[inside]])
    rank = lambda v: np.argsort(np.argsort(v))  # noqa: E731 - Spearman = Pearson on ranks
    correlation = np.corrcoef(rank(asymmetry[inside]), rank(measured))[0, 1]
    assert correlation > 0.7, correlation
    assert np.abs(measured - asymmetry[inside]).mean() < 0.05


def test_colour_count_is_between_one_and_six(clean64):
    colours = clean64.attributes["n_colours"]
    assert colours.min() >= 1 and colours.max() <= 6


# --- segmentation difficulty and learnability ---------------------------------------------------


def test_otsu_segmentation_matches_masks_without_artefacts(clean64):
    dice = otsu_dice(render_phantoms(200, size=64, seed=21, config=PhantomConfig.clean()))
    assert dice.mean() >= 0.8, dice.mean()


def test_artefacts_make_segmentation_harder_but_similar_to_real_data():
    clean = otsu_dice(render_phantoms(200, size=64, seed=21, config=PhantomConfig.clean()))
    dirty = otsu_dice(render_phantoms(200, size=64, seed=21))
    assert dirty.mean() < clean.mean()
    assert 0.55 < dirty.mean() < 0.9  # real HAM10000: 0.69


@pytest.mark.slow
def test_small_cnn_learns_the_classes():
    torch.manual_seed(0)
    train = render_phantoms(2000, size=32, seed=11)
    test = render_phantoms(1000, size=32, seed=11, start=2000)
    x_train, y_train = train.to_tensor(), torch.from_numpy(train.labels)
    x_test, y_test = test.to_tensor(), torch.from_numpy(test.labels)

    def block(c_in: int, c_out: int) -> torch.nn.Module:
        return torch.nn.Sequential(torch.nn.Conv2d(c_in, c_out, 3, padding=1), torch.nn.BatchNorm2d(c_out),
                                   torch.nn.ReLU(), torch.nn.MaxPool2d(2))

    model = torch.nn.Sequential(block(3, 16), block(16, 32), block(32, 64), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten(), torch.nn.Linear(64, 7))
    epochs, batch_size = 5, 64
    steps = len(x_train) // batch_size
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=5e-3, total_steps=epochs * steps)
    generator = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        for step in range(steps):
            rows = order[step * batch_size:(step + 1) * batch_size]
            flip = torch.rand(len(rows), 1, 1, 1, generator=generator) < 0.5
            images = torch.where(flip, x_train[rows].flip(3), x_train[rows])
            loss = torch.nn.functional.cross_entropy(model(images), y_train[rows])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(x_test).argmax(dim=1) == y_test).float().mean().item()
    print(f"phantom classifier accuracy: {accuracy:.3f}")
    assert accuracy >= 0.8, accuracy
    assert accuracy < 0.995  # not trivially separable

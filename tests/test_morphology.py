"""Threshold segmentation and Dice on hand-made images whose answer is known."""
import numpy as np
import pytest

from medgan_nb.metrics.morphology import dice_score, region_means, segment_lesion, segment_lesions


def _disc_image(size=48, radius=12, skin=(200, 150, 160), lesion=(120, 70, 60)):
    yy, xx = np.mgrid[:size, :size]
    mask = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < radius**2
    img = np.empty((size, size, 3), np.uint8)
    img[:] = skin
    img[mask] = lesion
    return img, mask


def test_dark_disc_is_segmented_exactly():
    img, mask = _disc_image()
    assert dice_score(segment_lesion(img), mask)[0] == pytest.approx(1.0)


def test_largest_blob_is_kept_and_speck_dropped():
    img, mask = _disc_image()
    img[2:4, 2:4] = (10, 10, 10)  # a dark speck in the corner, not the lesion
    pred = segment_lesion(img)
    assert not pred[2:4, 2:4].any() and dice_score(pred, mask)[0] > 0.99


def test_dice_values():
    a = np.zeros((1, 4, 4), bool)
    b = a.copy()
    a[0, :2] = True
    b[0, 1:3] = True
    assert dice_score(a, b)[0] == pytest.approx(0.5)
    assert dice_score(np.zeros((2, 3, 3)), np.zeros((2, 3, 3))).tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="shapes differ"):
        dice_score(np.zeros((3, 3)), np.zeros((4, 4)))


def test_region_means_separate_lesion_from_skin():
    img, mask = _disc_image()
    inside, outside = region_means(img[None], mask[None])
    assert np.allclose(inside[0], (120, 70, 60)) and np.allclose(outside[0], (200, 150, 160))


def test_batch_from_float_tensor():
    torch = pytest.importorskip("torch")
    img, mask = _disc_image()
    tensor = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 127.5 - 1
    assert dice_score(segment_lesions(tensor), mask[None])[0] > 0.99


# ---------------------------------------------------------------------------
# Morphology fidelity: attributes measured from pixels, compared by 1-D Wasserstein
# ---------------------------------------------------------------------------

from medgan_nb.metrics.morphology import (  # noqa: E402
    COLOUR_PROTOTYPES,
    MORPHOLOGY_ATTRIBUTES,
    count_colours,
    lesion_attributes,
    morphology_distance,
)


def _ellipse_image(size=64, a=20, b=10, lesion=(100, 55, 35), skin=(225, 180, 170)):
    yy, xx = np.mgrid[:size, :size]
    mask = ((xx - size / 2) / a) ** 2 + ((yy - size / 2) / b) ** 2 < 1
    img = np.empty((size, size, 3), np.uint8)
    img[:] = skin
    img[mask] = lesion
    return img, mask


def test_measured_area_tracks_the_phantom_ground_truth():
    from medgan_nb.data import PhantomConfig, load_dataset

    data = load_dataset("phantom", size=64, split="all", n=300, seed=0, progress=False, cache=False,
                        config=PhantomConfig.clean())
    measured = lesion_attributes(data.images)["area"]
    truth = data.metadata["area_fraction"].to_numpy()
    ok = np.isfinite(measured)
    assert ok.mean() > 0.95
    assert np.corrcoef(measured[ok], truth[ok])[0, 1] >= 0.8


def test_eccentricity_and_border_irregularity_have_their_closed_forms():
    ellipse, _ = _ellipse_image(a=20, b=10)
    disc, _ = _ellipse_image(a=14, b=14)
    values = lesion_attributes(np.stack([ellipse, disc]))
    assert values["eccentricity"][0] == pytest.approx(np.sqrt(1 - (10 / 20) ** 2), abs=0.03)  # sqrt(1 - b^2/a^2)
    assert values["eccentricity"][1] < 0.15
    assert values["area"][1] == pytest.approx(np.pi * 14**2 / 64**2, rel=0.05)
    assert 0.8 < values["border_irregularity"][1] < 1.2  # a disc: P^2 / (4 pi A) = 1
    # a ragged star-shaped lesion has a much longer border for its area
    yy, xx = np.mgrid[:64, :64]
    angle, radius = np.arctan2(yy - 32, xx - 32), np.hypot(yy - 32, xx - 32)
    star = radius < 14 * (1 + 0.45 * np.sin(9 * angle))
    img = np.full((64, 64, 3), (225, 180, 170), np.uint8)
    img[star] = (100, 55, 35)
    assert lesion_attributes(img[None])["border_irregularity"][0] > 1.5 * values["border_irregularity"][1]


def test_colour_count_sees_each_dermoscopic_colour():
    img, mask = _ellipse_image(lesion=COLOUR_PROTOTYPES["dark_brown"])
    assert count_colours(img, mask) == 1
    img[:, 32:][mask[:, 32:]] = COLOUR_PROTOTYPES["blue_grey"]  # the right half becomes blue-grey
    assert count_colours(img, mask) == 2
    img[30:34][mask[30:34]] = COLOUR_PROTOTYPES["black"]  # a thin band, still over 5% of the lesion
    assert count_colours(img, mask) == 3
    assert count_colours(img, np.zeros_like(mask)) == 0


def test_morphology_distance_is_zero_for_equal_sets_and_the_shift_for_shifted_ones():
    rng = np.random.default_rng(0)
    real = {name: rng.normal(1, 0.2, 200) for name in MORPHOLOGY_ATTRIBUTES}
    assert morphology_distance(real, real)["mean_scaled"] == pytest.approx(0, abs=1e-12)
    shifted = {**real, "area": real["area"] + 0.3}  # W1(X, X + c) = c
    result = morphology_distance(real, shifted)
    assert result["area"] == pytest.approx(0.3)
    assert result["area_scaled"] == pytest.approx(0.3 / real["area"].std())
    assert result["mean_scaled"] == pytest.approx(result["area_scaled"] / 4)
    with_nan = {**real, "area": np.r_[real["area"], np.nan]}  # images without a lesion are left out
    assert morphology_distance(real, with_nan)["area"] == pytest.approx(0, abs=1e-12)


def test_morphology_bad_input_names_the_fix():
    img, mask = _ellipse_image()
    with pytest.raises(ValueError, match=r"masks have shape .* masks=None to segment"):
        lesion_attributes(img[None], masks=mask[None, :10])
    real = {name: np.ones(5) for name in MORPHOLOGY_ATTRIBUTES}
    with pytest.raises(ValueError, match="attribute 'n_colours' is missing"):
        morphology_distance(real, {k: v for k, v in real.items() if k != "n_colours"})
    with pytest.raises(ValueError, match=r"area: only 5 real and 1 generated .* at least 2"):
        morphology_distance(real, {**real, "area": np.array([0.1, np.nan])})
    flat = np.full((2, 32, 32, 3), 128, np.uint8)  # no lesion at all: NaN, not a made-up number
    assert np.isnan(lesion_attributes(flat)["area"]).all()

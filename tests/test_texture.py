"""Tests of the texture figures (medgan_nb.metrics.texture) and of the DermSynth phantom's texture against HAM10000."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ndtr
from skimage.transform import resize

from medgan_nb.data.phantom import CLASS_NAMES, PhantomConfig, render_phantoms
from medgan_nb.metrics.texture import (
    HAM10000_TEXTURE,
    TEXTURE_FIGURES,
    border_profile,
    border_width,
    compare_with_ham10000,
    cooccurrence_figures,
    power_spectrum_slope,
    texture_figures,
    texture_table,
)

SIX = ("psd_slope", "border_width", "glcm_contrast", "glcm_homog", "grad_lesion", "std_lesion")


def power_law_field(size: int, beta: float, seed: int = 0) -> np.ndarray:
    """Return a random field whose power spectrum falls as |f|^beta (white noise shaped in Fourier space)."""
    rng = np.random.default_rng(seed)
    frequency = np.fft.fftfreq(size) * size
    radius = np.hypot(frequency[:, None], frequency[None, :])
    radius[0, 0] = 1.0
    spectrum = np.fft.fft2(rng.standard_normal((size, size))) * radius ** (beta / 2)
    return np.real(np.fft.ifft2(spectrum))


def blurred_step(size: int, sigma: float, low: float = 0.3, high: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """Return (grey, mask): a vertical edge between columns size/2-1 and size/2, blurred by a Gaussian of ``sigma`` px."""
    edge = size / 2 - 0.5                                      # the mask edge in pixel-centre coordinates
    columns = np.arange(size) - edge
    profile = low + (high - low) * (ndtr(columns / sigma) if sigma > 0 else (columns > 0).astype(float))
    grey = np.tile(profile, (size, 1))
    mask = np.tile(columns < 0, (size, 1))                     # lesion (dark) on the left
    return grey, mask


# --- the measuring functions on images with known answers ------------------------------------


@pytest.mark.parametrize("beta", [0.0, -2.0, -3.0])
def test_power_spectrum_slope_recovers_a_power_law(beta):
    slopes = [power_spectrum_slope(power_law_field(64, beta, seed)) for seed in range(8)]
    assert abs(np.median(slopes) - beta) < 0.15, slopes


def test_power_spectrum_slope_rejects_bands_beyond_nyquist():
    with pytest.raises(ValueError, match="Nyquist"):
        power_spectrum_slope(np.zeros((32, 32)))               # 24 cycles do not fit in 32 px
    with pytest.raises(ValueError, match="square grey image"):
        power_spectrum_slope(np.zeros((64, 32)))


@pytest.mark.parametrize("sigma", [1.0, 1.5, 2.0])
def test_border_width_of_a_blurred_step_is_its_10_90_rise(sigma):
    grey, mask = blurred_step(64, sigma)
    expected = 2 * 1.2816 * sigma                              # 10-90% of a Gaussian CDF: 2 z_0.9 sigma
    # the profile is sampled on rings 1 px apart and interpolated linearly: off by up to ~0.2 px
    assert border_width(grey, mask) == pytest.approx(expected, abs=0.25)


def test_border_width_of_a_hard_edge_is_under_one_pixel_and_undefined_without_a_rise():
    grey, mask = blurred_step(64, 0.0)
    assert border_width(grey, mask) == pytest.approx(0.8)     # rings 1 px apart: 0.1 -> 0.9 of one step
    assert np.isnan(border_width(1.0 - grey, mask))            # lesion brighter than skin: no rise
    assert np.isnan(border_width(grey, np.zeros_like(mask)))   # no lesion: no edge
    centres, profile = border_profile(grey, mask)
    assert centres[0] == -5.5 and centres[-1] == 5.5 and len(profile) == 12


def test_border_profile_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        border_profile(np.zeros((8, 8)), np.zeros((8, 9), bool))


def test_cooccurrence_of_flat_and_striped_images():
    mask = np.zeros((16, 16), bool)
    mask[4:12, 4:12] = True
    contrast, homogeneity = cooccurrence_figures(np.full((16, 16), 0.5), mask)
    assert contrast == 0.0 and homogeneity == 1.0
    stripes = np.tile([0.0, 1.0], (16, 8))                     # neighbours along x differ by all 31 levels
    contrast, homogeneity = cooccurrence_figures(stripes, mask)
    assert contrast == pytest.approx(3 * 31**2 / 4)            # 0, 45 and 135 degrees jump; 90 degrees does not
    assert homogeneity == pytest.approx((1 + 3 / (1 + 31**2)) / 4)


def test_region_figures_of_a_ramp():
    slope = 0.01
    grey = np.tile(np.arange(64) * slope, (64, 1))
    image = np.repeat(grey[..., None], 3, axis=2)              # grey RGB in 0..1: rgb2gray keeps it
    mask = np.zeros((64, 64), bool)
    mask[16:48, 16:48] = True
    figures = texture_figures(image, mask)
    assert set(figures) == set(TEXTURE_FIGURES)
    # skimage's sobel is sqrt((G_x^2 + G_y^2) / 2) with G = 2 * slope for a ramp
    assert figures["grad_lesion"] == pytest.approx(np.sqrt(2) * slope, rel=1e-6)
    assert figures["std_lesion"] == pytest.approx(np.arange(18, 46).std() * slope, rel=1e-6)


def test_texture_functions_reject_bad_shapes():
    with pytest.raises(ValueError, match="RGB image"):
        texture_figures(np.zeros((8, 8, 4)), np.zeros((8, 8), bool))
    with pytest.raises(ValueError, match="mask shape"):
        texture_figures(np.zeros((64, 64, 3)), np.zeros((32, 32), bool))
    with pytest.raises(ValueError, match="texture_table needs"):
        texture_table(np.zeros((2, 64, 64)), np.zeros((2, 64, 64), bool), [0, 1], CLASS_NAMES)
    with pytest.raises(ValueError, match="labels must lie"):
        texture_table(np.zeros((1, 64, 64, 3), np.uint8), np.ones((1, 64, 64), bool), [7], CLASS_NAMES)


def test_compare_with_ham10000_gives_ratios():
    table = {"all": dict(HAM10000_TEXTURE["all"], glcm_contrast=2 * HAM10000_TEXTURE["all"]["glcm_contrast"])}
    rows = {row["figure"]: row for row in compare_with_ham10000(table)}
    assert set(rows) == set(HAM10000_TEXTURE["all"])
    assert rows["glcm_contrast"]["ratio"] == pytest.approx(2.0)
    assert rows["psd_slope"]["ratio"] == pytest.approx(1.0)


# --- the phantom against real HAM10000 ---------------------------------------------------------


@pytest.fixture(scope="module")
def phantom_table() -> dict[str, dict[str, float]]:
    """Return the texture table of 700 default phantoms at 64 px (100 per class on average)."""
    batch = render_phantoms(700, size=64, seed=5)
    return texture_table(batch.images, batch.masks, batch.labels, CLASS_NAMES)


@pytest.mark.parametrize("figure", SIX)
def test_phantom_texture_matches_ham10000_for_all_classes(phantom_table, figure):
    measured, real = phantom_table["all"][figure], HAM10000_TEXTURE["all"][figure]
    assert abs(measured / real - 1) <= 0.20, (figure, measured, real)


@pytest.mark.parametrize("name", CLASS_NAMES)
def test_phantom_texture_matches_ham10000_per_class(phantom_table, name):
    off = {figure: round(phantom_table[name][figure] / HAM10000_TEXTURE[name][figure], 2) for figure in SIX
           if abs(phantom_table[name][figure] / HAM10000_TEXTURE[name][figure] - 1) > 0.35}
    assert not off, f"{name}: phantom / real ratios outside 0.65-1.35: {off}"


def test_phantom_skin_texture_matches_ham10000(phantom_table):
    for figure in ("grad_skin", "std_skin"):
        assert abs(phantom_table["all"][figure] / HAM10000_TEXTURE["all"][figure] - 1) <= 0.20, figure


def test_phantom_texture_is_the_same_at_every_size():
    # blur widths scale with the image: rendered at 128 px and resized to 64 px the way the real images
    # were, the phantoms have about the figures of the same phantoms rendered at 64 px
    at_64 = render_phantoms(210, size=64, seed=6)
    at_128 = render_phantoms(210, size=128, seed=6)
    images = np.stack([(resize(image, (64, 64), order=1, anti_aliasing=True) * 255).round().astype(np.uint8)
                       for image in at_128.images])
    masks = np.stack([resize(mask, (64, 64), order=0, anti_aliasing=False) for mask in at_128.masks])
    small = texture_table(at_64.images, at_64.masks, at_64.labels, CLASS_NAMES)["all"]
    large = texture_table(images, masks, at_128.labels, CLASS_NAMES)["all"]
    for figure in SIX:
        assert abs(large[figure] / small[figure] - 1) <= 0.2, (figure, small[figure], large[figure])


def test_soft_edge_is_half_way_where_the_mask_ends():
    # the mask is drawn at the 50% point of the soft edge: grey half-way between lesion and skin there
    batch = render_phantoms(140, size=64, seed=8, config=PhantomConfig.clean())
    rises = []
    for image, mask in zip(batch.images, batch.masks):
        centres, profile = border_profile(image.mean(axis=2), mask)
        if np.isnan(profile).any() or profile[-1] - profile[0] < 20:
            continue
        rise = (profile - profile[0]) / (profile[-1] - profile[0])
        rises.append(np.interp(0.0, centres, rise))            # between the rings at -0.5 and +0.5 px
    assert len(rises) > 50
    assert 0.35 < np.median(rises) < 0.65, np.median(rises)

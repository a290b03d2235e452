"""Preprocessing: centre crop, [-1, 1] tensors, hair removal and Shades-of-Grey colour constancy."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from medgan_nb.data.phantom import PhantomConfig, render_phantoms
from medgan_nb.data.transforms import (
    center_crop_box,
    from_tensor,
    hair_mask,
    remove_hair,
    resize_and_center_crop,
    shades_of_grey,
    to_tensor_minus1_1,
)


def three_stripes(height: int = 100, width: int = 200) -> np.ndarray:
    """Red | green | blue vertical bands; the green band is the centre square."""
    image = np.zeros((height, width, 3), np.uint8)
    side = (width - height) // 2
    image[:, :side] = (255, 0, 0)
    image[:, side : side + height] = (0, 255, 0)
    image[:, side + height :] = (0, 0, 255)
    return image


def skin_patch(size: int = 96, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0, 3, (size, size, 3)) + (205, 155, 145), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------
# geometry
# ----------------------------------------------------------------------------

def test_center_crop_keeps_the_centre_of_a_wide_image():
    out = resize_and_center_crop(three_stripes(), 64)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    # Only the green centre survives (a 1-2 px Lanczos fringe at most).
    assert out[:, 2:-2, 1].min() > 240 and out[:, 2:-2, [0, 2]].max() < 15


def test_center_crop_of_a_tall_image_and_a_rectangular_target():
    tall = np.ascontiguousarray(three_stripes().transpose(1, 0, 2))  # 200 high, 100 wide
    out = resize_and_center_crop(tall, (40, 20))
    assert out.shape == (20, 40, 3)
    assert center_crop_box(600, 450, 64) == (75.0, 0.0, 525.0, 450.0)
    assert center_crop_box(600, 450, (600, 450)) == (0.0, 0.0, 600.0, 450.0)


def test_center_crop_accepts_pil_and_keeps_masks_binary():
    picture = resize_and_center_crop(Image.fromarray(three_stripes()), 32)
    assert isinstance(picture, Image.Image) and picture.size == (32, 32)
    mask = np.zeros((90, 120), bool)
    mask[30:60, 45:75] = True  # a centred 30 x 30 square
    small = resize_and_center_crop(mask, 30)
    assert small.dtype == bool and set(np.unique(small)) == {False, True}
    assert abs(small.mean() - (30 * 30) / (90 * 90)) < 0.02  # same share of the centre crop
    grey = resize_and_center_crop(np.full((50, 80, 1), 7, np.uint8), 16)
    assert grey.shape == (16, 16, 1) and (grey == 7).all()


def test_center_crop_rejects_what_it_cannot_handle():
    with pytest.raises(ValueError, match="uint8"):
        resize_and_center_crop(np.zeros((10, 10, 3), np.float32), 8)
    with pytest.raises(ValueError, match="one image"):
        resize_and_center_crop(np.zeros((2, 10, 10, 3), np.uint8), 8)
    with pytest.raises(ValueError, match="positive"):
        resize_and_center_crop(np.zeros((10, 10, 3), np.uint8), 0)


# ----------------------------------------------------------------------------
# value range
# ----------------------------------------------------------------------------

def test_tensor_round_trip_is_exact_and_in_range():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 9, 7, 3), dtype=np.uint8)
    images[0, 0, 0] = (0, 128, 255)
    tensor = to_tensor_minus1_1(images)
    assert tensor.shape == (5, 3, 9, 7) and tensor.dtype == torch.float32
    assert tensor.min() == -1.0 and tensor.max() == 1.0
    assert torch.allclose(tensor[0, :, 0, 0], torch.tensor([-1.0, 128 / 127.5 - 1, 1.0]), atol=1e-6)
    assert np.array_equal(from_tensor(tensor), images)


def test_from_tensor_clamps_and_checks_shapes():
    out = from_tensor(torch.tensor([-3.0, -1.0, 0.0, 1.0, 4.0]).view(1, 1, 1, 5))
    assert out.tolist() == [[[[0], [0], [128], [255], [255]]]]
    with pytest.raises(ValueError, match="uint8"):
        to_tensor_minus1_1(np.zeros((1, 4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="batch axis"):
        to_tensor_minus1_1(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="N, C, H, W"):
        from_tensor(torch.zeros(3, 4, 4))


# ----------------------------------------------------------------------------
# hair removal
# ----------------------------------------------------------------------------

def test_remove_hair_erases_a_dark_line_and_leaves_the_rest():
    skin = skin_patch()
    hairy = skin.copy()
    columns = np.arange(96)
    for offset in (-1, 0, 1):  # a 3 px wide dark hair across the patch
        hairy[(20 + 0.6 * columns).astype(int) + offset, columns] = (45, 35, 30)
    dot = (slice(80, 83), slice(10, 13))
    hairy[dot] = (60, 40, 35)  # a small dark dot (a globule, not a hair)
    for method in ("median", "biharmonic"):
        cleaned, hair = remove_hair(hairy, method=method, return_mask=True)
        line = np.abs(hairy.astype(int) - skin).max(axis=-1) > 60
        line[dot] = False
        assert hair[line].mean() > 0.95, "the hair was not found"
        error_before = np.abs(hairy.astype(int) - skin)[line].mean()
        error_after = np.abs(cleaned.astype(int) - skin)[line].mean()
        assert error_after < 0.1 * error_before, f"{method}: hair pixels still far from the skin"
        assert np.array_equal(cleaned[~hair], hairy[~hair]), "pixels away from the hair changed"
        assert not hair[dot].any(), "a dot is not a hair"


def test_remove_hair_on_phantoms_brings_them_close_to_the_hair_free_rendering():
    hairy = render_phantoms(5, size=96, seed=2, config=PhantomConfig.clean(hairs=True, hair_probability=1.0))
    clean = render_phantoms(5, size=96, seed=2, config=PhantomConfig.clean())
    before = after = found_before = found_after = 0.0
    for with_hair, without in zip(hairy.images, clean.images):
        cleaned = remove_hair(with_hair)
        before += np.abs(with_hair.astype(int) - without).mean()
        after += np.abs(cleaned.astype(int) - without).mean()
        found_before += hair_mask(with_hair).mean()
        found_after += hair_mask(cleaned).mean()
    assert before > 1.0, "the phantoms should differ by their hairs"
    assert after < 0.6 * before
    assert found_before > 0.01 and found_after < 0.3 * found_before


def test_remove_hair_checks_its_input():
    with pytest.raises(ValueError, match="RGB"):
        remove_hair(np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        remove_hair(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="method"):
        remove_hair(skin_patch(32), method="telea")


# ----------------------------------------------------------------------------
# colour constancy
# ----------------------------------------------------------------------------

def test_shades_of_grey_removes_a_colour_cast():
    rng = np.random.default_rng(1)
    scene = rng.uniform(60, 200, (64, 64, 3))
    scene[16:48, 16:48] *= 0.5  # a darker "lesion"
    cast = np.clip(scene * (1.0, 0.75, 0.55), 0, 255).astype(np.uint8)  # warm illuminant
    corrected = shades_of_grey(cast, p=6)
    assert corrected.dtype == np.uint8 and corrected.shape == cast.shape
    spread_before = np.ptp(cast.reshape(-1, 3).mean(axis=0))
    spread_after = np.ptp(corrected.reshape(-1, 3).mean(axis=0))
    assert spread_after < 0.2 * spread_before
    grey_world = shades_of_grey(cast, p=1).reshape(-1, 3).mean(axis=0)  # p = 1 equalises the means
    assert np.ptp(grey_world) < 1.0
    assert abs(grey_world.mean() - cast.mean()) < 2.0  # brightness kept


def test_shades_of_grey_leaves_grey_alone_and_treats_each_image_of_a_batch():
    neutral = np.full((8, 8, 3), 120, np.uint8)
    assert np.array_equal(shades_of_grey(neutral), neutral)
    batch = np.stack([np.full((8, 8, 3), (200, 100, 50), np.uint8), np.full((8, 8, 3), (50, 100, 200), np.uint8)])
    out = shades_of_grey(batch, p=np.inf)
    assert out.shape == batch.shape
    for image in out:
        assert np.ptp(image.reshape(-1, 3).mean(axis=0)) <= 1
    as_float = shades_of_grey(batch[0] / 255.0)
    assert as_float.dtype == np.float64 and np.ptp(as_float.reshape(-1, 3).mean(axis=0)) < 0.01
    with pytest.raises(ValueError, match="p must be"):
        shades_of_grey(neutral, p=0.5)
    with pytest.raises(ValueError, match="RGB"):
        shades_of_grey(np.zeros((8, 8), np.uint8))

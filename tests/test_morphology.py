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

"""Notebook 00 under the smoke profile: the data it shows is sound and preprocessing does its job."""
import numpy as np
import pytest

pytestmark = pytest.mark.notebook


@pytest.fixture(scope="module")
def metrics(notebook_runs):
    return notebook_runs("00_setup_and_data")


def test_images_are_normalised_and_shaped(metrics):
    assert -1.0 <= metrics["image_min"] < -0.2, "darkest pixels should approach -1"
    assert 0.2 < metrics["image_max"] <= 1.0, "brightest pixels should approach +1"
    assert metrics["image_shape"] == [3, 32, 32]
    assert metrics["n_train_images"] >= 100


def test_seven_classes_all_present(metrics):
    assert metrics["n_classes"] == 7
    assert metrics["class_names"][5].startswith("nv")
    assert min(metrics["class_counts_train"]) > 0


def test_ham10000_prior_is_dominated_by_nevi(metrics):
    assert 0.5 < metrics["ham10000_prior_nv_share"] < 0.85  # 6705 / 10015 = 0.67 in HAM10000


def test_skin_is_pinkish_and_lesions_darker_in_green_and_blue(metrics):
    skin = np.array(metrics["phantom_skin_rgb_median"])
    lesion = np.array(metrics["phantom_lesion_rgb_median"])
    assert skin[0] > skin[2] > skin[1], f"skin should be R > B > G like real dermoscopy, got {skin}"
    assert lesion[1] < skin[1] - 20 and lesion[2] < skin[2] - 20, f"lesion {lesion} vs skin {skin}"


def test_threshold_segmentation_matches_masks(metrics):
    assert metrics["otsu_dice_artefacts_off"] >= 0.8
    assert metrics["otsu_dice_artefacts_on"] >= 0.5
    assert metrics["otsu_dice_artefacts_off"] >= metrics["otsu_dice_artefacts_on"] - 0.02


def test_preprocessing_removes_hair_and_colour_cast(metrics):
    assert metrics["hair_share_before"] > 0.005, "the hairy phantoms should show detectable hair"
    assert metrics["hair_share_after"] < 0.5 * metrics["hair_share_before"]
    assert metrics["colour_cast_spread_after"] < 0.5 * metrics["colour_cast_spread_before"]


def test_phantom_texture_is_near_real_dermoscopy(metrics):
    texture = metrics["phantom_texture_all"]
    assert set(texture) == {"psd_slope", "border_width", "glcm_contrast", "glcm_homog", "grad_lesion", "std_lesion"}
    assert -3.6 < texture["psd_slope"] < -2.6, "real HAM10000 at 64 px: -3.1"
    assert 3.5 < texture["border_width"] < 7.0, "real lesion borders fade over about 5 px"
    # a few hundred phantoms under the smoke profile: every figure within 30% of the real median
    assert metrics["phantom_texture_largest_gap"] <= 0.3

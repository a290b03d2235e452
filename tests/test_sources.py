"""Real-data loaders and the phantom export, tested offline on phantoms written in the real file layouts."""
from __future__ import annotations

import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from medgan_nb.data import KNOWN_DATASETS, LesionDataset, load_dataset
from medgan_nb.data import sources
from medgan_nb.data.export import (
    HAM10000_MASK_FOLDER,
    HAM10000_PARTS,
    ISIC_IMAGE_FOLDER,
    ISIC_MASK_FOLDER,
    export_phantoms,
)

SMALL = (120, 90)  # a 4:3 image like HAM10000's 600 x 450, small enough to be quick


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Return a function layout -> folder with phantoms exported once in that layout (do not modify it)."""
    base = tmp_path_factory.mktemp("exported")
    made: dict[str, Path] = {}

    def get(layout: str) -> Path:
        if layout not in made:
            if layout == "dermamnist":
                root = export_phantoms(base / layout, "dermamnist", n=40, size=64, progress=False)
                export_phantoms(root, "dermamnist", n=30, size=28, seed=1, progress=False)
            elif layout == "folder":
                export_phantoms(base / layout, "folder", n=35, size=48, progress=False)
            else:
                export_phantoms(base / layout, layout, n=60, size=SMALL, progress=False)
            made[layout] = base / layout
        return made[layout]

    return get


@pytest.fixture
def copy_of(exported, tmp_path):
    """Return a function layout -> a private copy of the exported folder that a test may damage."""

    def get(layout: str) -> Path:
        return Path(shutil.copytree(exported(layout), tmp_path / layout))

    return get


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch) -> Path:
    """Point the dataset cache at an empty folder for one test."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("MEDGAN_CACHE_DIR", str(folder))
    return folder


def grey(dataset: LesionDataset) -> torch.Tensor:
    return dataset.images.mean(dim=1)


def assert_masks_cover_the_dark_lesion(dataset: LesionDataset) -> None:
    """Masks aligned with images: the lesion (a pigment that darkens the skin) is darker inside the mask."""
    assert dataset.masks is not None
    values, masks = grey(dataset), dataset.masks
    inside = torch.stack([v[m].mean() for v, m in zip(values, masks) if m.any() and (~m).any()])
    outside = torch.stack([v[~m].mean() for v, m in zip(values, masks) if m.any() and (~m).any()])
    assert len(inside) >= len(dataset) // 2
    assert (inside < outside).float().mean() > 0.9, "masks do not sit on the darker lesion pixels"


def assert_well_formed(dataset: LesionDataset, size: int) -> None:
    n = len(dataset)
    assert dataset.images.shape == (n, 3, size, size) and dataset.images.dtype == torch.float32
    assert dataset.images.min() >= -1.0 and dataset.images.max() <= 1.0
    assert dataset.images.std() > 0.05, "images look blank"
    assert dataset.labels.shape == (n,) and dataset.labels.dtype == torch.int64
    assert 0 <= int(dataset.labels.min()) and int(dataset.labels.max()) < dataset.num_classes
    assert len(dataset.metadata) == n
    if dataset.masks is not None:
        assert dataset.masks.shape == (n, size, size) and dataset.masks.dtype == torch.bool


# ----------------------------------------------------------------------------
# phantom
# ----------------------------------------------------------------------------

def test_phantom_splits_are_disjoint_ranges_that_cover_n(fresh_cache):
    parts = {s: load_dataset("phantom", size=32, split=s, n=60, progress=False) for s in ("train", "val", "test", "all")}
    for dataset in parts.values():
        assert_well_formed(dataset, 32)
    index = {s: set(parts[s].metadata["index"]) for s in ("train", "val", "test")}
    assert sum(len(v) for v in index.values()) == 60 == len(parts["all"])
    assert not (index["train"] & index["val"] or index["train"] & index["test"] or index["val"] & index["test"])
    assert 0.6 <= len(index["train"]) / 60 <= 0.8
    # "all" holds exactly the same images as the three splits (same seed, same index -> same picture).
    assert torch.equal(parts["all"].images[: len(parts["train"])], parts["train"].images)
    assert list(parts["all"].metadata["split"][:3]) == ["train"] * 3
    assert parts["train"].class_names[4].startswith("mel")
    assert_masks_cover_the_dark_lesion(parts["all"])


def test_phantom_second_load_reads_the_cache(fresh_cache, monkeypatch):
    first = load_dataset("phantom", size=32, n=30, progress=False)
    assert not first.from_cache and first.cache_path is not None and first.cache_path.is_file()
    assert first.cache_path.parent == fresh_cache

    def must_not_render(*args, **kwargs):
        raise AssertionError("rendered again although the cache holds these images")

    monkeypatch.setattr("medgan_nb.data.phantom.render_phantoms", must_not_render)
    second = load_dataset("phantom", size=32, n=30, progress=False)
    assert second.from_cache
    assert torch.equal(first.images, second.images) and torch.equal(first.labels, second.labels)
    assert torch.equal(first.masks, second.masks)
    pd.testing.assert_frame_equal(first.metadata, second.metadata)


def test_cache_false_writes_no_file(fresh_cache):
    dataset = load_dataset("phantom", size=32, n=12, cache=False, progress=False)
    assert not dataset.from_cache and dataset.cache_path is None
    assert not fresh_cache.exists() or not any(fresh_cache.iterdir())


def test_phantom_sizes_outside_the_renderers_range_are_resized(fresh_cache):
    dataset = load_dataset("phantom", size=16, split="val", n=40, progress=False)
    assert_well_formed(dataset, 16)
    assert dataset.masks.any()


def test_phantom_prior_changes_the_class_balance(fresh_cache):
    only_melanoma = (0, 0, 0, 0, 1, 0, 0)
    dataset = load_dataset("phantom", size=32, n=20, split="all", prior=only_melanoma, progress=False)
    assert set(dataset.labels.tolist()) == {4}


# ----------------------------------------------------------------------------
# ham10000
# ----------------------------------------------------------------------------

def test_ham10000_labels_metadata_and_masks(exported, fresh_cache):
    root = exported("ham10000")
    dataset = load_dataset("ham10000", root=root, size=32, split="all", progress=False)
    assert_well_formed(dataset, 32)
    assert dataset.class_names == ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
    csv = pd.read_csv(root / "HAM10000_metadata.csv")
    assert len(dataset) == len(csv) == 60
    by_id = dict(zip(csv["image_id"], csv["dx"]))
    for image_id, label in zip(dataset.metadata["image_id"], dataset.labels.tolist()):
        assert dataset.class_names[label] == by_id[image_id]
    assert {"lesion_id", "dx_type", "age", "sex", "localization", "path", "split"} <= set(dataset.metadata.columns)
    assert_masks_cover_the_dark_lesion(dataset)


def test_ham10000_split_never_separates_a_lesion(exported, fresh_cache):
    root = exported("ham10000")
    csv = pd.read_csv(root / "HAM10000_metadata.csv")
    assert (csv["lesion_id"].value_counts() >= 2).sum() >= 5, "fixture needs lesions photographed several times"
    lesions = {
        s: set(load_dataset("ham10000", root=root, size=32, split=s, progress=False).metadata["lesion_id"])
        for s in ("train", "val", "test")
    }
    assert not (lesions["train"] & lesions["val"] or lesions["train"] & lesions["test"] or lesions["val"] & lesions["test"])
    assert lesions["train"] | lesions["val"] | lesions["test"] == set(csv["lesion_id"])
    # A different seed draws a different split.
    other = load_dataset("ham10000", root=root, size=32, split="train", seed=1, progress=False)
    assert set(other.metadata["lesion_id"]) != lesions["train"]


def test_ham10000_second_load_hits_cache_and_a_changed_file_misses_it(copy_of, fresh_cache, monkeypatch):
    root = copy_of("ham10000")
    first = load_dataset("ham10000", root=root, size=32, progress=False)
    assert not first.from_cache

    def must_not_decode(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(sources.files, "_decode_image", must_not_decode)
    second = load_dataset("ham10000", root=root, size=32, progress=False)
    assert second.from_cache and torch.equal(first.images, second.images)
    pd.testing.assert_frame_equal(first.metadata, second.metadata)  # CSV columns come back exactly
    # Touching a file changes the fingerprint of root: the cache no longer applies.
    some_image = next((root / HAM10000_PARTS[0]).glob("*.jpg"))
    stat = some_image.stat()
    import os

    os.utime(some_image, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="decoded again"):
        load_dataset("ham10000", root=root, size=32, progress=False)


def test_ham10000_csv_missing_a_column_is_named(copy_of, fresh_cache):
    root = copy_of("ham10000")
    csv = pd.read_csv(root / "HAM10000_metadata.csv").drop(columns=["dx"])
    csv.to_csv(root / "HAM10000_metadata.csv", index=False)
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['dx'\]") as error:
        load_dataset("ham10000", root=root, size=32, progress=False)
    assert "lesion_id" in str(error.value) and "localization" in str(error.value)  # the expected columns


def test_ham10000_listed_image_that_is_absent_is_named(copy_of, fresh_cache):
    root = copy_of("ham10000")
    victim = sorted((root / HAM10000_PARTS[1]).glob("*.jpg"))[0]
    victim.unlink()
    with pytest.raises(FileNotFoundError, match=victim.name) as error:
        load_dataset("ham10000", root=root, size=32, progress=False)
    assert "HAM10000_images_part_2" in str(error.value)  # says how to fix it


def test_corrupt_image_is_named(copy_of, fresh_cache):
    root = copy_of("ham10000")
    victim = sorted((root / HAM10000_PARTS[0]).glob("*.jpg"))[3]
    victim.write_bytes(b"this is not a JPEG")
    with pytest.raises(ValueError, match=f"cannot decode image .*{victim.name}"):
        load_dataset("ham10000", root=root, size=32, progress=False)


def test_truncated_image_is_named(copy_of, fresh_cache):
    root = copy_of("ham10000")
    victim = sorted((root / HAM10000_PARTS[0]).glob("*.jpg"))[1]
    victim.write_bytes(victim.read_bytes()[:600])
    with pytest.raises(ValueError, match=victim.name):
        load_dataset("ham10000", root=root, size=32, progress=False)


def test_ham10000_without_masks_loads_images_only(copy_of, fresh_cache):
    root = copy_of("ham10000")
    shutil.rmtree(root / HAM10000_MASK_FOLDER)
    dataset = load_dataset("ham10000", root=root, size=32, progress=False)
    assert dataset.masks is None and len(dataset) > 0
    with pytest.raises(FileNotFoundError, match="segmentation"):
        load_dataset("ham10000", root=root, size=32, masks=True, progress=False)


def test_ham10000_corrupt_mask_is_named(copy_of, fresh_cache):
    root = copy_of("ham10000")
    victim = sorted((root / HAM10000_MASK_FOLDER).glob("*_segmentation.png"))[2]
    victim.write_bytes(b"\x89PNG but nothing after")
    with pytest.raises(ValueError, match=f"cannot decode mask .*{victim.name}") as error:
        load_dataset("ham10000", root=root, size=32, progress=False)
    assert "Download the mask again or delete it" in str(error.value)


def _edit_ham_csv(root: Path, edit) -> Path:
    """Apply ``edit`` to the exported HAM10000_metadata.csv (a DataFrame) and write it back; return its path."""
    path = root / "HAM10000_metadata.csv"
    table = pd.read_csv(path)
    edit(table)
    table.to_csv(path, index=False)
    return path


def test_ham10000_unknown_dx_code_is_named_with_its_line(copy_of, fresh_cache):
    root = copy_of("ham10000")
    path = _edit_ham_csv(root, lambda table: table.__setitem__("dx", table["dx"].where(table.index != 3, "melanoma")))
    with pytest.raises(ValueError, match=r"unknown dx value\(s\) \['melanoma'\] \(first on line 5\)") as error:
        load_dataset("ham10000", root=root, size=32, progress=False)
    text = str(error.value)
    assert str(path) in text and "akiec" in text and "vasc" in text and "Fix or drop those rows" in text


def test_ham10000_duplicate_image_id_is_named_with_its_lines(copy_of, fresh_cache):
    root = copy_of("ham10000")
    table = pd.read_csv(root / "HAM10000_metadata.csv")
    first = table["image_id"][1]

    def duplicate(frame: pd.DataFrame) -> None:
        frame.loc[4, "image_id"] = first

    path = _edit_ham_csv(root, duplicate)
    with pytest.raises(ValueError, match=f"lists image_id '{first}' more than once \\(lines 3, 6\\)") as error:
        load_dataset("ham10000", root=root, size=32, progress=False)
    assert str(path) in str(error.value) and "keep one row per image" in str(error.value)


def test_ham10000_missing_metadata_csv_says_where_to_put_it(copy_of, fresh_cache):
    root = copy_of("ham10000")
    (root / "HAM10000_metadata.csv").unlink()
    with pytest.raises(FileNotFoundError, match="no HAM10000_metadata.csv under") as error:
        load_dataset("ham10000", root=root, size=32, progress=False)
    assert str(root) in str(error.value) and "metadata_file=" in str(error.value)
    with pytest.raises(FileNotFoundError, match="metadata_file .*elsewhere.csv does not exist") as error:
        load_dataset("ham10000", root=root, size=32, metadata_file="elsewhere.csv", progress=False)
    assert str(root / "elsewhere.csv") in str(error.value) and "HAM10000_metadata.csv" in str(error.value)


@pytest.mark.parametrize(
    "content",
    [b"", b"\x89PNG\r\n\x1a\n\x00\xff\xfe binary \x00", b'lesion_id,image_id,dx\n"HAM_1,ISIC_1,nv\n'],
    ids=["empty", "binary", "unterminated-quote"],
)
def test_ham10000_unparsable_metadata_csv_is_named(copy_of, fresh_cache, content):
    root = copy_of("ham10000")
    path = root / "HAM10000_metadata.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="cannot parse .* as a CSV table") as error:
        load_dataset("ham10000", root=root, size=32, progress=False)
    assert str(path) in str(error.value) and "use the original HAM10000_metadata.csv" in str(error.value)


# ----------------------------------------------------------------------------
# isic-seg
# ----------------------------------------------------------------------------

def test_isic_seg_pairs_images_and_masks(exported, fresh_cache):
    dataset = load_dataset("isic-seg", root=exported("isic-seg"), size=48, split="all", progress=False)
    assert_well_formed(dataset, 48)
    assert dataset.class_names == ("lesion",) and int(dataset.labels.abs().sum()) == 0
    assert len(dataset) == 60
    assert_masks_cover_the_dark_lesion(dataset)


def test_isic_mask_of_another_size_but_same_aspect_is_resized_with_a_warning(copy_of, exported, fresh_cache):
    root = copy_of("isic-seg")
    reference = load_dataset("isic-seg", root=exported("isic-seg"), size=48, split="all", progress=False)
    mask_file = root / ISIC_MASK_FOLDER / "ISIC_0000005_segmentation.png"
    with Image.open(mask_file) as mask:
        mask.resize((240, 180), Image.Resampling.NEAREST).save(mask_file)  # twice the size, same 4:3
    with pytest.warns(UserWarning, match="resized"):
        dataset = load_dataset("isic-seg", root=root, size=48, split="all", progress=False)
    row = int(np.flatnonzero(dataset.metadata["image_id"] == "ISIC_0000005")[0])
    a, b = dataset.masks[row], reference.masks[row]
    assert (a & b).sum() / (a | b).sum() > 0.9


def test_isic_mask_with_another_aspect_ratio_is_refused(copy_of, fresh_cache):
    root = copy_of("isic-seg")
    mask_file = root / ISIC_MASK_FOLDER / "ISIC_0000007_segmentation.png"
    Image.new("L", (100, 100)).save(mask_file)
    with pytest.raises(ValueError, match="aspect ratios differ") as error:
        load_dataset("isic-seg", root=root, size=32, progress=False)
    text = str(error.value)
    assert "ISIC_0000007_segmentation.png" in text and "ISIC_0000007.jpg" in text
    assert "100x100" in text and "120x90" in text


def test_isic_image_without_mask_is_an_error_unless_skipped(copy_of, fresh_cache):
    root = copy_of("isic-seg")
    (root / ISIC_MASK_FOLDER / "ISIC_0000002_segmentation.png").unlink()
    with pytest.raises(FileNotFoundError, match="ISIC_0000002_segmentation.png"):
        load_dataset("isic-seg", root=root, size=32, progress=False)
    with pytest.warns(UserWarning, match="skipping 1 image"):
        dataset = load_dataset("isic-seg", root=root, size=32, split="all", missing_masks="skip", progress=False)
    assert len(dataset) == 59 and "ISIC_0000002" not in set(dataset.metadata["image_id"])


# ----------------------------------------------------------------------------
# folder
# ----------------------------------------------------------------------------

def test_folder_classes_are_sorted_subfolders_and_formats_mix(copy_of, fresh_cache):
    root = copy_of("folder")
    first_png = sorted((root / "mel").glob("*.png"))[0]
    with Image.open(first_png) as image:
        image.save(root / "mel" / "copy.bmp")
        image.convert("L").save(root / "mel" / "grey.tif")  # grey images become RGB
    (root / "mel" / "notes.txt").write_text("not an image")
    dataset = load_dataset("folder", root=root, size=32, split="all", progress=False)
    assert_well_formed(dataset, 32)
    folders = sorted(p.name for p in root.iterdir() if p.is_dir())
    assert dataset.class_names == tuple(folders)
    files = [p for p in root.rglob("*") if p.suffix in (".png", ".bmp", ".tif")]
    assert len(dataset) == len(files) == 37
    for label, path in zip(dataset.labels.tolist(), dataset.metadata["path"]):
        assert path.split("/")[0] == dataset.class_names[label]


def test_folder_empty_root_and_empty_class_are_errors(tmp_path, fresh_cache):
    with pytest.raises(ValueError, match="no class subfolders"):
        load_dataset("folder", root=tmp_path, size=32)
    (tmp_path / "nevus").mkdir()
    with pytest.raises(ValueError, match="nevus holds no images"):
        load_dataset("folder", root=tmp_path, size=32)


# ----------------------------------------------------------------------------
# dermamnist
# ----------------------------------------------------------------------------

def test_dermamnist_picks_the_smallest_file_not_smaller_than_size(exported, fresh_cache):
    root = exported("dermamnist")
    with np.load(root / "dermamnist_64.npz") as data:
        val_labels = data["val_labels"].reshape(-1)
        val_images = data["val_images"]
    exact = load_dataset("dermamnist", root=root, size=64, split="val", progress=False)
    assert_well_formed(exact, 64)
    assert set(exact.metadata["file"]) == {"dermamnist_64.npz"}
    assert exact.labels.tolist() == val_labels.tolist()
    assert np.array_equal(exact.uint8_images(), val_images)
    resized = load_dataset("dermamnist", root=root, size=32, split="val", progress=False)
    assert set(resized.metadata["file"]) == {"dermamnist_64.npz"} and resized.image_size == 32
    small = load_dataset("dermamnist", root=root, size=24, split="all", progress=False)
    assert set(small.metadata["file"]) == {"dermamnist.npz"} and len(small) == 30
    assert small.class_names[0] == "akiec" and small.class_names[6] == "vasc"


def _isolate_from_user_files(tmp_path, monkeypatch) -> None:
    """Make sure no DermaMNIST file of the user (~/.medmnist, <project>/data) is found."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("medgan_nb.data.sources.dermamnist.project_root", lambda start=None: tmp_path)


def test_dermamnist_missing_file_says_what_and_where(tmp_path, monkeypatch, fresh_cache):
    _isolate_from_user_files(tmp_path, monkeypatch)
    monkeypatch.setitem(sys.modules, "medmnist", None)  # as if not installed
    folder = tmp_path / "dermamnist"
    folder.mkdir()
    with pytest.raises(FileNotFoundError) as error:
        load_dataset("dermamnist", root=folder, size=64)
    text = str(error.value)
    assert "dermamnist_64.npz" in text and str(folder) in text and "pip install medmnist" in text


def test_dermamnist_downloads_through_medmnist_when_missing(exported, tmp_path, monkeypatch, fresh_cache):
    _isolate_from_user_files(tmp_path, monkeypatch)
    source_file = exported("dermamnist") / "dermamnist_64.npz"
    calls = []

    class FakeDermaMNIST:  # stands in for medmnist.DermaMNIST, which downloads the npz into root
        def __init__(self, split, download=False, root=None, size=None):
            calls.append({"split": split, "download": download, "root": root, "size": size})
            shutil.copy(source_file, Path(root) / "dermamnist_64.npz")

    monkeypatch.setitem(sys.modules, "medmnist", types.SimpleNamespace(DermaMNIST=FakeDermaMNIST))
    monkeypatch.setattr(sources.dermamnist, "_online", lambda *args, **kwargs: True)
    folder = tmp_path / "downloads"
    folder.mkdir()
    dataset = load_dataset("dermamnist", root=folder, size=64, split="train", progress=False)
    assert calls == [{"split": "train", "download": True, "root": str(folder), "size": 64}]
    assert (folder / "dermamnist_64.npz").is_file() and len(dataset) > 0


def _break_npz(path: Path, how: str) -> None:
    """Damage the npz at ``path``: replace it by text, cut it in half, or overwrite bytes inside its data."""
    data = path.read_bytes()
    if how == "not-a-zip":
        path.write_text("<html>404 Not Found</html>")  # what a failed download often saves
    elif how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:  # damaged member: the archive's directory is intact, an array's bytes are not
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes(64) + data[middle + 64:])


@pytest.mark.parametrize("how", ["not-a-zip", "truncated", "damaged-member"])
def test_dermamnist_damaged_file_is_named_with_the_fix(copy_of, fresh_cache, how):
    root = copy_of("dermamnist")
    path = root / "dermamnist_64.npz"
    _break_npz(path, how)
    with pytest.raises(ValueError, match="cannot read .*dermamnist_64.npz") as error:
        load_dataset("dermamnist", root=root, size=64, download=False, progress=False)
    text = str(error.value)
    assert f"delete {path} and download it again" in text
    assert "allow_pickle" not in text, "numpy's advice to unpickle an unknown file must not reach the user"


def test_dermamnist_foreign_npz_lists_the_missing_arrays(copy_of, fresh_cache):
    root = copy_of("dermamnist")
    path = root / "dermamnist_64.npz"
    np.savez(path, train_images=np.zeros((2, 64, 64, 3), np.uint8), x_train=np.zeros(2))
    with pytest.raises(ValueError, match=r"lacks the array\(s\) \['train_labels', 'val_images'") as error:
        load_dataset("dermamnist", root=root, size=64, download=False, progress=False)
    text = str(error.value)
    assert str(path) in text and "x_train" in text and "It is not DermaMNIST" in text and "download the original" in text


@pytest.mark.parametrize("bad_label", [7, 255])
def test_dermamnist_labels_outside_the_seven_classes_are_refused(copy_of, fresh_cache, bad_label):
    root = copy_of("dermamnist")
    path = root / "dermamnist_64.npz"
    with np.load(path) as data:
        arrays = {key: data[key].copy() for key in data.files}
    arrays["val_labels"][1] = bad_label
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=f"1 label\\(s\\) outside 0..6 in val_labels \\(e.g. {bad_label}\\)") as error:
        load_dataset("dermamnist", root=root, size=64, download=False, progress=False)
    text = str(error.value)
    assert str(path) in text and "akiec" in text and "download dermamnist again" in text and "dataset='folder'" in text


# ----------------------------------------------------------------------------
# bad calls
# ----------------------------------------------------------------------------

def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown dataset 'isic2019'") as error:
        load_dataset("isic2019", root=".")
    for name in KNOWN_DATASETS:
        assert name in str(error.value)


def test_root_missing_is_named(tmp_path):
    missing = tmp_path / "no_such_folder"
    for name in ("ham10000", "isic-seg", "folder", "dermamnist"):
        with pytest.raises(FileNotFoundError, match="no_such_folder"):
            load_dataset(name, root=missing)


def test_root_that_is_a_file_is_named(exported):
    a_file = exported("dermamnist") / "dermamnist_64.npz"
    for name in ("ham10000", "isic-seg", "folder", "dermamnist"):
        with pytest.raises(NotADirectoryError, match="is a file, not a folder") as error:
            load_dataset(name, root=a_file)
        assert str(a_file) in str(error.value) and "pass" in str(error.value), name
    with pytest.raises(NotADirectoryError, match=f"root='{a_file.parent}'"):  # says which folder to pass instead
        load_dataset("dermamnist", root=a_file)


def test_root_none_for_a_dataset_that_needs_files():
    for name in ("ham10000", "isic-seg", "folder"):
        with pytest.raises(ValueError, match="needs root="):
            load_dataset(name, root=None)


@pytest.mark.parametrize("size", [8, 1024, 64.5, "64", True])
def test_size_outside_the_supported_range_is_refused(size):
    with pytest.raises(ValueError, match="between 16 and 512"):
        load_dataset("phantom", size=size)


def test_bad_split_fractions_and_options_are_refused():
    with pytest.raises(ValueError, match="unknown split"):
        load_dataset("phantom", split="training")
    with pytest.raises(ValueError, match="summing to 1"):
        load_dataset("phantom", fractions=(0.8, 0.3, 0.1))
    with pytest.raises(TypeError, match="unknown option"):
        load_dataset("phantom", n_images=10)


# ----------------------------------------------------------------------------
# splits and the dataset object
# ----------------------------------------------------------------------------

def test_assign_splits_is_stratified_grouped_and_seeded():
    labels = np.repeat(np.arange(4), [200, 60, 20, 10])
    groups = np.array([f"lesion{i // 2}" for i in range(len(labels))])  # pairs share a lesion (and a label)
    names = sources.assign_splits(labels, groups, (0.7, 0.15, 0.15), seed=3)
    for group in np.unique(groups):
        assert len(set(names[groups == group])) == 1
    for label in range(4):
        share = np.mean(names[labels == label] == "train")
        assert 0.5 <= share <= 0.85, f"class {label}: train share {share:.2f}"
        assert (names[labels == label] == "test").any()
    assert np.array_equal(names, sources.assign_splits(labels, groups, seed=3))
    assert not np.array_equal(names, sources.assign_splits(labels, groups, seed=4))


def test_lesion_dataset_works_with_a_dataloader(fresh_cache):
    dataset = load_dataset("phantom", size=32, n=20, split="all", progress=False)
    images, labels = next(iter(torch.utils.data.DataLoader(dataset, batch_size=8, shuffle=False)))
    assert images.shape == (8, 3, 32, 32) and labels.shape == (8,)
    assert torch.equal(images, dataset.images[:8])
    assert sum(dataset.class_counts().values()) == 20
    assert "20 images of 32x32" in repr(dataset)


# ----------------------------------------------------------------------------
# export in the real layouts
# ----------------------------------------------------------------------------

def test_ham10000_export_has_the_real_layout(exported):
    root = exported("ham10000")
    csv = pd.read_csv(root / "HAM10000_metadata.csv")
    assert list(csv.columns) == ["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization"]
    assert csv["image_id"].str.fullmatch(r"ISIC_00\d{5}").all() and csv["image_id"].is_unique
    assert csv["lesion_id"].str.fullmatch(r"HAM_\d{7}").all()
    per_lesion = csv.groupby("lesion_id").agg(images=("image_id", "size"), dx=("dx", "nunique"))
    assert per_lesion["images"].max() in (2, 3) and (per_lesion["dx"] == 1).all()
    assert set(csv["dx"]) <= {"akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"}
    images = {p.stem: p for part in HAM10000_PARTS for p in (root / part).glob("*.jpg")}
    assert set(images) == set(csv["image_id"])
    assert all(any((root / part).iterdir()) for part in HAM10000_PARTS)
    masks = {p.name for p in (root / HAM10000_MASK_FOLDER).glob("*_segmentation.png")}
    assert masks == {f"{i}_segmentation.png" for i in csv["image_id"]}
    with Image.open(next(iter(images.values()))) as image:
        assert image.format == "JPEG" and image.size == SMALL
    with Image.open(root / HAM10000_MASK_FOLDER / sorted(masks)[0]) as mask:
        values = set(np.unique(np.asarray(mask)).tolist())
        assert mask.size == SMALL and values <= {0, 255} and len(values) == 2


def test_isic_and_dermamnist_exports_have_the_real_layout(exported):
    isic = exported("isic-seg")
    assert len(list((isic / ISIC_IMAGE_FOLDER).glob("ISIC_*.jpg"))) == 60
    assert len(list((isic / ISIC_MASK_FOLDER).glob("ISIC_*_segmentation.png"))) == 60
    with np.load(exported("dermamnist") / "dermamnist_64.npz") as data:
        assert sorted(data.files) == sorted(f"{s}_{k}" for s in ("train", "val", "test") for k in ("images", "labels"))
        assert data["train_images"].dtype == np.uint8 and data["train_images"].shape[1:] == (64, 64, 3)
        assert data["train_labels"].dtype == np.uint8 and data["train_labels"].shape[1] == 1
        assert sum(len(data[f"{s}_labels"]) for s in ("train", "val", "test")) == 40


def test_export_refuses_to_replace_files_unless_told_and_leaves_nothing_half_written(tmp_path, monkeypatch):
    root = export_phantoms(tmp_path / "isic", "isic-seg", n=6, size=(64, 48), progress=False)
    before = sorted(p.name for p in (root / ISIC_IMAGE_FOLDER).iterdir())
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export_phantoms(root, "isic-seg", n=8, size=(64, 48), progress=False)
    assert sorted(p.name for p in (root / ISIC_IMAGE_FOLDER).iterdir()) == before
    export_phantoms(root, "isic-seg", n=8, size=(64, 48), overwrite=True, progress=False)
    assert len(list((root / ISIC_IMAGE_FOLDER).iterdir())) == 8

    def disk_full(self, job):
        raise OSError("No space left on device")

    monkeypatch.setattr("medgan_nb.data.export._Writer._write_one", disk_full)
    with pytest.raises(OSError, match="No space"):
        export_phantoms(tmp_path / "broken", "folder", n=6, size=32, progress=False)
    assert not (tmp_path / "broken").exists()
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_export_checks_its_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown layout"):
        export_phantoms(tmp_path, "imagenet")
    with pytest.raises(ValueError, match="28, 64, 128, 224"):
        export_phantoms(tmp_path, "dermamnist", size=100)


def test_the_phantom_cache_key_follows_every_module_of_the_renderer(tmp_path):
    """A change to any stage of the phantom package (not only its __init__) must re-render, not reuse the cache."""
    import types

    from medgan_nb.data.sources.phantom_source import _renderer_hash

    for name, text in (("__init__.py", "x = 1\n"), ("geometry.py", "y = 2\n")):
        (tmp_path / name).write_text(text)
    fake = types.SimpleNamespace(__file__=str(tmp_path / "__init__.py"))
    before = _renderer_hash(fake)
    assert _renderer_hash(fake) == before  # stable
    (tmp_path / "geometry.py").write_text("y = 3\n")
    assert _renderer_hash(fake) != before

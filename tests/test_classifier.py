"""The small lesion classifier of medgan_nb.metrics.classifier: it learns, it counts right, it refuses bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from medgan_nb.metrics import classifier as clf


def solid_colour_images(n_per_class: int = 32, size: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two separable classes: reddish images (class 0) and bluish images (class 1), with a little noise."""
    generator = torch.Generator().manual_seed(seed)
    red = torch.tensor([0.8, -0.6, -0.6])[:, None, None]
    blue = torch.tensor([-0.6, -0.6, 0.8])[:, None, None]
    noise = lambda: 0.1 * torch.randn(n_per_class, 3, size, size, generator=generator)
    images = torch.cat([red + noise(), blue + noise()]).clamp(-1, 1)
    labels = torch.cat([torch.zeros(n_per_class), torch.ones(n_per_class)]).long()
    return images, labels


def test_classifier_learns_a_separable_problem_to_full_accuracy():
    images, labels = solid_colour_images()
    model = clf.train_classifier(images, labels, num_classes=2, epochs=15, batch_size=16, width=8, seed=0,
                                 device="cpu", progress=False)
    test_images, test_labels = solid_colour_images(seed=1)
    report = clf.evaluate_classifier(model, test_images, test_labels, num_classes=2)
    assert report.per_class.tolist() == [1.0, 1.0], report.per_class
    assert report.mean == 1.0
    assert report.counts.tolist() == [32, 32]
    assert report.confusion.tolist() == [[32, 0], [0, 32]]


def test_untrained_classifier_is_not_already_perfect():
    """The separable test above can fail: an untrained classifier does not get both classes right."""
    images, labels = solid_colour_images()
    torch.manual_seed(0)
    model = clf.LesionClassifier(num_classes=2, width=8).eval()
    report = clf.evaluate_classifier(model, images, labels, num_classes=2)
    assert report.mean < 1.0


def test_per_class_accuracy_on_known_predictions():
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2, 2, 2])
    predictions = torch.tensor([0, 0, 0, 1, 1, 0, 2, 2, 0, 0])
    accuracy = clf.per_class_accuracy(predictions, labels, num_classes=4)
    assert accuracy[:3].tolist() == [0.75, 0.5, 0.5]
    assert np.isnan(accuracy[3])  # no image of class 3: no accuracy, not zero
    matrix = clf.confusion_matrix(predictions, labels, num_classes=4)
    assert matrix[0].tolist() == [3, 1, 0, 0] and matrix[2].tolist() == [2, 0, 2, 0]
    report = clf.ClassifierReport(accuracy, np.bincount(labels.numpy(), minlength=4), matrix)
    assert report.mean == pytest.approx((0.75 + 0.5 + 0.5) / 3)  # absent classes are left out of the mean
    assert report.most_confused(["a", "b", "c", "d"]) == ("b", "a", 0.5)


def test_class_weights_favour_rare_classes_and_keep_the_loss_scale():
    labels = torch.tensor([0] * 8 + [1] * 2)
    weights = clf.class_weights(labels, num_classes=3)
    assert weights[1] == pytest.approx(4 * weights[0])
    assert weights[2] == 0  # an absent class gets no weight
    assert float((weights[labels]).sum()) == pytest.approx(len(labels))


def test_mismatched_lengths_are_refused_with_the_fix():
    images, labels = solid_colour_images(4)
    with pytest.raises(ValueError, match=r"got 8 images but labels of shape \(7,\); give one class label per image"):
        clf.train_classifier(images, labels[:7], num_classes=2, progress=False)


def test_labels_out_of_range_are_named():
    images, labels = solid_colour_images(4)
    labels[0] = 5
    with pytest.raises(ValueError, match=r"label\(s\) \[5\] outside the valid range 0..1 \(num_classes=2\)"):
        clf.train_classifier(images, labels, num_classes=2, progress=False)
    with pytest.raises(ValueError, match="predictions hold classes outside 0..1"):
        clf.per_class_accuracy(torch.tensor([0, 3]), torch.tensor([0, 1]), num_classes=2)


def test_float_labels_and_bad_settings_are_refused():
    images, labels = solid_colour_images(4)
    with pytest.raises(ValueError, match="labels must be integer class indices, got dtype torch.float32; use labels.long()"):
        clf.train_classifier(images, labels.float(), num_classes=2, progress=False)
    with pytest.raises(ValueError, match="epochs must be a positive integer, got 0"):
        clf.train_classifier(images, labels, num_classes=2, epochs=0, progress=False)
    with pytest.raises(ValueError, match="num_classes must be an integer >= 2"):
        clf.LesionClassifier(num_classes=1)
    with pytest.raises(ValueError, match=r"must have shape \(N, 3, H, W\)"):
        clf.predict(clf.LesionClassifier(2), torch.zeros(2, 1, 8, 8))

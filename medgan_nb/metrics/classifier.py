r"""A small CNN lesion classifier: do a conditional generator's labels mean what they say?

A class-conditional generator promises :math:`x \sim G(z, y)` looks like class
:math:`y`. One way to check the promise is to ask an independent judge: train a
classifier :math:`f` on *real* training images and their labels, then let it
label generated images of every class. Its per-class accuracy (recall) on the
samples of class :math:`k`,

.. math::
    \mathrm{acc}_k = \frac{\#\{i : y_i = k,\ \hat y_i = k\}}{\#\{i : y_i = k\}},
    \qquad \hat y_i = \arg\max_c f(x_i)_c,

is compared with the same number on real *held-out* images: where the two
agree, the generator draws classes the classifier recognises as well as real
ones; where the samples score lower, the class is blurred, mixed up with
another class, or ignored by the generator. (This is the idea behind the
"classification accuracy score" of Ravuri & Vinyals 2019, run the other way
round: a classifier trained on real images, tested on synthetic ones.)

The classifier is deliberately small (three strided convolutions and a linear
layer) and trained with a weighted cross-entropy,

.. math::
    L = -\frac{1}{N} \sum_i w_{y_i} \log \operatorname{softmax}(f(x_i))_{y_i},
    \qquad w_k \propto \frac{1}{n_k},

so that a class with few images (HAM10000: two thirds of the images are nevi)
is not simply never predicted. Its own short supervised loop lives here: the
GAN engine (:mod:`medgan_nb.train`) trains games, not classifiers, and metrics
must not depend on it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.functional.classification import multiclass_confusion_matrix
from tqdm.auto import tqdm

from ..models.sampling import model_device
from .features import check_images

Tensor = torch.Tensor


class LesionClassifier(nn.Module):
    """Small CNN: images (N, 3, S, S) in [-1, 1] -> class logits (N, num_classes)."""

    def __init__(self, num_classes: int = 7, width: int = 16, channels: int = 3) -> None:
        super().__init__()
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2 (7 lesion classes), got {num_classes!r}")
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive integer (channels of the first layer), got {width!r}")
        self.num_classes, self.width = num_classes, width

        def block(c_in: int, c_out: int) -> nn.Sequential:  # conv - BN - ReLU, halving height and width
            return nn.Sequential(nn.Conv2d(c_in, c_out, 3, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())

        self.features = nn.Sequential(block(channels, width), block(width, 2 * width), block(2 * width, 4 * width))
        self.head = nn.Linear(4 * width, num_classes)

    def forward(self, images: Tensor) -> Tensor:
        """Return the class logits f(x), shape (N, num_classes)."""
        h = self.features(images).mean(dim=(2, 3))  # global average pooling: any image size works
        return self.head(h)


def check_labelled_images(images: Tensor, labels: Tensor, num_classes: int) -> tuple[Tensor, Tensor]:
    """Return (images, labels as int64); ValueError if lengths differ, labels are not integers or out of range."""
    check_images(images)
    labels = torch.as_tensor(labels)
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(f"labels must be integer class indices, got dtype {labels.dtype}; use labels.long()")
    if labels.dim() != 1 or len(labels) != len(images):
        raise ValueError(f"got {len(images)} images but labels of shape {tuple(labels.shape)}; "
                         f"give one class label per image, shape ({len(images)},)")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        bad = sorted(set(labels[(labels < 0) | (labels >= num_classes)].tolist()))
        raise ValueError(f"label(s) {bad} outside the valid range 0..{num_classes - 1} (num_classes={num_classes}); "
                         "set num_classes to the number of classes of the data or remap the labels")
    return images, labels.long()


def class_weights(labels: Tensor, num_classes: int) -> Tensor:
    """Return w_k proportional to 1 / n_k (absent classes 0), scaled so the weights average 1 over the images."""
    counts = torch.bincount(labels, minlength=num_classes).float()
    weights = torch.where(counts > 0, 1.0 / counts.clamp(min=1), torch.zeros_like(counts))
    return weights * len(labels) / (weights * counts).sum()  # sum_i w_{y_i} = N: the loss keeps its scale


def train_classifier(images: Tensor, labels: Tensor, num_classes: int = 7, epochs: int = 5, batch_size: int = 32,
                     lr: float = 3e-3, width: int = 16, seed: int = 0, device: str | torch.device | None = None,
                     progress: bool = True) -> LesionClassifier:
    """Return a LesionClassifier trained on (images, labels) with class-weighted cross-entropy and random flips."""
    images, labels = check_labelled_images(images, labels, num_classes)
    if len(images) < 2:
        raise ValueError(f"need at least 2 labelled images to train a classifier, got {len(images)}")
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(seed)
    model = LesionClassifier(num_classes, width, images.shape[1]).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    weights = class_weights(labels, num_classes).to(device)  # w_k ~ 1 / n_k
    images, labels = images.to(device), labels.to(device)
    batch_size = min(batch_size, len(images))
    steps_per_epoch = len(images) // batch_size  # full batches only: BatchNorm needs more than one image
    order_rng = torch.Generator().manual_seed(seed)
    model.train()
    bar = tqdm(total=epochs * steps_per_epoch, desc="classifier", unit="batch", disable=not progress)
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=order_rng).to(device)
        for step in range(steps_per_epoch):
            batch = order[step * batch_size:(step + 1) * batch_size]
            x, y = images[batch], labels[batch]
            # Random horizontal and vertical flips: a lesion's class does not depend on its orientation.
            x = torch.where(torch.rand(len(x), 1, 1, 1, device=device) < 0.5, x.flip(3), x)
            x = torch.where(torch.rand(len(x), 1, 1, 1, device=device) < 0.5, x.flip(2), x)
            loss = F.cross_entropy(model(x), y, weight=weights)  # -w_y log softmax(f(x))_y
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    return model.eval()


@torch.no_grad()
def predict(model: nn.Module, images: Tensor, batch_size: int = 256) -> Tensor:
    """Return the predicted classes argmax_c f(x)_c, int64 (N,) on the CPU (computed in eval mode)."""
    check_images(images)
    was_training = model.training
    model.eval()
    device = model_device(model)
    try:
        chunks = [model(images[i:i + batch_size].to(device)).argmax(dim=1).cpu()
                  for i in range(0, len(images), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(chunks) if chunks else torch.empty(0, dtype=torch.long)


def confusion_matrix(predictions: Tensor, labels: Tensor, num_classes: int) -> np.ndarray:
    """Return the (num_classes, num_classes) count matrix: row = true class, column = predicted class."""
    predictions, labels = torch.as_tensor(predictions).long(), torch.as_tensor(labels).long()
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions {tuple(predictions.shape)} and labels {tuple(labels.shape)} must have the "
                         "same shape: one prediction per labelled image")
    for name, values in (("predictions", predictions), ("labels", labels)):
        if len(values) and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"{name} hold classes outside 0..{num_classes - 1} (num_classes={num_classes}): "
                             f"{sorted(set(values[(values < 0) | (values >= num_classes)].tolist()))}")
    return multiclass_confusion_matrix(predictions, labels, num_classes).numpy()


def per_class_accuracy(predictions: Tensor, labels: Tensor, num_classes: int) -> np.ndarray:
    """Return acc_k = correct / images of class k for each class, shape (num_classes,); NaN for an absent class."""
    matrix = confusion_matrix(predictions, labels, num_classes)
    totals = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(matrix) / np.maximum(totals, 1), np.nan)


@dataclass
class ClassifierReport:
    """Per-class accuracy of a classifier on one labelled image set, with its confusion matrix."""

    per_class: np.ndarray  # acc_k, NaN where the set has no image of class k
    counts: np.ndarray  # images of each class in the set
    confusion: np.ndarray  # rows: true class, columns: predicted class

    @property
    def mean(self) -> float:
        """Return the mean of the per-class accuracies over the classes present (balanced accuracy)."""
        present = self.per_class[~np.isnan(self.per_class)]
        return float(present.mean()) if len(present) else math.nan

    def most_confused(self, class_names) -> tuple[str, str, float]:
        """Return (true class, predicted class, share of the true class's images) of the largest off-diagonal cell."""
        shares = self.confusion / np.maximum(self.confusion.sum(axis=1, keepdims=True), 1)
        np.fill_diagonal(shares, -1.0)
        true, predicted = np.unravel_index(np.argmax(shares), shares.shape)
        return class_names[true], class_names[predicted], float(shares[true, predicted])


def evaluate_classifier(model: nn.Module, images: Tensor, labels: Tensor, num_classes: int) -> ClassifierReport:
    """Return the classifier's ClassifierReport (per-class accuracy, counts, confusion) on labelled images."""
    images, labels = check_labelled_images(images, labels, num_classes)
    predictions = predict(model, images)
    matrix = confusion_matrix(predictions, labels, num_classes)
    return ClassifierReport(per_class_accuracy(predictions, labels, num_classes),
                            np.bincount(labels.numpy(), minlength=num_classes), matrix)

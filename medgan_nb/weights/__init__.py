"""Reference checkpoints shipped with the kit: generators trained far longer than a notebook's own short run.

A course shows what a long training run gives next to what a student's five minutes give. Each reference is a
generator trained with the kit's own engine on the DermSynth phantom (never on patient data), stored in half
precision next to its **model card** in ``cards.json``: the data, the family and its build settings, the training
settings, steps and seed, the metrics it reached, and the command that rebuilds it
(``python -m medgan_nb.experiments.references NAME``).

:func:`load_reference` checks the file's sha256 against its card before reading it, reads it with
``torch.load(weights_only=True)`` (no pickled code runs), builds the family from the card and loads the weights;
a missing, altered or foreign file is a clear error naming the fix. A progressive reference also keeps its
generator as it stood at the end of every stage of training; :func:`load_reference_stages` returns them.

>>> generator, card = load_reference("projection_ac")  # doctest: +SKIP
>>> card["metrics"]["judge_accuracy_mean"]  # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..models import build_family
from ..models.progressive import stage_generators
from ..runtime import atomic_write

Tensor = torch.Tensor

FOLDER = Path(__file__).resolve().parent
CARDS_FILE = FOLDER / "cards.json"
REFERENCE_FORMAT = "medgan-nb-reference-1"


class ReferenceError(ValueError):
    """A reference checkpoint is unknown, missing, altered or does not fit its model card."""


def reference_cards(folder: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Return every reference's model card, by name, of the package (or of ``folder``); {} when there is none."""
    cards_file = Path(folder or FOLDER) / CARDS_FILE.name
    if not cards_file.is_file():
        return {}
    return json.loads(cards_file.read_text())


def reference_card(name: str, folder: str | Path | None = None) -> dict[str, Any]:
    """Return the model card of reference ``name`` (ReferenceError listing the known names if there is none)."""
    cards = reference_cards(folder)
    if name not in cards:
        known = ", ".join(sorted(cards)) or "none"
        raise ReferenceError(f"no reference checkpoint named {name!r}; the kit ships: {known}")
    return cards[name]


def file_sha256(path: str | Path) -> str:
    """Return the hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _rebuild_hint(name: str) -> str:
    return (f"reinstall medgan-nb (pip install --force-reinstall medgan-nb) or rebuild it with "
            f"`python -m medgan_nb.experiments.references {name}`")


def _read_checked(name: str, folder: str | Path | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (the checkpoint's dict, the model card) after checking the file's sha256 and format."""
    card = reference_card(name, folder)
    path = Path(folder or FOLDER) / card["file"]
    if not path.is_file():
        raise ReferenceError(f"the reference checkpoint {name!r} is missing: no file {path}; {_rebuild_hint(name)}")
    found = file_sha256(path)
    if found != card["sha256"]:
        raise ReferenceError(f"the reference checkpoint {path} has sha256 {found[:12]}…, its model card expects "
                             f"{card['sha256'][:12]}…: the file was altered or damaged; {_rebuild_hint(name)}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated files, pickled objects weights_only refuses
        raise ReferenceError(f"{path} is not a readable reference checkpoint ({type(exc).__name__}: {exc}); "
                             f"{_rebuild_hint(name)}") from exc
    if not isinstance(state, dict) or state.get("format") != REFERENCE_FORMAT or state.get("name") != name:
        raise ReferenceError(f"{path} is not the reference checkpoint {name!r} (format {REFERENCE_FORMAT}); "
                             f"{_rebuild_hint(name)}")
    return state, card


def _float32(weights: dict[str, Tensor]) -> dict[str, Tensor]:
    return {key: value.float() if value.is_floating_point() else value for key, value in weights.items()}


def read_reference(name: str, folder: str | Path | None = None) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Return (the generator's float32 state dict, the model card) of reference ``name`` after checking its sha256."""
    state, card = _read_checked(name, folder)
    return _float32(state["generator"]), card


def _does_not_fit(name: str, card: dict[str, Any], exc: RuntimeError, what: str) -> ReferenceError:
    """Return the error for weights of reference ``name`` that load_state_dict refused (``what``: "" or "a stage of ")."""
    return ReferenceError(f"{what}the reference checkpoint {name!r} does not fit a {card['family']} generator built "
                          f"with {card['build']}: {str(exc).splitlines()[0]}; {_rebuild_hint(name)}")


def _built(name: str, card: dict[str, Any], weights: dict[str, Tensor]) -> nn.Module:
    """Return the card's family built with its settings, holding ``weights`` (ReferenceError when they do not fit)."""
    generator, _ = build_family(card["family"], **card["build"])
    try:
        generator.load_state_dict(weights)
    except RuntimeError as exc:  # the file holds another model's weights
        raise _does_not_fit(name, card, exc, "") from exc
    return generator


def load_reference(name: str, folder: str | Path | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Return (the reference generator, in eval mode on the CPU, its model card).

    The generator is built from the card (family and build settings) and gets the checked weights; ``folder``
    reads the card and the file from elsewhere than the package (a rebuilt copy, a test's altered one).
    """
    weights, card = read_reference(name, folder)
    generator = _built(name, card, weights)
    if hasattr(generator, "set_stage"):  # a progressive generator: drawn at its full resolution, as it ended training
        generator.set_stage(card["build"]["image_size"], 1.0)
    return generator.eval(), card


def load_reference_stages(name: str, folder: str | Path | None = None) -> tuple[list[nn.Module], dict[str, Any]]:
    """Return (the generator at the end of every stage of a progressive reference's training, coarse to fine, its card).

    Only a progressive reference keeps these snapshots (its card lists ``stages``); each generator is set to its
    stage's resolution with the fade-in done (alpha = 1), in eval mode on the CPU.
    """
    state, card = _read_checked(name, folder)
    if not state.get("stages"):
        raise ReferenceError(f"the reference checkpoint {name!r} keeps no stage snapshots (only a progressive "
                             f"reference built with them does); use load_reference({name!r}) for its final generator")
    template, _ = build_family(card["family"], **card["build"])  # each stage gets its own weights
    try:
        generators = stage_generators(template, {int(r): _float32(w) for r, w in state["stages"].items()})
    except RuntimeError as exc:  # a stage holds another model's weights
        raise _does_not_fit(name, card, exc, "a stage of ") from exc
    return generators, card


def reference_for_run(name: str, dataset: str, image_size: int, what: str = "generator", width: int | None = None
                      ) -> tuple[nn.Module | None, dict[str, Any], str]:
    """Return (reference ``name``, its card, a line saying what was loaded) or (None, its card, why it was not).

    Every reference was trained on the phantom at one image size, so it stands for a long run of the notebook only
    when the notebook runs on the phantom at that size (and, with ``width``, trains a network of the reference's
    width); otherwise the line says so and nothing is loaded. ``what`` names the model in the line ("an
    attention-gated CycleGAN").
    """
    card = reference_card(name)
    size, built = card["build"]["image_size"], card["build"].get("width")
    if dataset != "phantom" or image_size != size:
        return None, card, (f"no reference for this run: {name} was trained on the phantom at {size} px and this run "
                            f"is {dataset} at {image_size} px; the notebook's own short run is all there is to judge")
    if width is not None and width != built:
        return None, card, (f"no reference for this run: {name} is a network of width {built} and this run trains "
                            f"width {width}; the notebook's own run is all there is to judge")
    generator, card = load_reference(name)
    return generator, card, (f"loaded the reference {name}: {what} trained for {card['steps']} steps "
                             f"({card['trained'].split(' on ')[0]} on a CPU), sha256 checked")


def save_reference(name: str, generator: nn.Module, card: dict[str, Any], folder: str | Path | None = None,
                   stages: dict[int, dict[str, Tensor]] | None = None) -> Path:
    """Write ``generator``'s weights in half precision as reference ``name``, and its card with the file's sha256.

    ``stages`` (a progressive run's :class:`~medgan_nb.experiments.style_growth.StageSnapshots` states, by
    resolution) are stored beside it in half precision and listed in the card. The checkpoint is written to a
    temporary file and renamed, and the card file is rewritten the same way, so an interrupted build leaves the
    previous reference intact.
    """
    folder = Path(folder or FOLDER)
    path = folder / f"{name}.pt"

    def half(weights: dict[str, Tensor]) -> dict[str, Tensor]:
        return {key: value.detach().cpu().half() if value.is_floating_point() else value.detach().cpu()
                for key, value in weights.items()}

    content = {"format": REFERENCE_FORMAT, "name": name, "generator": half(generator.state_dict())}
    if stages:
        content["stages"] = {str(resolution): half(weights) for resolution, weights in sorted(stages.items())}
        card = {**card, "stages": sorted(int(resolution) for resolution in stages)}
    atomic_write(path, lambda temporary: torch.save(content, temporary))
    cards = reference_cards(folder)
    cards[name] = {**card, "file": path.name, "sha256": file_sha256(path), "bytes": path.stat().st_size}
    text = json.dumps(cards, indent=2, sort_keys=True) + "\n"
    atomic_write(folder / CARDS_FILE.name, lambda temporary: temporary.write_text(text))
    return path

"""Printed verdicts against the numbers they rest on: a verdict that contradicts its own metrics is a failure.

Every notebook prints computed verdicts ("no clear difference at this budget", "best recognised: cgan", ...).
:func:`verdict_contradictions` reads an executed notebook's printed output and its ``metrics.json`` and
returns, per rule, what contradicts: a winner named where no model beats chance, a "kept" where the
untrained generator did as well, a checkerboard "seen" with p >= 0.05, noise called "new images".
"""
from __future__ import annotations

import json
from pathlib import Path

NO_CLEAR = "no clear difference"


def printed_lines(notebook: Path) -> list[str]:
    """Return every line the executed notebook printed (stream outputs), in order."""
    lines: list[str] = []
    for cell in json.loads(notebook.read_text())["cells"]:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                text = output.get("text", "")
                lines.extend(("".join(text) if isinstance(text, list) else text).splitlines())
    return lines


def _line(lines: list[str], start: str) -> str | None:
    found = [line for line in lines if line.strip().startswith(start)]
    return found[-1] if found else None


def verdict_contradictions(stem: str, metrics: dict, lines: list[str]) -> list[str]:
    """Return the contradictions between ``stem``'s printed verdicts and its metrics (empty: none)."""
    problems: list[str] = []
    if stem.startswith("02"):
        verdict = next((line for line in lines if line.startswith("verdict:") and "near-cop" in line), None)
        if verdict is None:
            problems.append("02: no memorisation verdict printed")
        elif metrics["copy_fraction"] > 0 and "near-copies of a training image" not in verdict:
            problems.append(f"02: copy fraction {metrics['copy_fraction']} but the verdict says {verdict!r}")
        elif metrics["copy_fraction"] == 0 and metrics["memorization_ratio"] > 1.1 and "off the data" not in verdict:
            problems.append(f"02: ratio {metrics['memorization_ratio']:.2f} > 1.1 but the verdict says {verdict!r}")
    if stem.startswith("04"):
        best = _line(lines, "best recognised:")
        if best is None:
            problems.append("04: no 'best recognised' line printed")
        elif not any(metrics["samples_above_chance"].values()) and NO_CLEAR not in best:
            problems.append(f"04: no model's samples are above chance, yet {best!r}")
        for name, above in metrics["samples_above_chance"].items():
            line = _line(lines, f"{name}: mean per-class accuracy on samples")
            if line is not None and (("NOT recognised" in line) == above):
                problems.append(f"04: {name} above chance = {above} but the line says {line!r}")
    if stem.startswith("06"):
        prefix = "" if metrics["dataset"] == "phantom" else "phantom_"
        verdict = next((line for line in lines if line.startswith("verdict:") and "untrained generator" in line), None)
        after, untrained = metrics[f"{prefix}skin_tone_dice_after"], metrics[f"{prefix}skin_tone_dice_untrained"]
        if verdict is None:
            problems.append("06: no skin-tone verdict printed")
        elif after <= untrained and ("lesion is kept" in verdict or "training helps" in verdict):
            problems.append(f"06: Dice after {after:.3f} <= untrained {untrained:.3f} but the verdict says {verdict!r}")
        for name, key in (("CycleGAN", "cyclegan"), ("CycleGAN, reference", "cyclegan_reference")):
            if f"{prefix}{key}_psnr_gain" not in metrics:
                continue
            gain, se = metrics[f"{prefix}{key}_psnr_gain"], metrics[f"{prefix}{key}_psnr_gain_se"]
            line = next((line for line in lines if line.startswith(f"verdict: {name} ")
                         and "identity (hairy input):" in line), None)  # gain_verdict's line, not the table's
            if line is None:
                problems.append(f"06: no verdict printed on {name} against doing nothing")
            elif (f"{name} beats" in line) != (gain > 2 * se):
                problems.append(f"06: {name} gains {gain:+.2f} dB (SE {se:.2f}) but the verdict says {line!r}")
    if stem.startswith("07"):
        verdicts = metrics["verdicts"]
        checker = metrics["checkerboard"]
        seen = checker["c2st_p"] < 0.05 and checker["c2st"] > metrics["floor_c2st"]
        if seen == verdicts["checkerboard"].startswith(NO_CLEAR):
            problems.append(f"07: checkerboard p = {checker['c2st_p']:.2g} but the verdict says {verdicts['checkerboard']!r}")
        named = {name for name in metrics["best_per_metric"].values() if name is not None}
        if not named and NO_CLEAR not in verdicts["best_family"]:
            problems.append(f"07: no metric names a winner, yet {verdicts['best_family']!r}")
        if len(named) == 1 and "changes from metric to metric" in verdicts["best_family"]:
            problems.append(f"07: one family wins every named metric, yet {verdicts['best_family']!r}")
        chance = 1 / 7
        for line in verdicts["utility"]:
            if "% of TRTR" in line and metrics["trtr"] <= chance:
                problems.append(f"07: TRTR {metrics['trtr']:.3f} at chance, yet {line!r}")
    if stem.startswith("09"):
        problems.extend(_choosing_contradictions(metrics, lines))
    return problems


def _choosing_contradictions(metrics: dict, lines: list[str]) -> list[str]:
    """09: a family called robust had no failure, the planted failure is called failed, the fidelity winner is clear."""
    import math

    problems = []
    for row in metrics["configurations"]:
        if row["label"] != "planted" and row["status"] != "ok" and metrics["robustness"][row["family"]].startswith("robust"):
            problems.append(f"09: {row['family']} is called robust, yet configuration {row['index']} {row['status']}")
    planted = _line(lines, "planted failure")
    if planted is None or (metrics["planted"][0]["status"] + ",") not in planted:
        problems.append(f"09: the planted failure's line {planted!r} does not give its status")
    table, gan, fidelity = metrics["table"], metrics["gan_row"], metrics["verdicts"]["fidelity"]
    ddpm = min((name for name in table if name.startswith(("DDPM", "DDIM"))), key=lambda name: table[name]["fd"])
    se = [(table[n]["fd_high"] - table[n]["fd_low"]) / (2 * 1.959964) for n in (gan, ddpm)]
    apart = abs(table[gan]["fd"] - table[ddpm]["fd"]) > 2 * math.hypot(*se)
    if apart == fidelity.startswith(NO_CLEAR):
        problems.append(f"09: GAN {table[gan]['fd']:.3f} vs DDPM {table[ddpm]['fd']:.3f} (SE {se[0]:.3f}, {se[1]:.3f}) "
                        f"but the verdict says {fidelity!r}")
    if not any(line.strip().startswith("fidelity") for line in lines):
        problems.append("09: no fidelity verdict printed")
    return problems

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
        if "models" in metrics:
            problems.extend(_lowest_contradictions("04", {n: m["fd"] for n, m in metrics["models"].items()},
                                                   {n: m["fd_se"] for n, m in metrics["models"].items()},
                                                   _line(lines, "lowest distance after")))
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
    if stem.startswith("03"):
        problems.extend(_loss_zoo_contradictions(metrics, lines))
    if stem.startswith("05"):
        problems.extend(_style_growth_contradictions(metrics, lines))
    if stem.startswith("08"):
        problems.extend(_responsible_contradictions(metrics, lines))
    if stem.startswith("09"):
        problems.extend(_choosing_contradictions(metrics, lines))
    return problems


def _apart(a: float, b: float, se_a: float, se_b: float = 0.0) -> bool:
    """The kit's rule, restated: two numbers differ clearly when |a - b| > 2 sqrt(se_a^2 + se_b^2)."""
    import math

    spread = math.hypot(se_a, se_b)
    return math.isfinite(spread) and abs(a - b) > 2 * spread


def _comparison(lines: list[str], needle: str, name: str, a: float, se_a: float, b: float, se_b: float,
                winner: str) -> list[str]:
    """A comparison_sentence line holding ``needle``: it names ``winner`` iff the two numbers are apart."""
    line = next((line for line in lines if needle in line), None)
    if line is None:
        return [f"{name}: no line with {needle!r} printed"]
    apart = _apart(a, b, se_a, se_b)
    if apart and not line.startswith(f"{winner} is clearly"):
        return [f"{name}: {a:.4g} ± {2 * se_a:.2g} vs {b:.4g} ± {2 * se_b:.2g} are apart, yet {line!r}"]
    if not apart and NO_CLEAR not in line:
        return [f"{name}: {a:.4g} ± {2 * se_a:.2g} vs {b:.4g} ± {2 * se_b:.2g} are within noise, yet {line!r}"]
    return []


def _lowest_contradictions(stem: str, values: dict[str, float], errors: dict[str, float], line: str | None) -> list[str]:
    """A 'lowest ...' line names the lowest value only when it lies beyond 2 SE of every other one."""
    best = min(values, key=values.get)
    clear = all(_apart(values[best], values[name], errors[best], errors[name]) for name in values if name != best)
    if line is None:
        return [f"{stem}: no 'lowest ...' line printed"]
    named = line.split(": ", 1)[-1].startswith(f"{best} (")
    if clear != named or clear == (NO_CLEAR in line):
        return [f"{stem}: {best} clearly lowest = {clear}, yet {line!r}"]
    return []


def _loss_zoo_contradictions(metrics: dict, lines: list[str]) -> list[str]:
    """03: the lowest distance, the small-data and the checkerboard comparisons name a side only beyond 2 SE."""
    problems = []
    losses = list(metrics["losses"])
    problems += _lowest_contradictions("03", {name: metrics[f"fd_{name}"] for name in losses},
                                       {name: metrics[f"fd_se_{name}"] for name in losses},
                                       _line(lines, "lowest distance:"))
    comparisons = [("small data", "plain", "diffaugment", "DiffAugment", "D's final gap", "d_gap", "d_gap_se"),
                   ("small data", "plain", "diffaugment", "DiffAugment", "Fréchet distance to held-out images",
                    "fd_small", "fd_small_se"),
                   ("checkerboard", "transposed", "resize", "resize", "high-frequency spectrum gap", "spectrum_error",
                    "spectrum_error_se"),
                   ("checkerboard", "transposed", "resize", "resize", "Fréchet distance to held-out images", "fd",
                    "fd_se_upsampling")]
    for section, first, second, second_title, what, key, se in comparisons:
        a, b = metrics[f"{key}_{first}"], metrics[f"{key}_{second}"]
        problems += _comparison([x for x in lines if first in x], what, f"03 {section}, {what}", a,
                                metrics[f"{se}_{first}"], b, metrics[f"{se}_{second}"],
                                first if a < b else second_title)
    return problems


def _style_growth_contradictions(metrics: dict, lines: list[str]) -> list[str]:
    """05: the closest family and the more even walk are named only beyond 2 SE; 'kept' only below its bar."""
    problems = []
    fd = {name: metrics["families"][name]["fd"] for name in metrics["families"]}
    best = min(fd, key=fd.get)
    se = metrics["fd_se"]
    clear = all(_apart(fd[best], fd[name], se[best], se[name]) for name in fd if name != best)
    line = _line(lines, "verdict: closest to the held-out real images:")
    if line is None:
        problems.append("05: no closest-family verdict printed")
    elif clear != (f"images: {best}, clearly" in line) or clear == (NO_CLEAR in line):
        problems.append(f"05: {best} clearly closest = {clear}, yet {line!r}")
    walks = metrics["walk_smoothness"]
    apart = _apart(walks["z"]["max_over_mean"] - walks["w"]["max_over_mean"], 0.0, walks["difference_se"])
    line = _line(lines, "verdict: largest frame jump / mean jump")
    if line is None:
        problems.append("05: no latent-walk verdict printed")
    elif apart == (NO_CLEAR in line):
        problems.append(f"05: the walks differ clearly = {apart}, yet {line!r}")
    for key, start in (("progressive_layout_kept", "verdict: same-z change"),
                       ("progressive_layout_kept_reference", "verdict (reference): same-z change")):
        pairs, line = metrics.get(key), _line(lines, start)
        if not pairs:
            continue
        kept = [f"{p['from']}->{p['to']} px" for p in pairs if p["ratio_high"] < 0.5]
        said = line.split("Layout kept (< 0.5): ")[-1].split(";")[0] if line else ""
        if line is None or said != (", ".join(kept) or "none"):
            problems.append(f"05: the layout was kept at {kept or 'no change'} by its intervals, yet {line!r}")
    return problems


def _responsible_contradictions(metrics: dict, lines: list[str]) -> list[str]:
    """08: each remedy's change per group, the leak and DP verdicts and the tabular utility, against their numbers."""
    import re

    from medgan_nb.metrics.uncertainty import auc_se, proportion_se

    problems = []
    titles = {"trained on the resampled set": "resampled", "skewed GAN, samples selected by tone": "selected"}
    block = ""
    for line in lines:
        if line.startswith("verdict (") and "training run" in line:
            block = "" if line.startswith("verdict (1 training run ") else "reference_"
        title = next((t for t in titles if line.strip().startswith(t + ":")), None)
        if title is None:
            continue
        arm, base = block + titles[title], block + "skewed"
        for group, change in re.findall(r"(light|dark) skin recognised [^()]*\(([^)]*)\)", line):
            a, b = metrics[f"{base}_recognised_{group}"], metrics[f"{arm}_recognised_{group}"]
            apart = _apart(a, b, metrics[f"{base}_recognised_se_{group}"], metrics[f"{arm}_recognised_se_{group}"])
            if apart == change.startswith(NO_CLEAR) or (apart and change != f"clearly {'higher' if b > a else 'lower'}"):
                problems.append(f"08 {arm}, {group} skin: {a:.3f} -> {b:.3f} apart = {apart}, yet ({change})")
    curve = metrics["epsilon_curve"]
    plain = next(row for row in curve if row["epsilon"] is None)
    strict = min((row for row in curve if row["epsilon"] is not None), key=lambda row: row["epsilon"])
    se = {id(row): auc_se(row["attack_auc"], row["n_members"], row["n_nonmembers"]) for row in (plain, strict)}
    leaks = plain["attack_auc"] > 0.5 and _apart(plain["attack_auc"], 0.5, se[id(plain)])
    lowers = plain["attack_auc"] > strict["attack_auc"] and _apart(plain["attack_auc"], strict["attack_auc"],
                                                                    se[id(plain)], se[id(strict)])
    line = _line(lines, "verdict: at epsilon")
    expected = ("DP clearly lowers" if leaks and lowers else NO_CLEAR if leaks else "does not clearly leak")
    if line is None or expected not in line:
        problems.append(f"08: DP verdict should say {expected!r}, yet {line!r}")
    beats = _apart(metrics["tabular_utility_synthetic"], metrics["tabular_majority_class_accuracy"],
                   proportion_se(metrics["tabular_majority_class_accuracy"], metrics["tabular_n_heldout"])) and \
        metrics["tabular_utility_synthetic"] > metrics["tabular_majority_class_accuracy"]
    line = _line(lines, "verdict: fidelity")
    if line is None or ("clearly beats" in line) != beats:
        problems.append(f"08: synthetic-trained classifier clearly beats the majority class = {beats}, yet {line!r}")
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

"""The report of ``goodregions evaluate``: summary table, the issue's target checks, the
error-ratio curves and the picture grids.

Success at a threshold t is the share of a selector's cases with error ratio (quarter-pixel
alignment) <= t; Levin et al. count ER <= 3 as a success. The target checks compare
selectors on the cases where all of them ran (a small image skips the grid selectors):

1. ``cnn`` beats ``fergus``, ``xu``, ``random`` and ``center`` on success at ER <= 3;
2. ``cnn`` is within 2 points of ``whole`` or better, while estimating at least 5x faster:
   median ``whole`` estimate seconds over the median of ``cnn``'s scoring plus estimate;
3. ``cnn`` closes at least half of the success gap (ER <= 3) between ``random`` and
   ``oracle``: ``(cnn - random) / (oracle - random) >= 0.5``.

The checks are made for ``cnn`` and again for ``cnn-vote`` (the scorer's best windows voting
on the kernel, ``evaluation_case.VOTE_CANDIDATES`` of them) when it ran; ``cnn-vote``'s
estimate seconds are those of all its candidates.
A check whose selectors were not run is reported as skipped.
"""

from __future__ import annotations

import json
import re
import statistics
import sys

import numpy as np

__all__ = ["GRIDS_DIR", "THRESHOLDS", "summarise", "target_checks", "format_table", "write_report", "is_grid_file"]

GRIDS_DIR = "grids"
THRESHOLDS = (1.5, 2.0, 3.0, 5.0)
LEARNED_SELECTORS = ("cnn", "cnn-vote")
_GRID_FILE_RE = re.compile(r"^[A-Za-z0-9._-]+\.png$")
_PANEL_WIDTH, _LABEL_HEIGHT = 240, 38


def is_grid_file(name):
    """True for the names the report writes under ``grids/``."""
    return bool(_GRID_FILE_RE.match(name))


def _ran(records, name):
    return [record["selectors"][name] for record in records if record["selectors"].get(name, {}).get("status") == "ok"]


def summarise(records, selectors):
    """Per selector: ``cases``, ``skipped``, ``mean_error_ratio``, ``success`` (threshold to rate),
    ``mean_error_ratio_integer``, ``median_similarity``, ``mean_psnr``, ``mean_ssim``,
    ``median_estimate_seconds`` and ``median_total_seconds`` (None where it never ran)."""
    summary = {}
    for name in selectors:
        rows = _ran(records, name)
        row = {"cases": len(rows), "skipped": len(records) - len(rows)}
        if rows:
            ratios = np.array([r["error_ratio"] for r in rows])
            row.update({
                "mean_error_ratio": float(ratios.mean()),
                "success": {str(t): float(np.mean(ratios <= t)) for t in THRESHOLDS},
                "mean_error_ratio_integer": float(np.mean([r["error_ratio_integer"] for r in rows])),
                "median_similarity": float(statistics.median(r["similarity"] for r in rows)),
                "mean_psnr": float(np.mean([r["psnr"] for r in rows])),
                "mean_ssim": float(np.mean([r["ssim"] for r in rows])),
                "median_estimate_seconds": float(statistics.median(r["seconds"]["estimate"] for r in rows)),
                "median_total_seconds": float(statistics.median(r["seconds"]["total"] for r in rows)),
            })
        summary[name] = row
    return summary


def _common(records, names):
    """The selectors' records on the cases where all of ``names`` ran: name to list, aligned."""
    shared = [record for record in records if all(record["selectors"].get(n, {}).get("status") == "ok" for n in names)]
    return {name: [record["selectors"][name] for record in shared] for name in names}, len(shared)


def _rate(rows, threshold=3.0):
    return float(np.mean([row["error_ratio"] <= threshold for row in rows]))


def _checks_of(records, learned, ran):
    """Checks 1 to 3 of the learned selector ``learned`` (``cnn`` or ``cnn-vote``)."""
    checks = []
    rivals = [name for name in ("fergus", "xu", "random", "center") if name in ran]
    if rivals:
        rows, count = _common(records, [learned, *rivals])
        if count:
            rates = {name: _rate(rows[name]) for name in [learned, *rivals]}
            met = all(rates[learned] > rates[name] for name in rivals)
            text = f"{learned} {rates[learned]:.1%} vs " + ", ".join(f"{name} {rates[name]:.1%}" for name in rivals)
            checks.append({"check": 1, "met": met, "rates": rates, "cases": count, "text": text})
    if "whole" in ran:
        rows, count = _common(records, [learned, "whole"])
        if count:
            rate, whole = _rate(rows[learned]), _rate(rows["whole"])
            seconds = statistics.median(r["seconds"]["select"] + r["seconds"]["estimate"] for r in rows[learned])
            speedup = statistics.median(r["seconds"]["estimate"] for r in rows["whole"]) / max(seconds, 1e-12)
            met = rate >= whole - 0.02 and speedup >= 5.0
            text = (f"{learned} {rate:.1%} vs whole {whole:.1%} ({100 * (rate - whole):+.1f} points; needs >= -2); "
                    f"estimate {speedup:.1f}x faster, scoring included (needs >= 5x)")
            checks.append({"check": 2, "met": met, "rate": rate, "whole": whole, "speedup": speedup, "cases": count,
                           "text": text})
    if {"random", "oracle"} <= ran:
        rows, count = _common(records, [learned, "random", "oracle"])
        if count:
            rates = {name: _rate(rows[name]) for name in (learned, "random", "oracle")}
            gap = rates["oracle"] - rates["random"]
            closed = (rates[learned] - rates["random"]) / gap if gap > 0 else None
            met = None if closed is None else closed >= 0.5
            share = "undefined: the oracle does not beat random" if closed is None else f"closes {closed:.0%} of the gap (needs >= 50%)"
            text = f"random {rates['random']:.1%}, {learned} {rates[learned]:.1%}, oracle {rates['oracle']:.1%}: {learned} {share}"
            checks.append({"check": 3, "met": met, "rates": rates, "closed": closed, "cases": count, "text": text})
    done = {check["check"] for check in checks}
    needs = {1: "one of fergus, xu, random, center", 2: "whole", 3: "random and oracle"}
    checks += [{"check": n, "met": None, "text": f"skipped: needs {learned} and {needs[n]} on common cases"}
               for n in needs if n not in done]
    return [{"selector": learned, **check} for check in sorted(checks, key=lambda check: check["check"])]


def target_checks(records, selectors):
    """The three checks of the module docstring for each learned selector that ran (``cnn``
    first, then ``cnn-vote``): a list of ``{"selector", "check", "met", "text", ...}`` (``met``
    None when skipped or undefined). With neither, the checks of ``cnn``, all skipped."""
    ran = set(selectors)
    learned = [name for name in LEARNED_SELECTORS if name in ran] or ["cnn"]
    return [check for name in learned for check in _checks_of(records, name, ran)]


_TITLES = {1: "{} beats fergus, xu, random and center on success at ER <= 3",
           2: "{} within 2 points of whole or better at >= 5x faster estimation",
           3: "{} closes at least half of the random-to-oracle gap at ER <= 3"}


def _format(value, spec):
    return "-" if value is None else format(value, spec)


def format_table(summary):
    """The summary as a markdown table, one row per selector."""
    header = ("| selector | cases | mean ER | " + " | ".join(f"ER<={t:g}" for t in THRESHOLDS)
              + " | median sim | mean PSNR | mean SSIM | median estimate s | median total s |")
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for name, row in summary.items():
        success = row.get("success", {})
        cells = [name, str(row["cases"]) + (f" ({row['skipped']} skipped)" if row["skipped"] else ""),
                 _format(row.get("mean_error_ratio"), ".2f"), *(_format(success.get(str(t)), ".1%") for t in THRESHOLDS),
                 _format(row.get("median_similarity"), ".3f"), _format(row.get("mean_psnr"), ".2f"),
                 _format(row.get("mean_ssim"), ".3f"), _format(row.get("median_estimate_seconds"), ".2f"),
                 _format(row.get("median_total_seconds"), ".2f")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _format_checks(checks):
    lines = []
    for check in checks:
        verdict = {True: "met", False: "NOT met", None: "not decided"}[check["met"]]
        cases = f" ({check['cases']} common cases)" if "cases" in check else ""
        title = _TITLES[check["check"]].format(check["selector"])
        lines.append(f"{check['check']}. {title}: **{verdict}**{cases}. {check['text']}")
    return "\n".join(lines)


def plot_er_curves(path, records, selectors):
    """Cumulative error-ratio curves (success rate against the threshold, 1 to 5), like Fig. 8 of
    Hu & Yang 2012. Returns None, or a one-line note when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install 'goodregions[plot]'): er_curves.png not drawn"
    thresholds = np.linspace(1.0, 5.0, 161)
    figure, axes = plt.subplots(figsize=(6.0, 4.2), dpi=120)
    for name in selectors:
        ratios = np.array([row["error_ratio"] for row in _ran(records, name)])
        if ratios.size:
            axes.plot(thresholds, [np.mean(ratios <= t) for t in thresholds], label=f"{name} ({ratios.size})",
                      linestyle="--" if name == "oracle" else "-")
    axes.set(xlabel="error ratio threshold", ylabel="success rate (ER <= threshold)", xlim=(1.0, 5.0), ylim=(0.0, 1.02),
             title="Cumulative error ratio")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return None


def _panel(picture, lines):
    """Scale an RGB picture to the panel width and put a dark label strip with ``lines`` above it."""
    import cv2

    height = max(1, round(picture.shape[0] * _PANEL_WIDTH / picture.shape[1]))
    scaled = cv2.resize(picture, (_PANEL_WIDTH, height), interpolation=cv2.INTER_AREA)
    label = np.full((_LABEL_HEIGHT, _PANEL_WIDTH, 3), 30, dtype=np.uint8)
    for i, text in enumerate(lines):
        cv2.putText(label, text, (6, 15 + 17 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return np.vstack([label, scaled])


def draw_grid(record, case, settings):
    """A picture of one case: the sharp image with the true kernel over the blurred input, then a
    column per selector: its window and kernel on the blurred image over its deconvolution."""
    from goodregions.export.synthesis import load_gray
    from goodregions.kernels_fast import deconvolve

    from .contact_sheet import to_display
    from .deblur_command import render_overlay
    from .evaluation_case import DECONVOLUTION, case_rngs, synthesize_case

    noise_rng, _ = case_rngs(settings.seed, case["key"])
    sharp, blurred = synthesize_case(load_gray(case["image"]), case["kernel"], noise_sigma=settings.noise_sigma, rng=noise_rng)
    kernels = case["kernels"]
    whole = (0, 0, blurred.shape[1], blurred.shape[0])
    columns = [np.vstack([_panel(render_overlay(sharp, whole, kernels["true"]), ["sharp", "true kernel"]),
                          _panel(to_display(blurred), ["blurred input", f"noise {settings.noise_sigma:g}"])])]
    for name, result in record["selectors"].items():
        if result["status"] != "ok":
            blank = np.full_like(columns[0][_LABEL_HEIGHT:], 90)
            columns.append(_panel(blank, [name, "skipped"])[: columns[0].shape[0]])
            continue
        latent = deconvolve(blurred, kernels[name], method=DECONVOLUTION)
        text = [name, f"ER {result['error_ratio']:.2f}  sim {result['similarity']:.2f}"]
        columns.append(np.vstack([_panel(render_overlay(blurred, result["box"], kernels[name]), text),
                                  _panel(to_display(latent), [f"PSNR {result['psnr']:.2f} dB", f"SSIM {result['ssim']:.3f}"])]))
    height = max(column.shape[0] for column in columns)
    columns = [np.pad(column, ((0, height - column.shape[0]), (0, 0), (0, 0)), constant_values=90) for column in columns]
    gap = np.full((height, 4, 3), 255, dtype=np.uint8)
    return np.hstack([part for column in columns for part in (column, gap)][:-1])


def write_report(folder, records, cases, *, settings, fingerprint, grids):
    """Write ``results.json``, ``summary.md``, ``er_curves.png`` and ``grids/`` for these cases.

    Returns
    -------
    dict
        ``summary``, ``checks``, ``table`` (markdown) and ``notes`` (lines for the user).
    """
    from pathlib import Path

    from .bench_report import environment
    from .evaluation import _write_text, case_paths
    from .image_io import write_image

    folder = Path(folder)
    selectors = settings.selectors
    summary, checks = summarise(records, selectors), target_checks(records, selectors)
    table = format_table(summary)
    images = len({case["image_name"] for case in cases})
    kernels = len({case["kernel_name"] for case in cases})
    text = (f"# goodregions evaluate\n\n{len(records)} cases: {images} images x {kernels} kernels; kernel size "
            f"{settings.kernel_size}, prior {settings.prior}, noise {settings.noise_sigma:g}, seed {settings.seed}, window "
            f"{fingerprint['grid']['window_size']} px every {fingerprint['grid']['stride']} px"
            f"{', kernels rotated by 180 degrees' if settings.rotate_kernels else ''}.\n\n"
            f"ER: error ratio, hyper-Laplacian deconvolution, quarter-pixel alignment; success = share of cases with ER <= t. "
            f"PSNR and SSIM: deconvolution against the sharp image, interior, best integer shift.\n\n"
            f"{table}\n\n## Target checks\n\n{_format_checks(checks)}\n")
    _write_text(folder / "summary.md", text)
    record = {"environment": environment(), "settings": fingerprint, "summary": summary, "checks": checks, "cases": records}
    _write_text(folder / "results.json", json.dumps(record, indent=1))
    notes = [note for note in [plot_er_curves(folder / "er_curves.png", records, selectors)] if note]
    if grids and records:
        (folder / GRIDS_DIR).mkdir(exist_ok=True)
        for index in sorted({int(round(i)) for i in np.linspace(0, len(cases) - 1, min(grids, len(cases)))}):
            case = dict(cases[index])
            with np.load(case_paths(folder, case["key"])[1], allow_pickle=False) as stored:
                case["kernels"] = {name: stored[name] for name in stored.files}
            write_image(folder / GRIDS_DIR / f"{case['key']}.png", draw_grid(records[index], case, settings), overwrite=True)
    for note in notes:
        print(f"goodregions evaluate: note: {note}", file=sys.stderr)
    return {"summary": summary, "checks": checks, "table": table, "notes": notes, "text": text}

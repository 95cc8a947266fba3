"""The figure of ``pyreparam compare --plot``: one panel per pair of variants.

Each row is a metric (UA, WA, macro-F1, each class's recall); the dot is the mean
paired difference B - A in percentage points, the thick bar its interval over seeds,
the thin bar below it the utterance bootstrap's interval, the small crosses the
per-seed differences; the vertical line marks no difference. Needs matplotlib (the
optional ``plot`` extra).
"""
from __future__ import annotations

import os


class PlotError(RuntimeError):
    """The figure cannot be drawn (matplotlib missing)."""


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise PlotError("--plot needs matplotlib: pip install 'pyreparam[plot]'") from None
    matplotlib.use("Agg")                         # files only, no display needed
    import matplotlib.pyplot as plt
    return plt


def plot_report(report: dict, path: str | os.PathLike) -> None:
    """Draw the pairs of a :func:`pyreparam.sweep.compare.compare_runs` report."""
    plt = _pyplot()
    pairs = report["pairs"]
    if not pairs:
        raise PlotError("nothing to plot: no pair of variants differing in one option")
    heights = [0.45 * len(p["metrics"]) + 1.0 for p in pairs]
    legend = 0.4                                  # inches above the panels
    fig, axes = plt.subplots(len(pairs), 1, figsize=(7.5, sum(heights) + legend),
                             squeeze=False, gridspec_kw={"height_ratios": heights})
    pct = round(100 * report["level"])
    for ax, pair in zip(axes[:, 0], pairs):
        _panel(ax, pair, pct)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="upper center", ncol=4,
               fontsize=7, frameon=False)
    axes[-1, 0].set_xlabel(f"B - A, percentage points ({report['evaluation']})")
    fig.tight_layout(rect=(0, 0, 1, 1 - legend / (sum(heights) + legend)))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _panel(ax, pair: dict, pct: int) -> None:
    rows = pair["metrics"]
    for y, row in enumerate(rows):
        if row["seeds_ci"]:
            ax.plot(row["seeds_ci"], [y, y], color="C0", lw=3.5, solid_capstyle="butt",
                    label=f"{pct} % CI over seeds (t)" if y == 0 else None)
        if row["bootstrap_ci"]:
            ax.plot(row["bootstrap_ci"], [y + 0.22] * 2, color="C1", lw=1.5,
                    label=f"{pct} % CI over utterances (bootstrap)" if y == 0 else None)
        ax.plot(row["per_seed"], [y] * len(row["per_seed"]), "x", color="0.2", ms=4,
                zorder=3, label="per seed" if y == 0 else None)
        ax.plot([row["difference"]], [y], "o", color="k", ms=4, zorder=4,
                label="mean difference" if y == 0 else None)
    ax.axvline(0, color="0.6", lw=0.8)
    ax.set_yticks(range(len(rows)), [r["label"] for r in rows], fontsize=8)
    ax.set_ylim(len(rows) - 0.4, -0.6)
    context = ", ".join(f"{k}={v}" for k, v in pair["context"].items())
    seeds = ",".join(map(str, pair["seeds"]))
    ax.set_title(f"{pair['option']}: {pair['a']} -> {pair['b']}   (seeds {seeds}"
                 f"{'; ' + context if context else ''})", fontsize=9, loc="left")
    ax.grid(axis="x", color="0.9")

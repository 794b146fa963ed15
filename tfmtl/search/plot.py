"""The search's `best_score.svg`: best score against evaluations."""

import numpy as np


def write_plot(scores, path):
    """Writes an SVG plot of the best score against evaluations."""
    if not scores:
        return
    best = np.maximum.accumulate(np.asarray(scores, dtype=np.float64))
    width, height, pad = 480, 300, 40
    lo, hi = float(np.min(scores)), float(best[-1])
    span = hi - lo or 1.0
    n = max(len(scores) - 1, 1)

    def xy(i, v):
        x = pad + (width - 2 * pad) * i / n
        y = height - pad - (height - 2 * pad) * (v - lo) / span
        return f"{x:.1f},{y:.1f}"

    points = " ".join(xy(i, v) for i, v in enumerate(best))
    dots = "".join(
        f'<circle cx="{xy(i, v).split(",")[0]}" '
        f'cy="{xy(i, v).split(",")[1]}" r="1.5" fill="#999"/>'
        for i, v in enumerate(scores)
    )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}"><rect width="100%" height="100%" fill="white"/>'
        f"{dots}"
        f'<polyline points="{points}" fill="none" stroke="#1f77b4" '
        f'stroke-width="2"/>'
        f'<text x="{pad}" y="20" font-size="13">best score vs evaluations '
        f"(best {hi:.4g}, {len(scores)} evaluations)</text>"
        f'<text x="{pad}" y="{height - 10}" font-size="11">0</text>'
        f'<text x="{width - pad}" y="{height - 10}" font-size="11">'
        f"{len(scores)}</text></svg>"
    )
    with open(path, "w") as f:
        f.write(svg)

"""Draws a searched MTL-NAS architecture as an image (no plotting library)."""

import numpy as np

_CELL = 12
_GAP = 8
_EMPTY = (0.12, 0.12, 0.12)


def draw_connectivity(architecture, cell=_CELL):
    """Renders the gates of `MTLNAS.architecture()` as an RGB image.

    One panel per target task, side by side: row `i` is the target block,
    column `j` the source block (of the other task, or of every other task
    averaged when there are more than two). Candidate edges are coloured
    from red (gate 0) to green (gate 1); kept edges (`alpha > 0`) get a
    white frame; other cells are dark grey. The diagonal `i = j` holds the
    same-level edges.

    Args:
        architecture: dict returned by `MTLNAS.architecture()`.
        cell: side of one cell in pixels.

    Returns:
        uint8 array [H, W, 3].
    """
    tasks, n = architecture["tasks"], int(architecture["num_blocks"])
    panels = []
    for task in tasks:
        gate = np.zeros((n, n))
        count = np.zeros((n, n))
        keep = np.zeros((n, n), bool)
        for e in architecture["edges"]:
            if e["task"] != task:
                continue
            i, j = e["block"], e["source_block"]
            gate[i, j] += e["gate"]
            count[i, j] += 1
            keep[i, j] |= bool(e["keep"])
        image = np.empty((n * cell, n * cell, 3))
        image[...] = _EMPTY
        for i in range(n):
            for j in range(n):
                if not count[i, j]:
                    continue
                g = gate[i, j] / count[i, j]
                rows = slice(i * cell, (i + 1) * cell)
                cols = slice(j * cell, (j + 1) * cell)
                if keep[i, j]:
                    image[rows, cols] = 1.0
                    rows = slice(i * cell + 2, (i + 1) * cell - 2)
                    cols = slice(j * cell + 2, (j + 1) * cell - 2)
                image[rows, cols] = (1.0 - g, g, 0.2)
        panels.append(image)
        panels.append(np.zeros((n * cell, _GAP, 3)))
    image = np.concatenate(panels[:-1], axis=1)
    return (np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8)

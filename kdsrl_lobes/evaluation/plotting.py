"""Curves from SpeechBrain's train_log.txt, as PNG.

Reading the log rather than in-memory history keeps the plot whole across
resumed runs. SpeechBrain has no plotter for its text log, hence this module.

Authors
 * kdsrl team 2026
"""

import os
from collections.abc import Sequence

from speechbrain.utils.logger import get_logger

logger = get_logger(__name__)

STAGES = ("train", "valid", "test")


def parse_train_log(path: str) -> list:
    """Parses a ``FileTrainLogger`` file into one dict per line.

    Arguments
    ---------
    path : str
        ``train_log.txt``.

    Returns
    -------
    rows : list of dict
        ``{"epoch": 1.0, "train loss": 0.5, "valid loss": 0.6, ...}``; values
        that are not numbers are skipped. A later line for the same epoch (a
        resumed run) replaces the earlier one.

    Example
    -------
    >>> import tempfile
    >>> log = os.path.join(tempfile.mkdtemp(), "train_log.txt")
    >>> with open(log, "w") as f:
    ...     _ = f.write("epoch: 1, lr: 1.00e-04 - train loss: 2.50 - valid loss: 3\\n")
    >>> parse_train_log(log)
    [{'epoch': 1.0, 'lr': 0.0001, 'train loss': 2.5, 'valid loss': 3.0}]
    """
    rows = {}
    order = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            row = {}
            for part in line.strip().split(" - "):
                for item in part.split(", "):
                    key, sep, value = item.partition(": ")
                    if not sep:
                        continue
                    try:
                        row[key.strip()] = float(value)
                    except ValueError:
                        continue
            if not row:
                continue
            key = row.get("epoch", len(order))
            if key not in rows:
                order.append(key)
            rows[key] = row
    return [rows[key] for key in order]


MAX_COLUMNS = 4  # panels per row of a training-curve figure


def save_figure(fig, axes, path: str, xlabel: str | None = None) -> str:
    """Grid, x label and legend (where a line has a label) on every axis, then
    a tight layout saved to ``path`` (folders made) and the figure closed.
    Returns ``path``."""
    import matplotlib.pyplot as plt

    for ax in getattr(axes, "flat", axes):
        if xlabel:
            ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_train_log(
    log_path: str,
    png_path: str,
    metrics: Sequence[str] = ("loss",),
    title: str = "",
) -> str:
    """Plots per-epoch curves of ``metrics`` for every stage found in the log.

    Arguments
    ---------
    log_path : str
        ``train_log.txt``.
    png_path : str
        Output image.
    metrics : sequence of str
        Metric names without the stage prefix; one panel each.
    title : str
        Figure title.

    Returns
    -------
    png_path : str

    Example
    -------
    >>> import tempfile
    >>> tmp = tempfile.mkdtemp()
    >>> log = os.path.join(tmp, "train_log.txt")
    >>> with open(log, "w") as f:
    ...     _ = f.write("epoch: 1 - train loss: 2.5 - valid loss: 3\\n")
    ...     _ = f.write("epoch: 2 - train loss: 1.5 - valid loss: 2\\n")
    >>> os.path.isfile(plot_train_log(log, os.path.join(tmp, "loss.png")))
    True
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = parse_train_log(log_path)
    columns = min(len(metrics), MAX_COLUMNS)
    rows_of_plots = -(-len(metrics) // columns)  # ceiling division
    fig, axes = plt.subplots(
        rows_of_plots,
        columns,
        figsize=(4.5 * columns, 3.5 * rows_of_plots),
        squeeze=False,
    )
    for ax in axes.flat[len(metrics) :]:
        ax.set_visible(False)
    for ax, metric in zip(axes.flat, metrics, strict=False):
        for stage in STAGES:
            key = f"{stage} {metric}"
            points = [
                (r.get("epoch", i + 1), r[key]) for i, r in enumerate(rows) if key in r
            ]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker="o", label=stage)
        ax.set_title(metric)
    if title:
        fig.suptitle(title)
    return save_figure(fig, axes, png_path, xlabel="epoch")

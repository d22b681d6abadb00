"""Evaluation of the two tasks: KWS accuracy and confusion matrix; SV trial
scoring, EER and minDCF (SpeechBrain's functions) and a DET curve; the bootstrap
confidence intervals of any of them (`bootstrap_ci`).

Authors
 * kdsrl team 2026
"""

import os
from collections.abc import Callable, Hashable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from speechbrain.utils.metric_stats import EER, minDCF


def score_trials(
    embeddings: dict, trials: Sequence[tuple[int, str, str]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine scores of every trial.

    Arguments
    ---------
    embeddings : dict
        Trial-list path -> embedding ``[dim]``.
    trials : sequence of (label, enrol, test)
        As returned by ``kdsrl_lobes.data.read_trials``.

    Returns
    -------
    scores : torch.Tensor
        ``[n_trials]`` cosine similarities.
    labels : torch.Tensor
        ``[n_trials]`` 1 for target, 0 for non-target.

    Example
    -------
    >>> emb = {"a": torch.tensor([1.0, 0.0]), "b": torch.tensor([1.0, 1.0])}
    >>> score_trials(emb, [(1, "a", "b"), (0, "a", "a")])
    (tensor([0.7071, 1.0000]), tensor([1, 0]))
    """
    missing = sorted({p for _, e, t in trials for p in (e, t)} - set(embeddings))
    if missing:
        raise ValueError(
            f"{len(missing)} trial file(s) have no embedding, e.g. {missing[:3]}"
        )
    enrol = torch.stack([embeddings[e] for _, e, _ in trials])
    test = torch.stack([embeddings[t] for _, _, t in trials])
    scores = F.cosine_similarity(enrol, test, dim=-1)
    labels = torch.tensor([label for label, _, _ in trials])
    return scores, labels


def enrolment_speakers(trials: Sequence[tuple[int, str, str]]) -> list[str]:
    """The speaker of each trial's enrolment utterance (the first folder of its
    path, as in VoxCeleb1's trial lists): the group a trial is resampled with.

    Example
    -------
    >>> enrolment_speakers([(1, "id10270/x/00001.wav", "id10271/y/00002.wav")])
    ['id10270']
    """
    return [enrol.split("/")[0] for _, enrol, _ in trials]


def verification_metrics(
    scores: torch.Tensor, labels: torch.Tensor, p_target: float = 0.01
) -> dict:
    """EER (%), its threshold, and minDCF with SpeechBrain's metric functions.

    ``sv_min_dcf`` is normalised by the cost of the best trivial system
    (``min(p_target, 1 - p_target)`` with unit costs), as VoxCeleb results are
    reported; SpeechBrain's ``minDCF`` returns it unnormalised.

    Example
    -------
    >>> m = verification_metrics(torch.tensor([0.9, 0.8, 0.3, 0.85]),
    ...                          torch.tensor([1, 1, 0, 0]))
    >>> round(m["sv_eer"], 1)
    50.0
    """
    positive = scores[labels == 1]
    negative = scores[labels == 0]
    if len(positive) == 0 or len(negative) == 0:
        raise ValueError(
            f"Trials need both labels: found {len(positive)} target and "
            f"{len(negative)} non-target trials"
        )
    eer, threshold = EER(positive, negative)
    min_dcf, _ = minDCF(positive, negative, p_target=p_target)
    min_dcf = float(min_dcf) / min(p_target, 1.0 - p_target)
    return {
        "sv_eer": 100.0 * float(eer),
        "sv_threshold": float(threshold),
        "sv_min_dcf": float(min_dcf),
        "sv_num_trials": int(len(labels)),
    }


def bootstrap_ci(
    statistic: Callable[[np.ndarray], float | np.ndarray],
    groups: Sequence[Hashable],
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Percentile bootstrap confidence interval of ``statistic``, resampling
    whole groups of items (clips: one group each; trials: their speaker).

    Each resample draws as many groups as there are, with replacement, and gives
    ``statistic`` the indices of every item of every drawn group (an item twice
    when its group is drawn twice). Resamples where an entry of the statistic is
    undefined (NaN, e.g. the recall of a class no drawn clip has) are left out
    of that entry's interval. The interval is widened to contain the point
    estimate where the resamples fall wholly on one side of it (few items).

    Arguments
    ---------
    statistic : callable
        Item indices ``[n]`` (int array) -> a float or a float array.
    groups : sequence of hashable
        The group of each item, ``len(groups)`` items in all.
    n_resamples : int
        Number of bootstrap resamples.
    confidence : float
        Coverage of the interval, in (0, 1).
    seed : int
        Seed of the resampling.

    Returns
    -------
    point, low, high : numpy.ndarray
        The statistic of all items and the interval's bounds, float64 arrays of
        the statistic's shape (``[]`` for a float).

    Example
    -------
    >>> correct = np.array([1.0] * 80 + [0.0] * 20)
    >>> point, low, high = bootstrap_ci(lambda i: correct[i].mean(), range(100))
    >>> float(point), bool(0.7 < low < point < high < 0.9)
    (0.8, True)
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"Expected confidence in (0, 1), found {confidence}")
    if n_resamples < 1:
        raise ValueError(f"Expected n_resamples >= 1, found {n_resamples}")
    if len(groups) == 0:
        raise ValueError("Expected at least one item to resample, found none")
    members: dict[Hashable, list[int]] = {}
    for index, group in enumerate(groups):
        members.setdefault(group, []).append(index)
    blocks = [np.asarray(m, dtype=np.int64) for m in members.values()]
    point = np.asarray(statistic(np.arange(len(groups))), dtype=np.float64)
    rng = np.random.default_rng(seed)
    draws = np.empty((n_resamples,) + point.shape, dtype=np.float64)
    for r in range(n_resamples):
        chosen = rng.integers(0, len(blocks), size=len(blocks))
        draws[r] = statistic(np.concatenate([blocks[c] for c in chosen]))
    tail = 100.0 * (1.0 - confidence) / 2.0
    defined = ~np.isnan(draws).all(axis=0)
    low = np.full(point.shape, np.nan)
    high = np.full(point.shape, np.nan)
    if defined.any():
        low[defined] = np.nanpercentile(draws[:, defined], tail, axis=0)
        high[defined] = np.nanpercentile(draws[:, defined], 100.0 - tail, axis=0)
    return point, np.fmin(low, point), np.fmax(high, point)


def sorted_eer_min_dcf(
    positive: np.ndarray, negative: np.ndarray, p_target: float = 0.01
) -> tuple[float, float]:
    """EER (fraction) and unnormalised minDCF with SpeechBrain's definitions, in
    O(n log n): the bootstrap's inner loop, where SpeechBrain's ``EER`` (a
    Python loop over every threshold) would take minutes.

    Same candidate thresholds (the unique scores and the midpoints between
    them), same rates (miss: target score <= threshold; false alarm:
    non-target score > threshold) and same choice (the first threshold with
    the smallest ``|FAR - FRR|``; EER = their mean) as
    ``speechbrain.utils.metric_stats.EER`` and ``minDCF``; the tests check they
    agree. Reported point values still come from SpeechBrain's functions.

    Example
    -------
    >>> sorted_eer_min_dcf(np.array([0.9, 0.8, 0.3]), np.array([0.85, 0.2]))
    (0.4166666716337204, 0.006666666828095913)
    """
    positive = np.sort(np.asarray(positive, dtype=np.float32))
    negative = np.sort(np.asarray(negative, dtype=np.float32))
    thresholds = np.unique(np.concatenate([positive, negative]))
    midpoints = (thresholds[:-1] + thresholds[1:]) / np.float32(2)
    thresholds = np.sort(np.concatenate([thresholds, midpoints]))
    frr = np.searchsorted(positive, thresholds, side="right") / len(positive)
    far = 1.0 - np.searchsorted(negative, thresholds, side="right") / len(negative)
    frr, far = frr.astype(np.float32), far.astype(np.float32)
    best = int(np.argmin(np.abs(far.astype(np.float64) - frr)))
    eer = (float(far[best]) + float(frr[best])) / 2
    c_det = frr * np.float32(p_target) + far * np.float32(1 - p_target)
    return eer, float(c_det.min())


def confusion_matrix(
    predictions: torch.Tensor, targets: torch.Tensor, n_classes: int
) -> torch.Tensor:
    """``[n_classes, n_classes]`` counts, rows true class, columns predicted.

    Example
    -------
    >>> confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 0, 1]), 2)
    tensor([[1, 1],
            [0, 1]])
    """
    index = targets.long() * n_classes + predictions.long()
    counts = torch.bincount(index, minlength=n_classes * n_classes)
    return counts.reshape(n_classes, n_classes)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(matrix: torch.Tensor, labels: Sequence[str], path: str) -> str:
    """Saves a row-normalised confusion matrix as PNG and returns ``path``."""
    plt = _pyplot()
    norm = matrix.float() / matrix.sum(dim=1, keepdim=True).clamp(min=1)
    fig, ax = plt.subplots(figsize=(7, 6))
    image = ax.imshow(norm.numpy(), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i in range(len(labels)):
        for j in range(len(labels)):
            if matrix[i, j]:
                color = "white" if norm[i, j] > 0.5 else "black"
                ax.text(
                    j,
                    i,
                    int(matrix[i, j]),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color=color,
                )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = 100.0 * float(matrix.diag().sum()) / max(1, int(matrix.sum()))
    ax.set_title(f"Keyword spotting: accuracy {accuracy:.2f}%")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_det(scores: torch.Tensor, labels: torch.Tensor, path: str, eer=None) -> str:
    """Saves a DET curve (miss vs false-alarm rate on normal-deviate axes)."""
    from scipy.stats import norm

    plt = _pyplot()
    order = torch.argsort(scores, descending=True)
    sorted_labels = labels[order].double()
    n_pos = float(sorted_labels.sum())
    n_neg = float(len(sorted_labels)) - n_pos
    # Accepting the k best-scoring trials, for every k:
    false_alarm = torch.cumsum(1 - sorted_labels, 0) / max(n_neg, 1)
    miss = 1 - torch.cumsum(sorted_labels, 0) / max(n_pos, 1)
    clip = 1e-4
    fa = norm.ppf(false_alarm.clamp(clip, 1 - clip).numpy())
    ms = norm.ppf(miss.clamp(clip, 1 - clip).numpy())
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(fa, ms, label="DET")
    ticks = [0.001, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95, 0.99]
    labels = [f"{100 * t:g}" for t in ticks]
    ax.set_xticks(norm.ppf(ticks), labels)
    ax.set_yticks(norm.ppf(ticks), labels)
    low, high = norm.ppf([0.0005, 0.995])
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.plot([low, high], [low, high], "k:", lw=0.8)
    ax.set_xlabel("false alarm rate (%)")
    ax.set_ylabel("miss rate (%)")
    title = "Speaker verification DET"
    if eer is not None:
        title += f" (EER {eer:.2f}%)"
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

"""The test metrics of the two tasks, each with its 95 % confidence interval.

- KWS (`kws_report`): accuracy, balanced accuracy (the mean of the per-class
  recalls) and every class's recall; bootstrap over clips.
- SV (`verification_report`): EER and minDCF of a trial list; bootstrap over
  speakers (the trials of one enrolment speaker are resampled together: they
  share that speaker's embeddings, so they are not independent).

An interval is ``[low, high]`` under ``<metric>_ci95`` beside the metric.

Authors
 * kdsrl team 2026
"""

from collections.abc import Hashable, Sequence

import numpy as np
import torch

from kdsrl_lobes.evaluation.metrics import (
    bootstrap_ci,
    sorted_eer_min_dcf,
    verification_metrics,
)

CONFIDENCE = 0.95


def _interval(low, high) -> list[float]:
    return [float(low), float(high)]


def kws_report(
    predictions: torch.Tensor,
    targets: torch.Tensor,
    labels: Sequence[str],
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict:
    """KWS test metrics (%) with bootstrap intervals over clips.

    Arguments
    ---------
    predictions, targets : torch.Tensor
        ``[clips]`` predicted and true class indices.
    labels : sequence of str
        Class names in index order.
    n_resamples : int
        Bootstrap resamples.
    seed : int
        Seed of the resampling.

    Returns
    -------
    dict
        ``kws_accuracy``, ``kws_balanced_accuracy`` (mean recall over the
        classes the test set has), ``kws_recall`` ``{class: %}`` and
        ``kws_num_test_per_class`` over those classes, ``kws_num_test``, and
        ``<metric>_ci95`` beside each metric (``kws_recall_ci95`` per class).

    Example
    -------
    >>> r = kws_report(torch.tensor([0, 1, 1, 1]), torch.tensor([0, 0, 1, 1]),
    ...                ["a", "b"], n_resamples=50)
    >>> r["kws_accuracy"], r["kws_balanced_accuracy"], r["kws_recall"]
    (75.0, 75.0, {'a': 50.0, 'b': 100.0})
    """
    pred = torch.as_tensor(predictions).reshape(-1).cpu().numpy().astype(np.int64)
    true = torch.as_tensor(targets).reshape(-1).cpu().numpy().astype(np.int64)
    if len(pred) != len(true) or len(true) == 0:
        raise ValueError(
            f"Expected as many predictions as targets (> 0), found {len(pred)} "
            f"and {len(true)}"
        )
    if true.min() < 0 or max(true.max(), pred.max()) >= len(labels):
        raise ValueError(
            f"Expected class indices in [0, {len(labels)}), found targets in "
            f"[{true.min()}, {true.max()}] and predictions up to {pred.max()}"
        )
    n_classes = len(labels)
    present = np.bincount(true, minlength=n_classes) > 0

    def statistic(index: np.ndarray) -> np.ndarray:
        t, correct = true[index], (pred[index] == true[index]).astype(np.float64)
        counts = np.bincount(t, minlength=n_classes)[present]
        hits = np.bincount(t, weights=correct, minlength=n_classes)[present]
        recall = np.full(len(counts), np.nan)
        recall[counts > 0] = hits[counts > 0] / counts[counts > 0]
        return 100.0 * np.concatenate([[correct.mean(), np.nanmean(recall)], recall])

    point, low, high = bootstrap_ci(
        statistic, range(len(true)), n_resamples, CONFIDENCE, seed
    )
    names = [labels[i] for i in np.flatnonzero(present)]
    counts = np.bincount(true, minlength=n_classes)[present]
    return {
        "kws_accuracy": float(point[0]),
        "kws_accuracy_ci95": _interval(low[0], high[0]),
        "kws_balanced_accuracy": float(point[1]),
        "kws_balanced_accuracy_ci95": _interval(low[1], high[1]),
        "kws_recall": {n: float(v) for n, v in zip(names, point[2:], strict=True)},
        "kws_recall_ci95": {
            n: _interval(a, b) for n, a, b in zip(names, low[2:], high[2:], strict=True)
        },
        "kws_num_test": int(len(true)),
        "kws_num_test_per_class": {
            n: int(c) for n, c in zip(names, counts, strict=True)
        },
    }


def verification_report(
    scores: torch.Tensor,
    labels: torch.Tensor,
    groups: Sequence[Hashable],
    prefix: str = "sv",
    n_resamples: int = 1000,
    seed: int = 0,
    p_target: float = 0.01,
) -> dict:
    """EER (%) and normalised minDCF of trials, with bootstrap intervals over
    ``groups`` (the enrolment speaker of each trial).

    The point values are `verification_metrics`' (SpeechBrain's ``EER`` and
    ``minDCF``); the resamples use `sorted_eer_min_dcf`, the same definitions
    in O(n log n). A resample without both trial labels is left out.

    Arguments
    ---------
    scores, labels : torch.Tensor
        ``[trials]`` scores and 1 (target) / 0 (non-target) labels.
    groups : sequence of hashable
        The resampling group of each trial.
    prefix : str
        Key prefix: ``sv`` gives ``sv_eer``, ``sv_eer_ci95``, ...
    n_resamples : int
        Bootstrap resamples.
    seed : int
        Seed of the resampling.
    p_target : float
        Target prior of the minDCF.

    Returns
    -------
    dict
        ``<prefix>_eer``, ``<prefix>_threshold``, ``<prefix>_min_dcf``,
        ``<prefix>_num_trials``, ``<prefix>_num_speakers`` and the
        ``<prefix>_eer_ci95`` and ``<prefix>_min_dcf_ci95`` intervals.

    Example
    -------
    >>> r = verification_report(torch.tensor([0.9, 0.8, 0.3, 0.85]),
    ...                         torch.tensor([1, 1, 0, 0]), ["a", "a", "b", "b"],
    ...                         n_resamples=20)
    >>> r["sv_eer"], r["sv_num_speakers"]
    (50.0, 2)
    """
    if len(groups) != len(labels):
        raise ValueError(
            f"Expected one group per trial ({len(labels)}), found {len(groups)}"
        )
    metrics = verification_metrics(scores, labels, p_target)
    s = torch.as_tensor(scores).double().cpu().numpy()
    y = torch.as_tensor(labels).cpu().numpy() == 1
    norm = min(p_target, 1.0 - p_target)

    def statistic(index: np.ndarray) -> np.ndarray:
        target = y[index]
        if target.all() or not target.any():
            return np.full(2, np.nan)
        eer, dcf = sorted_eer_min_dcf(s[index][target], s[index][~target], p_target)
        return np.array([100.0 * eer, dcf / norm])

    _, low, high = bootstrap_ci(statistic, groups, n_resamples, CONFIDENCE, seed)
    # the interval must hold SpeechBrain's point values too
    eer, dcf = metrics["sv_eer"], metrics["sv_min_dcf"]
    return {
        f"{prefix}_eer": eer,
        f"{prefix}_eer_ci95": _interval(np.fmin(low[0], eer), np.fmax(high[0], eer)),
        f"{prefix}_threshold": metrics["sv_threshold"],
        f"{prefix}_min_dcf": dcf,
        f"{prefix}_min_dcf_ci95": _interval(
            np.fmin(low[1], dcf), np.fmax(high[1], dcf)
        ),
        f"{prefix}_num_trials": metrics["sv_num_trials"],
        f"{prefix}_num_speakers": len(set(groups)),
    }

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


def classification_report(
    predictions: torch.Tensor,
    targets: torch.Tensor,
    labels: Sequence[str],
    n_resamples: int = 1000,
    seed: int = 0,
    prefix: str = "kws",
) -> dict:
    """Classification test metrics (%) with bootstrap intervals over clips
    (KWS, and the SUPERB suite's KS, SID and ER).

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
    prefix : str
        Key prefix: ``kws`` gives ``kws_accuracy``, ...

    Returns
    -------
    dict
        ``<prefix>_accuracy``, ``<prefix>_balanced_accuracy`` (mean recall over
        the classes the test set has), ``<prefix>_recall`` ``{class: %}`` and
        ``<prefix>_num_test_per_class`` over those classes,
        ``<prefix>_num_test``, and ``<metric>_ci95`` beside each metric
        (``<prefix>_recall_ci95`` per class).

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
    report = {
        "accuracy": float(point[0]),
        "accuracy_ci95": _interval(low[0], high[0]),
        "balanced_accuracy": float(point[1]),
        "balanced_accuracy_ci95": _interval(low[1], high[1]),
        "recall": {n: float(v) for n, v in zip(names, point[2:], strict=True)},
        "recall_ci95": {
            n: _interval(a, b) for n, a, b in zip(names, low[2:], high[2:], strict=True)
        },
        "num_test": int(len(true)),
        "num_test_per_class": {n: int(c) for n, c in zip(names, counts, strict=True)},
    }
    return {f"{prefix}_{key}": value for key, value in report.items()}


#: The KWS report of the recipes (``kws_`` keys).
kws_report = classification_report


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


def error_rate_report(
    scores: Sequence[dict],
    groups: Sequence[Hashable],
    prefix: str = "pr_per",
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict:
    """Token error rate (%) of a test set with a bootstrap interval over
    ``groups`` (the speaker of each utterance): PER of PR, WER and CER of ASR.

    The rate is SpeechBrain's: all edits over all reference tokens.

    Arguments
    ---------
    scores : sequence of dict
        ``speechbrain.utils.metric_stats.ErrorRateStats().scores``: one dict per
        utterance with ``num_edits`` and ``num_ref_tokens``.
    groups : sequence of hashable
        The resampling group of each utterance.
    prefix : str
        Key of the rate: ``pr_per`` gives ``pr_per`` and ``pr_per_ci95``.
    n_resamples : int
        Bootstrap resamples.
    seed : int
        Seed of the resampling.

    Returns
    -------
    dict
        ``<prefix>``, ``<prefix>_ci95``, ``<prefix>_num_edits``,
        ``<prefix>_num_tokens``.

    Example
    -------
    >>> from speechbrain.utils.metric_stats import ErrorRateStats
    >>> stats = ErrorRateStats()
    >>> stats.append(["u1", "u2"], [["a", "b", "c"], ["x"]], [["a", "c"], ["x", "y"]])
    >>> r = error_rate_report(stats.scores, ["s1", "s2"], "pr_per", 50)
    >>> r["pr_per"], r["pr_per_num_edits"], r["pr_per_num_tokens"]
    (50.0, 2, 4)
    """
    if len(groups) != len(scores) or not scores:
        raise ValueError(
            f"Expected one group per scored utterance (> 0), found {len(groups)} "
            f"groups and {len(scores)} utterances"
        )
    edits = np.array([s["num_edits"] for s in scores], dtype=np.float64)
    tokens = np.array([s["num_ref_tokens"] for s in scores], dtype=np.float64)

    def statistic(index: np.ndarray) -> float:
        total = tokens[index].sum()
        return 100.0 * edits[index].sum() / total if total > 0 else np.nan

    point, low, high = bootstrap_ci(statistic, groups, n_resamples, CONFIDENCE, seed)
    point = float(np.asarray(point).reshape(-1)[0])
    return {
        prefix: point,
        f"{prefix}_ci95": _interval(
            np.fmin(np.asarray(low).reshape(-1)[0], point),
            np.fmax(np.asarray(high).reshape(-1)[0], point),
        ),
        f"{prefix}_num_edits": int(edits.sum()),
        f"{prefix}_num_tokens": int(tokens.sum()),
    }

"""Evaluation of the two tasks: KWS accuracy and confusion matrix; SV trial
scoring, EER and minDCF (SpeechBrain's functions) and a DET curve.

Authors
 * kdsrl team 2026
"""

import os
from collections.abc import Sequence

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

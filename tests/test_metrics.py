"""Verification and classification metrics against hand computations."""

import pytest
import torch

from kdsrl_lobes.evaluation.metrics import (
    confusion_matrix,
    plot_confusion,
    plot_det,
    score_trials,
    verification_metrics,
)


def test_eer_equals_hand_computation():
    # targets 0.9 0.8 0.4 0.3 ; non-targets 0.7 0.35 0.2 0.1
    # At a threshold between 0.4 and 0.35: misses {0.3} = 1/4, false alarms
    # {0.7} = 1/4 -> EER 25 %.
    pos = [0.9, 0.8, 0.4, 0.3]
    neg = [0.7, 0.35, 0.2, 0.1]
    scores = torch.tensor(pos + neg)
    labels = torch.tensor([1] * 4 + [0] * 4)
    m = verification_metrics(scores, labels)
    assert m["sv_eer"] == pytest.approx(25.0, abs=1e-4)
    assert 0.35 - 1e-6 <= m["sv_threshold"] <= 0.4
    # minDCF at p_target 0.01, normalised: the best threshold accepts only
    # scores above 0.7, missing 2 targets of 4 at no false alarm:
    # (0.5 * 0.01) / 0.01 = 0.5.
    assert m["sv_min_dcf"] == pytest.approx(0.5, abs=1e-4)
    assert m["sv_num_trials"] == 8


def test_perfect_separation_has_zero_eer():
    m = verification_metrics(torch.tensor([0.9, 0.8, 0.1]), torch.tensor([1, 1, 0]))
    assert m["sv_eer"] == pytest.approx(0.0, abs=1e-6)


def test_trials_need_both_labels_and_embeddings():
    with pytest.raises(ValueError, match="found 2 target and 0 non-target"):
        verification_metrics(torch.tensor([0.1, 0.2]), torch.tensor([1, 1]))
    with pytest.raises(ValueError, match="have no embedding"):
        score_trials({"a": torch.ones(2)}, [(1, "a", "b")])


def test_confusion_and_plots(tmp_path):
    matrix = confusion_matrix(torch.tensor([0, 2, 2, 1]), torch.tensor([0, 2, 1, 1]), 3)
    assert matrix.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    path = str(tmp_path / "c.png")
    assert plot_confusion(matrix, ["a", "b", "c"], path) == path
    assert (tmp_path / "c.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "c.png").stat().st_size > 1000
    scores, labels = torch.rand(50), torch.randint(0, 2, (50,))
    plot_det(scores, labels, str(tmp_path / "det.png"), eer=12.0)
    assert (tmp_path / "det.png").stat().st_size > 1000

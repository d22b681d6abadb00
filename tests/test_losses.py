"""Distillation loss against hand computations; padding is ignored."""

import math

import pytest
import torch

from kdsrl_lobes import DistillationLoss, layer_distillation_loss
from kdsrl_lobes.training.losses import layer_distillation_terms


def _hand_loss(pred, target, valid):
    """Plain-Python per-frame loss averaged over the listed (b, t) frames."""
    total = 0.0
    for b, t in valid:
        f, g = pred[b, t].tolist(), target[b, t].tolist()
        l1 = sum(abs(x - y) for x, y in zip(f, g, strict=True)) / len(f)
        dot = sum(x * y for x, y in zip(f, g, strict=True))
        cos = dot / (
            math.sqrt(sum(x * x for x in f)) * math.sqrt(sum(y * y for y in g))
        )
        total += l1 - math.log(1.0 / (1.0 + math.exp(-cos)))
    return total / len(valid)


def test_loss_equals_hand_computation():
    torch.manual_seed(0)
    pred, target = torch.randn(2, 3, 5), torch.randn(2, 3, 5)
    valid = [(b, t) for b in range(2) for t in range(3)]
    got = layer_distillation_loss(pred, target)
    assert got.item() == pytest.approx(_hand_loss(pred, target, valid), rel=1e-5)


def test_padded_frames_contribute_nothing():
    torch.manual_seed(1)
    pred, target = torch.randn(2, 4, 6), torch.randn(2, 4, 6)
    lengths = torch.tensor([1.0, 0.5])  # second utterance: frames 0 and 1 only
    valid = [(0, t) for t in range(4)] + [(1, 0), (1, 1)]
    got = layer_distillation_loss(pred, target, lengths)
    assert got.item() == pytest.approx(_hand_loss(pred, target, valid), rel=1e-5)
    pred[1, 2:] = 1e3  # garbage in the padding changes nothing
    assert layer_distillation_loss(pred, target, lengths).item() == pytest.approx(
        got.item(), rel=1e-6
    )


def test_identical_features_give_only_the_cosine_floor():
    x = torch.randn(2, 3, 4)
    l1, cos = layer_distillation_terms(x, x.clone())
    assert l1.item() == 0.0
    assert cos.item() == pytest.approx(-math.log(1 / (1 + math.exp(-1.0))), rel=1e-5)


def test_shape_mismatch_is_named():
    with pytest.raises(ValueError, match=r"found \[1, 2, 3\] and \[1, 2, 4\]"):
        layer_distillation_loss(torch.zeros(1, 2, 3), torch.zeros(1, 2, 4))


def test_wrapper_sums_layers_and_reports_terms():
    torch.manual_seed(2)
    preds, targets = torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5)
    lengths = torch.tensor([1.0, 0.75])
    total, terms = DistillationLoss([4, 8, 12])(preds, targets, lengths)
    expected = sum(
        layer_distillation_loss(preds[:, k], targets[:, k], lengths) for k in range(3)
    )
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)
    assert terms["l1_layer8"].item() + terms["cos_layer8"].item() == pytest.approx(
        layer_distillation_loss(preds[:, 1], targets[:, 1], lengths).item(), rel=1e-6
    )
    with pytest.raises(ValueError, match="for layers \\[4, 8\\]"):
        DistillationLoss([4, 8])(preds, targets)
    with pytest.raises(ValueError, match="teacher's hidden size"):
        DistillationLoss([4, 8, 12])(preds, targets[..., :3])

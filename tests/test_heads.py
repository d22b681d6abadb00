"""Prediction and task heads: shapes, masking, AAM, bad input."""

import pytest
import torch
from speechbrain.nnet.losses import AdditiveAngularMargin

from kdsrl_lobes import KWSHead, PredictionHeads, SVHead


def test_prediction_heads_shape_and_bad_input():
    heads = PredictionHeads(input_size=8, output_size=12, target_layers=[4, 8, 12])
    assert heads(torch.randn(2, 7, 8)).shape == (2, 3, 7, 12)
    with pytest.raises(ValueError, match=r"expects \[batch, time, 8\] features"):
        heads(torch.randn(2, 7, 9))
    with pytest.raises(ValueError, match=r"\[8, 12\] requested but the teacher has 6"):
        heads.check_teacher(num_layers=6, hidden_size=12)
    with pytest.raises(ValueError, match="output 12 features but the teacher's hidden"):
        heads.check_teacher(num_layers=12, hidden_size=16)
    mlp = PredictionHeads(8, 12, [4], hidden_size=32)
    assert mlp(torch.randn(1, 3, 8)).shape == (1, 1, 3, 12)


def test_kws_head_ignores_padding():
    torch.manual_seed(0)
    head = KWSHead(input_size=8, n_classes=12)
    x = torch.randn(2, 10, 8)
    lengths = torch.tensor([1.0, 0.5])
    logits = head(x, lengths)
    assert logits.shape == (2, 12)
    x[1, 5:] = 100.0
    torch.testing.assert_close(head(x, lengths), logits)
    torch.testing.assert_close(logits[1], head(x[1:, :5])[0])


def test_sv_head_embeddings_and_loss_backward():
    torch.manual_seed(0)
    head = SVHead(input_size=8, embedding_size=6, n_speakers=4)
    emb, cos = head(torch.randn(3, 10, 8), torch.tensor([1.0, 0.6, 0.8]), True)
    assert emb.shape == (3, 6)
    loss = head.loss(cos, torch.tensor([0, 3, 1]))
    loss.backward()
    assert head.classifier.weight.grad is not None
    assert head.embedding.weight.grad is not None
    torch.testing.assert_close(head.cosine_logits(emb), cos)
    assert cos.shape == (3, 4) and cos.abs().max() <= 1.0 + 1e-6
    with pytest.raises(ValueError, match="Speaker index 7 out of range .* 4 speakers"):
        head.loss(cos, torch.tensor([0, 7, 1]))


def test_aam_margin_lowers_the_target_logit():
    cosine = torch.tensor([[0.6, 0.2, -0.1]])
    one_hot = torch.tensor([[1.0, 0.0, 0.0]])
    plain = AdditiveAngularMargin(margin=0.0, scale=30.0)(cosine, one_hot)
    margin = AdditiveAngularMargin(margin=0.2, scale=30.0)(cosine, one_hot)
    assert margin[0, 0] < plain[0, 0]
    torch.testing.assert_close(margin[0, 1:], plain[0, 1:])
    # and the SV head's loss is higher with a margin than without
    torch.manual_seed(0)
    emb = torch.randn(4, 6)
    spk = torch.tensor([0, 1, 2, 3])
    with_margin = SVHead(8, 6, 4, margin=0.3)
    without = SVHead(8, 6, 4, margin=0.0)
    logits = with_margin.cosine_logits(emb)
    assert with_margin.loss(logits, spk) > without.loss(logits, spk)


def test_bad_pooling_name():
    with pytest.raises(ValueError, match="Expected pooling 'stats' or 'mean'"):
        SVHead(pooling="max")

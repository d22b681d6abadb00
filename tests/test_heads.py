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


def test_sv_head_is_embedding_only_and_trains_with_the_recipe_classifier():
    """SVHead holds what is deployed (pooling + embedding); the AAM classifier
    over training speakers is the recipe's (multitask.yaml: speaker_classifier,
    sv_cost), and gradients reach the head through it."""
    from speechbrain.lobes.models.ECAPA_TDNN import Classifier
    from speechbrain.nnet.losses import LogSoftmaxWrapper

    torch.manual_seed(0)
    head = SVHead(input_size=8, embedding_size=6)
    assert sorted(head.state_dict()) == ["embedding.bias", "embedding.weight"]
    classifier = Classifier(input_size=6, lin_blocks=0, out_neurons=4)
    cost = LogSoftmaxWrapper(AdditiveAngularMargin(margin=0.2, scale=30.0))
    emb = head(torch.randn(3, 10, 8), torch.tensor([1.0, 0.6, 0.8]))
    assert emb.shape == (3, 6) and head.embedding_size == 6
    cosine = classifier(emb.unsqueeze(1))  # B x 1 x speakers
    assert cosine.shape == (3, 1, 4) and cosine.abs().max() <= 1.0 + 1e-6
    loss = cost(cosine, torch.tensor([[0], [3], [1]]))
    loss.backward()
    assert classifier.weight.grad is not None
    assert head.embedding.weight.grad is not None


def test_aam_margin_lowers_the_target_logit():
    cosine = torch.tensor([[0.6, 0.2, -0.1]])
    one_hot = torch.tensor([[1.0, 0.0, 0.0]])
    plain = AdditiveAngularMargin(margin=0.0, scale=30.0)(cosine, one_hot)
    margin = AdditiveAngularMargin(margin=0.2, scale=30.0)(cosine, one_hot)
    assert margin[0, 0] < plain[0, 0]
    torch.testing.assert_close(margin[0, 1:], plain[0, 1:])


def test_bad_pooling_name():
    with pytest.raises(ValueError, match="Expected pooling 'stats' or 'mean'"):
        SVHead(pooling="max")


def test_masked_mean_std_matches_torch_on_the_valid_steps():
    """The one masked-statistics helper (waveform normalisation, statistics
    pooling, loss averages) against torch.mean / torch.std of each valid part;
    padding, however large, changes nothing."""
    from kdsrl_lobes.models.padding import length_mask, masked_mean, masked_mean_std
    from kdsrl_lobes.models.pooling import MaskedStatisticsPooling

    torch.manual_seed(0)
    x = torch.randn(3, 10, 4) * 2 + 1
    lengths = torch.tensor([1.0, 0.5, 0.3])
    mask = length_mask(lengths, 10)
    x[~mask] = 1e6
    mean, std = masked_mean_std(x, mask, dim=1, eps=0.0)
    assert mean.shape == std.shape == (3, 4)
    for i, valid in enumerate((10, 5, 3)):
        part = x[i, :valid]
        torch.testing.assert_close(mean[i], part.mean(0))
        torch.testing.assert_close(std[i], part.std(0, correction=0))
    torch.testing.assert_close(masked_mean(x, mask, dim=1), mean)
    stats = MaskedStatisticsPooling(return_std=True, eps=0.0)(x, lengths)
    torch.testing.assert_close(stats, torch.cat([mean, std], dim=-1))
    wav = x[..., 0]  # B x T
    keep_mean, keep_std = masked_mean_std(wav, mask, dim=1, eps=0.0, keepdim=True)
    assert keep_mean.shape == keep_std.shape == (3, 1)
    torch.testing.assert_close(keep_std[:, 0], std[:, 0])
    torch.testing.assert_close(masked_mean(wav, mask), wav[mask].mean())
    no_mask = masked_mean_std(x, dim=1, eps=0.0)
    torch.testing.assert_close(no_mask[1], x.std(1, correction=0))

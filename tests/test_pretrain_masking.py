"""Span masking and negative sampling checks."""

import numpy as np
import pytest
import torch

from kdsrl_lobes.pretrain.masking import sample_negatives, span_mask


def _valid(lengths, size):
    return torch.arange(size)[None, :] < torch.tensor(lengths)[:, None]


def test_span_mask_covers_about_mask_prob_inside_valid_frames():
    np.random.seed(0)
    valid = _valid([200, 120, 200, 60], 200)
    mask = span_mask(valid, mask_prob=0.5, mask_length=10)
    assert not (mask & ~valid).any()
    share = mask.sum() / valid.sum()
    assert 0.25 < share < 0.55  # spans overlap: below mask_prob, well above 0
    # masks come in runs (spans), not isolated frames
    starts = (mask[:, 1:] & ~mask[:, :-1]).sum()
    assert mask.sum() >= 5 * starts


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(mask_prob=0.0), "masks nothing"),
        (dict(mask_prob=1.5), r"\(0, 1\]"),
        (dict(mask_length=0), "mask_length must be >= 1"),
        (dict(mask_length=80), "does not fit"),
        (dict(mask_prob=0.05, mask_length=10, min_masks=0), "nothing would be"),
    ],
)
def test_span_mask_configurations_that_mask_nothing_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        span_mask(_valid([100, 50], 100), **kwargs)


def test_every_utterance_gets_a_span_even_with_low_mask_prob():
    np.random.seed(1)
    mask = span_mask(_valid([100, 50], 100), mask_prob=0.05, mask_length=10)
    assert mask.any(dim=1).all()


def test_negatives_come_from_other_valid_frames_of_the_same_utterance():
    np.random.seed(0)
    valid = _valid([40, 25], 40)
    neg = sample_negatives(valid, 8)
    assert neg.shape == (2, 40, 8)
    own = torch.arange(40)[None, :, None] + torch.tensor([0, 40])[:, None, None]
    assert not (neg == own)[valid].any()
    assert ((neg[0] >= 0) & (neg[0] < 40)).all()
    assert ((neg[1][valid[1]] >= 40) & (neg[1][valid[1]] < 65)).all()


def test_negatives_need_two_frames():
    with pytest.raises(ValueError, match="at least 2 valid frames"):
        sample_negatives(_valid([1, 5], 5), 3)


def test_cross_sample_negatives_come_from_other_utterances_valid_frames():
    np.random.seed(0)
    torch.manual_seed(0)
    valid = _valid([40, 25, 30], 40)
    neg = sample_negatives(valid, 4, cross_sample_negatives=6)
    assert neg.shape == (3, 40, 10)
    cross = neg[..., 4:]
    owner, frame = cross // 40, cross % 40
    assert not (owner == torch.arange(3)[:, None, None]).any()
    lengths = torch.tensor([40, 25, 30])
    assert (frame < lengths[owner]).all(), "a distractor fell in the padding"
    assert set(owner[0].unique().tolist()) == {1, 2}


def test_cross_sample_negatives_need_another_utterance():
    with pytest.raises(ValueError, match="at least 2 utterances, found 1"):
        sample_negatives(_valid([30], 30), 3, cross_sample_negatives=2)
    with pytest.raises(ValueError, match="cross_sample_negatives must be >= 0"):
        sample_negatives(_valid([30, 30], 30), 3, cross_sample_negatives=-1)

"""Span masking and negative sampling for masked-prediction pre-training.

Thin, checked wrappers around transformers' own ``_compute_mask_indices`` (the
span masking of wav2vec 2.0 and HuBERT: each frame starts a span of
``mask_length`` frames with probability ``mask_prob / mask_length``, so that
about ``mask_prob`` of the frames are masked before overlaps) and
``_sample_negative_indices`` (wav2vec 2.0's distractors from the same
utterance). The wrappers take torch masks, keep spans out of the padding and
raise a ValueError for a configuration that would mask nothing, where
transformers silently returns an all-False mask and the loss is 0/0.

Authors
 * kdsrl team 2026
"""

import numpy as np
import torch
from transformers.models.wav2vec2.modeling_wav2vec2 import (
    _compute_mask_indices,
    _sample_negative_indices,
)


def span_mask(
    frame_mask: torch.Tensor,
    mask_prob: float = 0.8,
    mask_length: int = 10,
    min_masks: int = 1,
) -> torch.Tensor:
    """Draws span masks ``[batch, frames]`` inside the valid frames.

    Arguments
    ---------
    frame_mask : torch.Tensor
        Boolean ``[batch, frames]``, True on valid (non-padding) frames; valid
        frames must come first, as for SpeechBrain relative lengths.
    mask_prob : float
        In (0, 1]: share of frames that start a span, times ``mask_length``
        (0.8 for HuBERT, 0.65 for wav2vec 2.0).
    mask_length : int
        Span length in frames (10 in both papers).
    min_masks : int
        At least this many spans per utterance.

    Returns
    -------
    mask : torch.Tensor
        Boolean ``[batch, frames]``, True on the frames to mask, on
        ``frame_mask``'s device; every utterance has at least one masked frame.

    Example
    -------
    >>> _ = np.random.seed(0)
    >>> valid = torch.ones(2, 100, dtype=torch.bool)
    >>> valid[1, 60:] = False
    >>> m = span_mask(valid, mask_prob=0.5, mask_length=5)
    >>> m.shape, bool(m[1, 60:].any()), bool(m.any(dim=1).all())
    (torch.Size([2, 100]), False, True)
    """
    if frame_mask.dim() != 2:
        raise ValueError(
            f"Expected a [batch, frames] frame mask, found {list(frame_mask.shape)}"
        )
    if not 0.0 < mask_prob <= 1.0:
        raise ValueError(
            f"mask_prob must be in (0, 1], found {mask_prob}: this masks nothing, "
            "and a masked-prediction loss needs masked frames"
        )
    if mask_length < 1:
        raise ValueError(f"mask_length must be >= 1 frame, found {mask_length}")
    if min_masks < 0:
        raise ValueError(f"min_masks must be >= 0, found {min_masks}")
    lengths = frame_mask.sum(dim=1)
    shortest = int(lengths.min())
    if shortest < mask_length:
        raise ValueError(
            f"A span of mask_length={mask_length} frames does not fit in an "
            f"utterance of {shortest} frames: use longer crops or shorter spans"
        )
    if mask_prob * shortest / mask_length < 1.0 and min_masks < 1:
        raise ValueError(
            f"mask_prob={mask_prob} with mask_length={mask_length} gives no span "
            f"in an utterance of {shortest} frames and min_masks=0: nothing would "
            "be masked"
        )
    mask = _compute_mask_indices(
        tuple(frame_mask.shape),
        mask_prob=mask_prob,
        mask_length=mask_length,
        attention_mask=frame_mask.long().cpu(),
        min_masks=min_masks,
    )
    mask = torch.from_numpy(mask).to(frame_mask.device) & frame_mask
    if not mask.any(dim=1).all():
        raise ValueError("Span masking left an utterance without any masked frame")
    return mask


def sample_negatives(
    frame_mask: torch.Tensor, num_negatives: int, cross_sample_negatives: int = 0
) -> torch.Tensor:
    """wav2vec 2.0 distractors: for each frame, ``num_negatives`` other valid
    frames of the same utterance and ``cross_sample_negatives`` valid frames of
    the *other* utterances of the batch, as flat indices into
    ``[batch * frames]``.

    Arguments
    ---------
    frame_mask : torch.Tensor
        Boolean ``[batch, frames]``, True on valid frames (at least 2 each).
    num_negatives : int
        Distractors per frame from the same utterance (100 in wav2vec 2.0).
    cross_sample_negatives : int
        Distractors per frame from the other utterances (fairseq's
        ``cross_sample_negatives``, 0 in wav2vec 2.0). Same-utterance
        distractors share the positive's speaker, so they teach the context
        network to drop it; these keep the speaker useful to the task.

    Returns
    -------
    indices : torch.Tensor
        Long ``[batch, frames, num_negatives + cross_sample_negatives]`` on
        ``frame_mask``'s device, what
        ``Wav2Vec2ForPreTraining(sampled_negative_indices=...)`` takes (it
        indexes the flattened batch, so distractors may come from any utterance).

    Example
    -------
    >>> _ = np.random.seed(0)
    >>> idx = sample_negatives(torch.ones(2, 30, dtype=torch.bool), 5)
    >>> idx.shape, bool((idx[1] >= 30).all())
    (torch.Size([2, 30, 5]), True)
    >>> idx = sample_negatives(torch.ones(2, 30, dtype=torch.bool), 5, 3)
    >>> idx.shape, bool((idx[0, :, 5:] >= 30).all()), bool((idx[1, :, 5:] < 30).all())
    (torch.Size([2, 30, 8]), True, True)
    """
    if num_negatives < 1:
        raise ValueError(f"num_negatives must be >= 1, found {num_negatives}")
    shortest = int(frame_mask.sum(dim=1).min())
    if shortest < 2:
        raise ValueError(
            f"Negative sampling needs at least 2 valid frames per utterance, "
            f"found {shortest}"
        )
    if cross_sample_negatives < 0:
        raise ValueError(
            f"cross_sample_negatives must be >= 0, found {cross_sample_negatives}"
        )
    batch, frames = frame_mask.shape
    if cross_sample_negatives and batch < 2:
        raise ValueError(
            "cross_sample_negatives needs a batch of at least 2 utterances, found 1"
        )
    indices = _sample_negative_indices(
        (batch, frames),
        num_negatives,
        mask_time_indices=frame_mask.cpu().numpy(),
    )
    indices = torch.from_numpy(indices.astype(np.int64))
    if cross_sample_negatives:
        # transformers samples within an utterance only: the cross-utterance
        # draw (uniform over the other utterances' valid frames) is ours
        valid = frame_mask.cpu().reshape(-1).nonzero().squeeze(1)
        owner = valid // frames
        cross = []
        for b in range(batch):
            candidates = valid[owner != b]
            draw = torch.randint(len(candidates), (frames, cross_sample_negatives))
            cross.append(candidates[draw])
        indices = torch.cat([indices, torch.stack(cross)], dim=-1)
    return indices.to(frame_mask.device)

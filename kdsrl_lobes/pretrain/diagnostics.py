"""Diagnostics of self-supervised pre-training: are the targets learnable?

A masked frame's target can only be predicted from its context if the targets
change slowly compared with the masked spans. HuBERT's MFCC-cluster targets
are smooth from the first step; wav2vec 2.0 quantises its own CNN's features,
which at random initialisation can follow waveform detail from one 20 ms frame
to the next. `cnn_feature_similarity` measures that for any wav2vec 2.0 /
HuBERT / WavLM model; `Wav2Vec2Pretrainer.code_statistics` adds what the
quantiser makes of it (figures: recipes/LibriSpeech/pretrain/README.md).

Authors
 * kdsrl team 2026
"""

import torch


@torch.no_grad()
def cnn_features(model: torch.nn.Module, wav: torch.Tensor) -> torch.Tensor:
    """The CNN's output ``[batch, frames, channels]`` after the feature
    projection's layer norm where the model has one: what wav2vec 2.0 quantises
    (``extract_features``) and what the transformer's projection sees, without
    running the transformer."""
    features = model.feature_extractor(wav).transpose(1, 2)  # B x T x C
    projection = getattr(model, "feature_projection", None)
    if getattr(projection, "layer_norm", None) is not None:
        features = projection.layer_norm(features)
    return features


def adjacent_similarity(features: torch.Tensor, frame_mask: torch.Tensor) -> float:
    """Mean cosine similarity of consecutive valid frames of ``features``
    ``[batch, frames, dim]``, centred on their mean over the valid frames (0:
    unrelated frames, 1: constant).

    Example
    -------
    >>> walk = torch.cumsum(torch.randn(2, 50, 8), dim=1)  # neighbours alike
    >>> adjacent_similarity(walk, torch.ones(2, 50, dtype=torch.bool)) > 0.5
    True
    """
    if features.shape[:2] != frame_mask.shape:
        raise ValueError(
            f"Expected a frame mask of shape {list(features.shape[:2])}, found "
            f"{list(frame_mask.shape)}"
        )
    pairs = frame_mask[:, 1:] & frame_mask[:, :-1]  # B x (T - 1)
    if not pairs.any():
        raise ValueError("No two consecutive valid frames to compare")
    centred = features - features[frame_mask].mean(0)
    cosine = torch.nn.functional.cosine_similarity(
        centred[:, 1:], centred[:, :-1], dim=-1
    )
    return float(cosine[pairs].mean())


def cnn_feature_similarity(
    model: torch.nn.Module, wav: torch.Tensor, frame_mask: torch.Tensor
) -> float:
    """`adjacent_similarity` of the `cnn_features` of ``wav`` ``[batch, time]``.

    Arguments
    ---------
    model : transformers.PreTrainedModel
        A ``Wav2Vec2Model`` / ``HubertModel`` / ``WavLMModel``.
    wav : torch.Tensor
        ``[batch, time]`` model input.
    frame_mask : torch.Tensor
        Boolean ``[batch, frames]``, True on valid frames.

    Example
    -------
    >>> from kdsrl_lobes.models.configs import random_speech_model
    >>> model = random_speech_model("wav2vec2", "tiny")
    >>> valid = torch.ones(2, 19, dtype=torch.bool)
    >>> sim = cnn_feature_similarity(model, torch.randn(2, 6400), valid)
    >>> -1.0 <= sim <= 1.0
    True
    """
    return adjacent_similarity(cnn_features(model, wav), frame_mask)

"""Self-supervised pre-training of the teachers: HuBERT's first iteration (k-means
targets on MFCCs) and wav2vec 2.0's contrastive objective, as SpeechBrain lobes."""

from kdsrl_lobes.pretrain.history import LossHistory
from kdsrl_lobes.pretrain.masking import sample_negatives, span_mask
from kdsrl_lobes.pretrain.objectives import HubertPretrainer, Wav2Vec2Pretrainer
from kdsrl_lobes.pretrain.targets import (
    ClusterTargets,
    kmeans,
    mfcc_features,
    training_features,
)
from kdsrl_lobes.pretrain.views import ChannelViews

__all__ = [
    "ChannelViews",
    "ClusterTargets",
    "HubertPretrainer",
    "LossHistory",
    "Wav2Vec2Pretrainer",
    "kmeans",
    "mfcc_features",
    "sample_negatives",
    "span_mask",
    "training_features",
]

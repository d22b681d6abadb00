"""Self-supervised pre-training of the teachers, as SpeechBrain lobes: HuBERT's
first iteration (k-means targets on MFCCs), its RobustHuBERT-style variant
(distorted input, clean targets), WavLM (the same targets on a WavLM encoder,
with utterance mixing) and wav2vec 2.0's contrastive objective."""

from kdsrl_lobes.pretrain.history import LossHistory
from kdsrl_lobes.pretrain.masked_prediction import HubertPretrainer, WavLMPretrainer
from kdsrl_lobes.pretrain.masking import sample_negatives, span_mask
from kdsrl_lobes.pretrain.mixing import UtteranceMixing
from kdsrl_lobes.pretrain.targets import (
    ClusterTargets,
    kmeans,
    mfcc_features,
    training_features,
)
from kdsrl_lobes.pretrain.views import ChannelViews
from kdsrl_lobes.pretrain.wav2vec2 import Wav2Vec2Pretrainer

__all__ = [
    "ChannelViews",
    "ClusterTargets",
    "HubertPretrainer",
    "LossHistory",
    "UtteranceMixing",
    "Wav2Vec2Pretrainer",
    "WavLMPretrainer",
    "kmeans",
    "mfcc_features",
    "sample_negatives",
    "span_mask",
    "training_features",
]

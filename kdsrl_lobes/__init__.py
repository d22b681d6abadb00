"""kdsrl_lobes: reusable SpeechBrain lobes for distilling self-supervised speech
models (wav2vec 2.0, HuBERT, WavLM) into a small student and fine-tuning it on
several voice tasks at once."""

from kdsrl_lobes.encoder import SSLEncoder, load_encoder
from kdsrl_lobes.heads import KWSHead, PredictionHeads, SVHead
from kdsrl_lobes.losses import DistillationLoss, layer_distillation_loss
from kdsrl_lobes.student import build_student, build_student_encoder
from kdsrl_lobes.teacher import DEFAULT_TARGET_LAYERS, load_teacher

__all__ = [
    "DEFAULT_TARGET_LAYERS",
    "DistillationLoss",
    "KWSHead",
    "PredictionHeads",
    "SSLEncoder",
    "SVHead",
    "build_student",
    "build_student_encoder",
    "layer_distillation_loss",
    "load_encoder",
    "load_teacher",
]

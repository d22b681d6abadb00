"""kdsrl_lobes: reusable SpeechBrain lobes for distilling self-supervised speech
models (wav2vec 2.0, HuBERT, WavLM) into a small student and fine-tuning it on
several voice tasks at once.

Subpackages, by role: ``models`` (what gets deployed), ``training`` (what only
training needs), ``evaluation``, ``hub`` (packaging, inference, export),
``data`` (corpus preparation; ``data.synth`` the embedded generator) and
``pretrain`` (the embedded teachers' objectives). The names below are the
public interface that recipes ``!new:`` / ``!apply:``; docs/ARCHITECTURE.md
maps the rest."""

from kdsrl_lobes.hub.inference import MultiTaskSpeechModel
from kdsrl_lobes.models.encoder import SSLEncoder, load_encoder
from kdsrl_lobes.models.ensemble import EnsembleTeacher, load_ensemble_teacher
from kdsrl_lobes.models.heads import KWSHead, PredictionHeads, SVHead
from kdsrl_lobes.models.student import build_student, build_student_encoder
from kdsrl_lobes.models.teacher import DEFAULT_TARGET_LAYERS, load_teacher
from kdsrl_lobes.training.losses import DistillationLoss, layer_distillation_loss

__all__ = [
    "DEFAULT_TARGET_LAYERS",
    "DistillationLoss",
    "EnsembleTeacher",
    "KWSHead",
    "MultiTaskSpeechModel",
    "PredictionHeads",
    "SSLEncoder",
    "SVHead",
    "build_student",
    "build_student_encoder",
    "layer_distillation_loss",
    "load_encoder",
    "load_ensemble_teacher",
    "load_teacher",
]

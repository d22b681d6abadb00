"""Corpus synthesis and per-dataset preparation.

- ``python -m kdsrl_lobes.data.synth --output DIR [--quick]`` generates the embedded
  offline corpus (GSC V1, VoxCeleb1 and LibriSpeech layouts) with espeak-ng.
- ``prepare_gsc``, ``prepare_voxceleb1`` and ``prepare_librispeech`` write the
  recipes' CSVs, for the generated or the real corpora alike.
- ``load_audio`` reads one CSV row's audio in the recipes' data pipelines.
"""

from kdsrl_lobes.data.audio import load_audio
from kdsrl_lobes.data.csv_utils import read_csv_rows
from kdsrl_lobes.data.gsc import GSC_CLASSES, GSC_KEYWORDS
from kdsrl_lobes.data.prepare_gsc import prepare_gsc
from kdsrl_lobes.data.prepare_librispeech import prepare_librispeech
from kdsrl_lobes.data.prepare_voxceleb1 import find_trials, prepare_voxceleb1
from kdsrl_lobes.data.trials import read_trials

__all__ = [
    "GSC_CLASSES",
    "GSC_KEYWORDS",
    "find_trials",
    "load_audio",
    "prepare_gsc",
    "prepare_librispeech",
    "prepare_voxceleb1",
    "read_csv_rows",
    "read_trials",
]

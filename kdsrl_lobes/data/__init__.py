"""Corpus synthesis and per-dataset preparation.

- ``python -m kdsrl_lobes.data.synth --output DIR [--quick]`` generates the embedded
  offline corpus (GSC V1, VoxCeleb1, LibriSpeech and IEMOCAP layouts) with
  espeak-ng.
- ``prepare_gsc``, ``prepare_voxceleb1`` and ``prepare_librispeech`` write the
  recipes' CSVs, for the generated or the real corpora alike;
  ``official_test_rows`` reads GSC V1's official test-set folder and
  ``add_gsc_speakers`` adds GSC speakers to the SV training rows.
- SUPERB's downstream tasks: ``prepare_voxceleb1_sid`` (speaker identification
  over ``iden_split.txt``, found by ``find_iden_split``), ``prepare_iemocap``
  (emotion recognition, leave-one-session-out) and the LibriSpeech lexicon of
  phoneme recognition (``find_lexicon``, ``read_lexicon``, ``words_to_phones``,
  ``check_lexicon``).
- ``load_audio`` reads one CSV row's audio in the recipes' data pipelines.
"""

from kdsrl_lobes.data.audio import load_audio
from kdsrl_lobes.data.csv_utils import read_csv_rows
from kdsrl_lobes.data.gsc import GSC_CLASSES, GSC_KEYWORDS
from kdsrl_lobes.data.gsc_official_test import official_test_rows
from kdsrl_lobes.data.lexicon import (
    check_lexicon,
    find_lexicon,
    read_lexicon,
    words_to_phones,
)
from kdsrl_lobes.data.prepare_gsc import prepare_gsc
from kdsrl_lobes.data.prepare_iemocap import EMOTION_CLASSES, prepare_iemocap
from kdsrl_lobes.data.prepare_librispeech import prepare_librispeech
from kdsrl_lobes.data.prepare_voxceleb1 import (
    find_iden_split,
    find_trials,
    prepare_voxceleb1,
    prepare_voxceleb1_sid,
)
from kdsrl_lobes.data.sv_extra import add_gsc_speakers
from kdsrl_lobes.data.trials import read_trials, write_trials

__all__ = [
    "EMOTION_CLASSES",
    "GSC_CLASSES",
    "GSC_KEYWORDS",
    "add_gsc_speakers",
    "check_lexicon",
    "find_iden_split",
    "find_lexicon",
    "find_trials",
    "load_audio",
    "official_test_rows",
    "prepare_gsc",
    "prepare_iemocap",
    "prepare_librispeech",
    "prepare_voxceleb1",
    "prepare_voxceleb1_sid",
    "read_csv_rows",
    "read_lexicon",
    "read_trials",
    "words_to_phones",
    "write_trials",
]

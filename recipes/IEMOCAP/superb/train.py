#!/usr/bin/env python3
"""SUPERB emotion recognition (ER) of a frozen encoder on IEMOCAP: four
classes (neutral, happy with excited merged in, angry, sad; other labels are
skipped and counted), one leave-one-session-out fold: test accuracy,
balanced accuracy and per-class recall, with 95 % bootstrap intervals.

To run:
    python train.py hparams/er.yaml --encoder_source=<dir | hub id | fbank> \
        --data_folder=<IEMOCAP_full_release> [--test_session=5]
Run it once per ``--test_session`` (1 to 5) for SUPERB's five folds.
Add ``--debug`` for a few batches; rerun the same command to resume.
Multi-process: ``torchrun --nproc_per_node=2 train.py ... --distributed_backend=gloo``

Authors
 * kdsrl team 2026
"""

import os
import sys

from kdsrl_lobes.data import EMOTION_CLASSES, prepare_iemocap
from kdsrl_lobes.downstream.brains import UtteranceClassBrain
from kdsrl_lobes.downstream.data import classification_datasets
from kdsrl_lobes.downstream.recipe import require_folder, run_downstream


def save_folder(values) -> str:
    """Where this fold's CSVs go."""
    return os.path.join(
        values["data_save_folder"], f"iemocap_session{values['test_session']}"
    )


def prepare(values):
    """The fold's CSVs: ``test_session`` tests, the others train and valid."""
    prepare_iemocap(
        require_folder(values["data_folder"], "data_folder"),
        save_folder(values),
        test_session=values["test_session"],
        valid_ratio=values["valid_ratio"],
    )


def build(hparams):
    """Datasets with the four emotions encoded."""
    folder = save_folder(hparams)
    csvs = {s: os.path.join(folder, f"{s}.csv") for s in ("train", "valid", "test")}
    datasets, encoder = classification_datasets(
        csvs, "emotion", hparams["label_encoder_file"], labels=EMOTION_CLASSES
    )
    hparams["label_encoder"] = encoder
    return datasets, {}


if __name__ == "__main__":
    run_downstream(sys.argv[1:], UtteranceClassBrain, prepare, build)

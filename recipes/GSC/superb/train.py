#!/usr/bin/env python3
"""SUPERB keyword spotting (KS) of a frozen encoder on Google Speech Commands
V1, 12 classes: accuracy, balanced accuracy and per-class recall of the best
checkpoint, with 95 % bootstrap intervals, in ``<output_folder>/metrics.json``.

To run:
    python train.py hparams/ks.yaml --encoder_source=<dir | hub id | fbank> \
        --gsc_folder=<speech_commands_v0.01> \
        [--test_folder=<speech_commands_test_set_v0.01>]
Add ``--debug`` for a few batches; rerun the same command to resume.
Multi-process: ``torchrun --nproc_per_node=2 train.py ... --distributed_backend=gloo``

Authors
 * kdsrl team 2026
"""

import os
import sys

from kdsrl_lobes.data import GSC_CLASSES, prepare_gsc
from kdsrl_lobes.downstream.brains import UtteranceClassBrain
from kdsrl_lobes.downstream.data import classification_datasets
from kdsrl_lobes.downstream.recipe import require_folder, run_downstream


def prepare(values):
    """GSC V1 CSVs (``_unknown_`` subsampled; official test set if given)."""
    prepare_gsc(
        data_folder=require_folder(values["gsc_folder"], "gsc_folder"),
        save_folder=os.path.join(values["data_save_folder"], "gsc"),
        unknown_fraction=values["unknown_fraction"],
        test_folder=values.get("test_folder"),
    )


def build(hparams):
    """Datasets with the 12 classes encoded."""
    folder = os.path.join(hparams["data_save_folder"], "gsc")
    csvs = {
        split: os.path.join(folder, f"{split}.csv")
        for split in ("train", "valid", "test")
    }
    datasets, encoder = classification_datasets(
        csvs, "command", hparams["label_encoder_file"], labels=GSC_CLASSES
    )
    hparams["label_encoder"] = encoder
    return datasets, {}


if __name__ == "__main__":
    run_downstream(sys.argv[1:], UtteranceClassBrain, prepare, build)

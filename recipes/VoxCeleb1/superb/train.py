#!/usr/bin/env python3
"""SUPERB speaker identification (SID) and automatic speaker verification
(ASV) of a frozen encoder on VoxCeleb1.

- ``hparams/sid.yaml``: the identification split (``iden_split.txt``), masked
  mean pooling + linear over all its speakers; test accuracy.
- ``hparams/asv.yaml``: an x-vector head trained with additive angular margin
  softmax on the dev speakers; cosine scores of the trial list; EER, minDCF.
Every metric comes with its 95 % bootstrap interval in ``metrics.json``.

To run:
    python train.py hparams/sid.yaml --encoder_source=<dir | hub id | fbank> \
        --voxceleb_folder=<voxceleb1>
    python train.py hparams/asv.yaml --encoder_source=... --voxceleb_folder=...
Add ``--debug`` for a few batches; rerun the same command to resume.
Multi-process: ``torchrun --nproc_per_node=2 train.py ... --distributed_backend=gloo``

Authors
 * kdsrl team 2026
"""

import os
import sys

from kdsrl_lobes.data import (
    find_trials,
    prepare_voxceleb1,
    prepare_voxceleb1_sid,
    read_csv_rows,
    read_trials,
)
from kdsrl_lobes.downstream.brains import UtteranceClassBrain, VerificationBrain
from kdsrl_lobes.downstream.data import classification_datasets, utterance_dataset
from kdsrl_lobes.downstream.recipe import require_folder, run_downstream

SPLITS = ("train", "valid", "test")


def csv_paths(values) -> dict[str, str]:
    """The prepared CSVs of the task (SID: ``sid_<split>.csv``)."""
    folder = os.path.join(values["data_save_folder"], "voxceleb1")
    prefix = "sid_" if values["task"] == "sid" else ""
    return {split: os.path.join(folder, f"{prefix}{split}.csv") for split in SPLITS}


def prepare(values):
    """SID: the identification split's CSVs; ASV: dev speakers' train/valid
    and the trial list's test files."""
    folder = require_folder(values["voxceleb_folder"], "voxceleb_folder")
    save = os.path.join(values["data_save_folder"], "voxceleb1")
    if values["task"] == "sid":
        prepare_voxceleb1_sid(folder, save, iden_split=values.get("iden_split_file"))
    else:
        prepare_voxceleb1(
            folder,
            save,
            trials=find_trials(values["voxceleb_folder"], values.get("trials_file")),
            valid_ratio=values["valid_ratio"],
        )


def count_speakers(values) -> int:
    """Speakers of the training CSV: the classifier's outputs."""
    return len({row["spk_id"] for row in read_csv_rows(csv_paths(values)["train"])})


def build(hparams):
    """Speaker-labelled datasets; ASV tests on the trial list's utterances."""
    csvs = csv_paths(hparams)
    if hparams["task"] == "sid":
        datasets, encoder = classification_datasets(
            csvs, "spk_id", hparams["label_encoder_file"]
        )
        hparams["label_encoder"] = encoder
        return datasets, {}
    datasets, encoder = classification_datasets(
        {split: csvs[split] for split in ("train", "valid")},
        "spk_id",
        hparams["label_encoder_file"],
        crop_seconds={"train": hparams["train_crop_seconds"]},
    )
    datasets["test"] = utterance_dataset(csvs["test"])
    return datasets, {
        "trials": read_trials(
            find_trials(hparams["voxceleb_folder"], hparams.get("trials_file"))
        )
    }


if __name__ == "__main__":
    run_downstream(
        sys.argv[1:],
        {"sid": UtteranceClassBrain, "asv": VerificationBrain},
        prepare,
        build,
        auto={"n_outputs": count_speakers},
    )

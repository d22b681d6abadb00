#!/usr/bin/env python3
"""SUPERB phoneme recognition (PR) and speech recognition (ASR) of a frozen
encoder on LibriSpeech, both with CTC and greedy decoding.

- ``hparams/pr.yaml``: phones from a pronunciation lexicon in the format of
  ``librispeech-lexicon.txt`` (stress removed), one linear layer; test PER.
- ``hparams/asr.yaml``: characters (``|`` between words), a small BiLSTM;
  test WER and CER (SpeechBrain's ``ErrorRateStats``).
Every rate comes with its 95 % bootstrap interval over speakers.

To run:
    python train.py hparams/pr.yaml --encoder_source=<dir | hub id | fbank> \
        --data_folder=<LibriSpeech> [--lexicon_file=<librispeech-lexicon.txt>]
    python train.py hparams/asr.yaml --encoder_source=... --data_folder=...
Add ``--debug`` for a few batches; rerun the same command to resume.
Multi-process: ``torchrun --nproc_per_node=2 train.py ... --distributed_backend=gloo``

Authors
 * kdsrl team 2026
"""

import os
import sys

from kdsrl_lobes.data import (
    check_lexicon,
    find_lexicon,
    prepare_librispeech,
    read_csv_rows,
    read_lexicon,
    words_to_phones,
)
from kdsrl_lobes.downstream.brains import CTCBrain
from kdsrl_lobes.downstream.data import ctc_datasets
from kdsrl_lobes.downstream.recipe import require_folder, run_downstream

SPLITS = ("train", "valid", "test")


def split_names(values) -> dict[str, str]:
    """``{train|valid|test: LibriSpeech split folder}``."""
    return {split: values[f"{split}_split"] for split in SPLITS}


def csv_paths(values) -> dict[str, str]:
    """The prepared CSV of each split."""
    folder = os.path.join(values["data_save_folder"], "librispeech")
    names = split_names(values)
    return {split: os.path.join(folder, f"{names[split]}.csv") for split in SPLITS}


def lexicon_of(values) -> dict | None:
    """PR: the lexicon (``lexicon_file`` or the one beside the corpus)."""
    if values["task"] != "pr":
        return None
    return read_lexicon(
        values.get("lexicon_file") or find_lexicon(values["data_folder"])
    )


def tokenizer_of(values):
    """A CSV row -> its CTC tokens: phones (PR) or characters (ASR)."""
    lexicon = lexicon_of(values)
    if lexicon is not None:
        return lambda row: words_to_phones(
            row["transcript"].split(), lexicon, row["ID"]
        )
    separator = values["word_separator"]
    return lambda row: list(separator.join(row["transcript"].split()))


def prepare(values):
    """LibriSpeech CSVs; for PR every transcript word is looked up in the
    lexicon first (a missing one is named with its utterance)."""
    folder = require_folder(values["data_folder"], "data_folder")
    prepare_librispeech(
        folder,
        os.path.join(values["data_save_folder"], "librispeech"),
        splits=tuple(dict.fromkeys(split_names(values).values())),
    )
    lexicon = lexicon_of(values)
    if lexicon is not None:
        for csv in csv_paths(values).values():
            check_lexicon(read_csv_rows(csv), lexicon)


def vocabulary(values) -> list[str]:
    """PR: every phone of the lexicon; ASR: every character of the
    transcripts of all three splits, and the word separator."""
    lexicon = lexicon_of(values)
    if lexicon is not None:
        return sorted({phone for phones in lexicon.values() for phone in phones})
    tokens_of = tokenizer_of(values)
    rows = [row for csv in csv_paths(values).values() for row in read_csv_rows(csv)]
    return sorted({t for row in rows for t in tokens_of(row)})


def count_tokens(values) -> int:
    """Output tokens: the vocabulary and the CTC blank."""
    return len(vocabulary(values)) + 1


def build(hparams):
    """Token-labelled datasets and the test speakers (interval groups)."""
    csvs = csv_paths(hparams)
    datasets, tokenizer = ctc_datasets(
        csvs, tokenizer_of(hparams), hparams["tokenizer_file"], vocabulary(hparams)
    )
    hparams["tokenizer"] = tokenizer
    speakers = {row["ID"]: row["spk_id"] for row in read_csv_rows(csvs["test"])}
    return datasets, {"speakers": speakers}


if __name__ == "__main__":
    run_downstream(
        sys.argv[1:], CTCBrain, prepare, build, auto={"n_outputs": count_tokens}
    )

"""Datasets of the SUPERB-style recipes, built from the prepared CSVs.

Every split reads whole utterances (no random crops): the upstream is frozen,
so an utterance's hidden states are the same every epoch and can be cached.

Authors
 * kdsrl team 2026
"""

import os
from collections.abc import Callable, Sequence

import speechbrain as sb
import torch

from kdsrl_lobes.training.crops import audio_pipeline


def utterance_dataset(
    csv: str, crop_seconds: float = 0.0
) -> sb.dataio.dataset.DynamicItemDataset:
    """A prepared CSV's utterances as ``sig`` (keys ``id``, ``sig``): whole, or
    one fixed crop of ``crop_seconds`` each (the same every epoch, so that the
    upstream's cache holds it)."""
    if not os.path.isfile(csv):
        raise FileNotFoundError(f"Prepared CSV not found: {csv}")
    data = sb.dataio.dataset.DynamicItemDataset.from_csv(csv)
    if len(data) == 0:
        raise ValueError(f"{csv} has no rows")
    data.add_dynamic_item(audio_pipeline(crop_seconds, deterministic=True))
    data.set_output_keys(["id", "sig"])
    return data


def classification_datasets(
    csvs: dict[str, str],
    label_key: str,
    encoder_file: str,
    labels: Sequence[str] | None = None,
    crop_seconds: dict[str, float] | None = None,
) -> tuple[dict, sb.dataio.encoder.CategoricalEncoder]:
    """Train/valid/test datasets with ``label_encoded`` from column ``label_key``.

    Arguments
    ---------
    csvs : dict
        ``{split: csv path}``: ``train``, and any others (``valid``, ``test``).
    label_key : str
        The CSV column holding the class.
    encoder_file : str
        Where the label encoder is saved (and loaded from on resume).
    labels : sequence of str, optional
        The fixed classes (KS, ER); None takes the training set's (SID).
        A row whose class is not one of them is an error naming the CSV.
    crop_seconds : dict, optional
        ``{split: seconds}``: a fixed crop of each utterance of that split
        (ASV trains on 3 s crops, as SpeechBrain's VoxCeleb recipes do).

    Returns
    -------
    datasets : dict
        ``{split: DynamicItemDataset}`` with keys ``id``, ``sig``,
        ``label_encoded``.
    encoder : CategoricalEncoder
    """
    crops = crop_seconds or {}
    datasets = {
        split: utterance_dataset(csv, crops.get(split, 0.0))
        for split, csv in csvs.items()
    }
    encoder = sb.dataio.encoder.CategoricalEncoder()
    if labels is None:
        labels = sorted({row[label_key] for row in datasets["train"].data.values()})
    encoder.load_or_create(encoder_file, from_iterables=[list(labels)])
    encoder.expect_len(len(labels))
    for split, data in datasets.items():
        found = {row[label_key] for row in data.data.values()}
        unknown = sorted(found - set(labels))
        if unknown:
            raise ValueError(
                f"{csvs[split]} has {label_key} values the {len(labels)} classes "
                f"do not: {unknown[:5]}"
            )

    @sb.utils.data_pipeline.takes(label_key)
    @sb.utils.data_pipeline.provides("label_encoded")
    def label(value):
        return torch.LongTensor([encoder.encode_label(value)])

    for data in datasets.values():
        data.add_dynamic_item(label)
        data.set_output_keys(["id", "sig", "label_encoded"])
    return datasets, encoder


def ctc_datasets(
    csvs: dict[str, str],
    tokens_of: Callable[[dict], list[str]],
    encoder_file: str,
    vocabulary: Sequence[str],
) -> tuple[dict, sb.dataio.encoder.CTCTextEncoder]:
    """Train/valid/test datasets with ``tokens_encoded`` for CTC.

    Arguments
    ---------
    csvs : dict
        ``{split: csv path}``.
    tokens_of : callable
        A CSV row (dict, with its ``ID``) -> its token sequence (phones or
        characters); it raises for a transcript it cannot tokenise.
    encoder_file : str
        Where the token encoder (blank at index 0) is saved.
    vocabulary : sequence of str
        Every token (PR: the lexicon's phones, not only those the training
        transcripts use); a transcript token outside it is an error naming
        the CSV.

    Returns
    -------
    datasets : dict
        ``{split: DynamicItemDataset}`` with keys ``id``, ``sig``,
        ``tokens_encoded``.
    encoder : CTCTextEncoder
    """
    datasets = {split: utterance_dataset(csvs[split]) for split in csvs}
    tokens = {}
    for data in datasets.values():
        for utt, row in data.data.items():
            tokens[utt] = tokens_of({"ID": utt, **row})  # every row, before training
    encoder = sb.dataio.encoder.CTCTextEncoder()
    encoder.load_or_create(
        encoder_file,
        from_iterables=[list(vocabulary)],
        special_labels={"blank_label": 0},
    )
    encoder.expect_len(len(vocabulary) + 1)
    for split, data in datasets.items():
        unknown = sorted(
            {t for utt in data.data for t in tokens[utt]} - set(vocabulary)
        )
        if unknown:
            raise ValueError(
                f"{csvs[split]} has tokens outside the vocabulary: {unknown[:10]}"
            )

    @sb.utils.data_pipeline.takes("id")
    @sb.utils.data_pipeline.provides("tokens_encoded")
    def encode(utt):
        return encoder.encode_sequence_torch(tokens[utt])

    for data in datasets.values():
        data.add_dynamic_item(encode)
        data.set_output_keys(["id", "sig", "tokens_encoded"])
    return datasets, encoder

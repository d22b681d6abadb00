"""LibriSpeech preparation: one CSV per split, for pre-training and distillation."""

import os

from speechbrain.utils.logger import get_logger

from kdsrl_lobes.data.audio import scan_audio
from kdsrl_lobes.data.csv_utils import (
    BASE_COLUMNS,
    is_prepared,
    write_csv_atomic,
    write_json_atomic,
)

logger = get_logger(__name__)

LIBRI_COLUMNS: tuple[str, ...] = BASE_COLUMNS + ("transcript",)
MARKER = "prepare_librispeech.json"


def _read_split(split_folder: str) -> tuple[dict[str, str], dict[str, str]]:
    """Returns ``{utt_id: flac path}`` and ``{utt_id: transcript}`` of one split."""
    audio, text = {}, {}
    for spk in sorted(os.listdir(split_folder)):
        spk_folder = os.path.join(split_folder, spk)
        if not os.path.isdir(spk_folder):
            continue
        for chapter in sorted(os.listdir(spk_folder)):
            folder = os.path.join(spk_folder, chapter)
            if not os.path.isdir(folder):
                continue
            for name in sorted(os.listdir(folder)):
                path = os.path.join(folder, name)
                if name.endswith(".flac"):
                    audio[name[: -len(".flac")]] = path
                elif name.endswith(".trans.txt"):
                    with open(path, encoding="utf-8") as f:
                        for line in f:
                            utt, _, words = line.strip().partition(" ")
                            if utt:
                                text[utt] = words.strip()
    return audio, text


def prepare_librispeech(
    data_folder: str,
    save_folder: str,
    splits: tuple[str, ...] = ("train-clean-100",),
) -> dict[str, str]:
    """Writes ``<split>.csv`` for each LibriSpeech split.

    Layout: ``<data_folder>/<split>/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac``
    with ``<spk>-<chapter>.trans.txt``. Columns: ``ID, duration, wav, start, stop,
    spk_id, transcript`` (whole files: start 0, stop = number of samples).
    Utterances without a transcript line, and unreadable, empty or truncated files,
    are logged and skipped. Nothing is redone when ``prepare_librispeech.json``
    records the same options.

    Arguments
    ---------
    data_folder : str
        The ``LibriSpeech`` folder.
    save_folder : str
        Where the CSVs and ``prepare_librispeech.json`` go.
    splits : tuple[str, ...]
        Split folders to prepare, e.g. ``("train-clean-100", "dev-clean")``.

    Returns
    -------
    dict[str, str]
        The CSV path of each split.

    Example
    -------
    >>> prepare_librispeech("/no/such", "/tmp/x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: LibriSpeech data folder not found: /no/such
    """
    if not os.path.isdir(data_folder):
        raise FileNotFoundError(f"LibriSpeech data folder not found: {data_folder}")
    if isinstance(splits, str):
        raise TypeError(f"splits must be a sequence of split names, found {splits!r}")
    data_folder = os.path.abspath(data_folder)
    for split in splits:
        if not os.path.isdir(os.path.join(data_folder, split)):
            raise FileNotFoundError(
                f"LibriSpeech split folder not found: {os.path.join(data_folder, split)}"
            )
    outputs = {split: os.path.join(save_folder, f"{split}.csv") for split in splits}
    options = {"data_folder": data_folder, "splits": list(splits)}
    marker = os.path.join(save_folder, MARKER)
    if is_prepared(marker, options, list(outputs.values())):
        logger.info("LibriSpeech already prepared in %s, skipping", save_folder)
        return outputs
    counts = {}
    for split in splits:
        audio, text = _read_split(os.path.join(data_folder, split))
        untranscribed = sorted(set(audio) - set(text))
        if untranscribed:
            logger.warning(
                "skipped %d of %d %s files with no transcript line, e.g. %s",
                len(untranscribed), len(audio), split, audio[untranscribed[0]],
            )  # fmt: skip
        paths = [audio[utt] for utt in sorted(audio) if utt in text]
        infos, _ = scan_audio(paths, f"LibriSpeech {split}")
        rows = []
        for utt in sorted(audio):
            path = audio[utt]
            if utt in text and path in infos:
                rows.append(
                    {
                        "ID": utt,
                        "duration": round(infos[path].duration, 5),
                        "wav": path,
                        "start": 0,
                        "stop": infos[path].frames,
                        "spk_id": utt.split("-")[0],
                        "transcript": text[utt],
                    }
                )
        write_csv_atomic(outputs[split], rows, LIBRI_COLUMNS)
        counts[split] = len(rows)
        logger.info("LibriSpeech %s: %d rows -> %s", split, len(rows), outputs[split])
    write_json_atomic(marker, {"options": options, "rows": counts})
    return outputs

"""Google Speech Commands V1 preparation for the standard 12-class task."""

import os

import numpy as np
from speechbrain.utils.logger import get_logger

from kdsrl_lobes.data.audio import scan_audio
from kdsrl_lobes.data.csv_utils import (
    BASE_COLUMNS,
    is_prepared,
    write_csv_atomic,
    write_json_atomic,
)
from kdsrl_lobes.data.gsc import (
    BACKGROUND_NOISE_FOLDER,
    SILENCE_LABEL,
    TESTING_LIST,
    UNKNOWN_LABEL,
    VALIDATION_LIST,
    command_label,
)
from kdsrl_lobes.data.gsc_official_test import official_test_rows
from kdsrl_lobes.data.rng import item_rng

logger = get_logger(__name__)

GSC_COLUMNS: tuple[str, ...] = BASE_COLUMNS + ("command",)
MARKER = "prepare_gsc.json"
SPLITS: tuple[str, ...] = ("train", "valid", "test")
#: Part of every background-noise file each split draws its silence from, so no
#: noise sample is shared between splits.
SILENCE_REGIONS: dict[str, tuple[float, float]] = {
    "train": (0.0, 0.8),
    "valid": (0.8, 0.9),
    "test": (0.9, 1.0),
}


def _read_list(path: str) -> set[str]:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"GSC split list not found: {path}")
    with open(path, encoding="utf-8") as f:
        return {line.strip() for line in f if line.strip()}


def _silence_rows(noise_infos: dict, split: str, count: int, seed: int) -> list[dict]:
    """``count`` one-second crops of the noise files, inside the split's region."""
    start_frac, stop_frac = SILENCE_REGIONS[split]
    usable = []
    for path, info in sorted(noise_infos.items()):
        lo, hi = int(start_frac * info.frames), int(stop_frac * info.frames)
        if hi - lo >= info.sample_rate:  # room for a one-second crop
            usable.append((path, info, lo, hi))
    if count and not usable:
        logger.warning(
            "No background-noise file is long enough for %s silence: 0 rows", split
        )
        return []
    rng = item_rng(seed, "gsc-silence", split)
    rows = []
    for i in range(count):
        path, info, lo, hi = usable[i % len(usable)]
        length = info.sample_rate
        start = lo + int(rng.integers(0, hi - lo - length + 1))
        stem = os.path.splitext(os.path.basename(path))[0]
        rows.append(
            {
                "ID": f"{SILENCE_LABEL}/{split}_{i:05d}_{stem}",
                "duration": 1.0,
                "wav": path,
                "start": start,
                "stop": start + length,
                "spk_id": stem,
                "command": SILENCE_LABEL,
            }
        )
    return rows


def prepare_gsc(
    data_folder: str,
    save_folder: str,
    validation_list: str | None = None,
    testing_list: str | None = None,
    silence_per_split: float = 0.1,
    unknown_fraction: float | None = None,
    seed: int = 1234,
    test_folder: str | None = None,
) -> dict[str, str]:
    """Writes ``train.csv``, ``valid.csv`` and ``test.csv`` for 12-class V1 KWS.

    Classes are :data:`GSC_CLASSES`: the 10 keywords, ``_unknown_`` for every other
    word folder, and ``_silence_``: one-second crops of the ``_background_noise_``
    files (rows with ``start``/``stop`` sample offsets into the long file; train,
    valid and test take their crops from the first 80 %, next 10 % and last 10 % of
    each file). A file is in valid/test when the official list names it, else in
    train. With ``test_folder`` (the official ``speech_commands_test_set_v0.01``,
    balanced over the 12 classes), the test split is that folder's clips, silence
    included, and the files of the testing list are used nowhere. Columns:
    ``ID, duration, wav, start, stop, spk_id, command``; ``start``
    and ``stop`` count samples at the file's own rate (stop exclusive, whole files
    are ``0`` to their length). Unreadable, empty or truncated clips are logged
    and skipped. Nothing is redone when ``prepare_gsc.json`` in ``save_folder``
    records the same options.

    Arguments
    ---------
    data_folder : str
        The ``speech_commands_v0.01`` folder (real or generated).
    save_folder : str
        Where the CSVs and ``prepare_gsc.json`` go.
    validation_list : str, optional
        Defaults to ``<data_folder>/validation_list.txt``.
    testing_list : str, optional
        Defaults to ``<data_folder>/testing_list.txt``.
    silence_per_split : float
        ``_silence_`` rows per split, as a fraction of that split's word rows
        (0.1 as in TensorFlow's ``silence_percentage=10``).
    unknown_fraction : float, optional
        ``_unknown_`` rows kept in train and in valid, as a fraction of that
        split's keyword rows (TensorFlow's ``unknown_percentage / 100``; seeded
        subsampling; every keyword row is kept; the test split never is
        subsampled). None keeps every ``_unknown_`` row. The recipes' YAMLs
        set 0.1, TensorFlow's default, which gives real GSC V1 the paper's
        proportions (about 22,236 training clips); the same rule serves the
        embedded corpus.
    seed : int
        Seed of the silence crops and the unknown subsampling.
    test_folder : str, optional
        GSC V1's official test-set folder, used as the test split. None: the
        files of the testing list, as the dataset's README splits them.

    Returns
    -------
    dict[str, str]
        The CSV path of each split (``train``, ``valid``, ``test``).

    Example
    -------
    >>> prepare_gsc("/no/such/folder", "/tmp/x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: GSC data folder not found: /no/such/folder
    """
    if not os.path.isdir(data_folder):
        raise FileNotFoundError(f"GSC data folder not found: {data_folder}")
    if test_folder is not None and not os.path.isdir(test_folder):
        raise FileNotFoundError(f"GSC official test folder not found: {test_folder}")
    if unknown_fraction is not None and not unknown_fraction >= 0.0:
        raise ValueError(
            f"unknown_fraction must be >= 0 or None, found {unknown_fraction}"
        )
    if silence_per_split < 0:
        raise ValueError(f"silence_per_split must be >= 0, found {silence_per_split}")
    data_folder = os.path.abspath(data_folder)
    validation_list = validation_list or os.path.join(data_folder, VALIDATION_LIST)
    testing_list = testing_list or os.path.join(data_folder, TESTING_LIST)
    outputs = {split: os.path.join(save_folder, f"{split}.csv") for split in SPLITS}
    options = {
        "data_folder": data_folder,
        "validation_list": os.path.abspath(validation_list),
        "testing_list": os.path.abspath(testing_list),
        "silence_per_split": silence_per_split,
        "unknown_fraction": unknown_fraction,
        "seed": seed,
    }
    if test_folder is not None:  # absent otherwise: earlier preparations stay valid
        options["test_folder"] = os.path.abspath(test_folder)
    marker = os.path.join(save_folder, MARKER)
    if is_prepared(marker, options, list(outputs.values())):
        logger.info("GSC already prepared in %s, skipping", save_folder)
        return outputs
    in_list = {"valid": _read_list(validation_list), "test": _read_list(testing_list)}

    relpaths = []
    for word in sorted(os.listdir(data_folder)):
        folder = os.path.join(data_folder, word)
        if word.startswith("_") or not os.path.isdir(folder):
            continue
        relpaths += [
            f"{word}/{name}"
            for name in sorted(os.listdir(folder))
            if name.endswith(".wav")
        ]
    if not relpaths:
        raise FileNotFoundError(f"No GSC word folders with .wav files in {data_folder}")
    for split, names in in_list.items():
        missing = names.difference(relpaths)
        if missing:
            logger.warning(
                "%d files named in the %s list are not in %s, e.g. %s",
                len(missing), split, data_folder, min(missing),
            )  # fmt: skip
    official = official_test_rows(test_folder) if test_folder is not None else None
    if official is not None:
        logger.info(
            "Test split: %d clips of %s; the %d files of the testing list are "
            "left out", len(official), test_folder, len(in_list["test"]),
        )  # fmt: skip
        relpaths = [rel for rel in relpaths if rel not in in_list["test"]]
    infos, _ = scan_audio([os.path.join(data_folder, rel) for rel in relpaths], "GSC")
    noise_folder = os.path.join(data_folder, BACKGROUND_NOISE_FOLDER)
    noise_paths = (
        sorted(
            os.path.join(noise_folder, name)
            for name in os.listdir(noise_folder)
            if name.endswith(".wav")
        )
        if os.path.isdir(noise_folder)
        else []
    )
    noise_infos, _ = scan_audio(noise_paths, "background-noise")

    rows: dict[str, list[dict]] = {split: [] for split in SPLITS}
    for rel in relpaths:
        path = os.path.join(data_folder, rel)
        if path not in infos:
            continue
        split = next((s for s in ("valid", "test") if rel in in_list[s]), "train")
        info = infos[path]
        word, name = rel.split("/")
        rows[split].append(
            {
                "ID": os.path.splitext(rel)[0],
                "duration": round(info.duration, 5),
                "wav": path,
                "start": 0,
                "stop": info.frames,
                "spk_id": name.split("_nohash_")[0],
                "command": command_label(word),
            }
        )
    for split in SPLITS:
        if split == "test" and official is not None:
            rows[split] = official  # balanced, with its own _silence_ clips
            write_csv_atomic(outputs[split], rows[split], GSC_COLUMNS)
            logger.info("GSC test: %d rows -> %s", len(rows[split]), outputs[split])
            continue
        unknown = [r for r in rows[split] if r["command"] == UNKNOWN_LABEL]
        keep = len(unknown)
        if unknown_fraction is not None and split != "test":
            keywords = len(rows[split]) - len(unknown)
            keep = min(len(unknown), round(unknown_fraction * keywords))
        if keep < len(unknown):
            rng = item_rng(seed, "gsc-unknown", split)
            kept_ids = {unknown[i]["ID"] for i in rng.permutation(len(unknown))[:keep]}
            rows[split] = [
                r for r in rows[split]
                if r["command"] != UNKNOWN_LABEL or r["ID"] in kept_ids
            ]  # fmt: skip
        count = int(np.ceil(silence_per_split * len(rows[split])))
        rows[split] += _silence_rows(noise_infos, split, count, seed)
        write_csv_atomic(outputs[split], rows[split], GSC_COLUMNS)
        logger.info("GSC %s: %d rows -> %s", split, len(rows[split]), outputs[split])
    write_json_atomic(
        marker, {"options": options, "rows": {s: len(rows[s]) for s in SPLITS}}
    )
    return outputs

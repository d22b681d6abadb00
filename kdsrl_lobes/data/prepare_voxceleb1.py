"""VoxCeleb1 preparation: speaker-ID train/valid over dev speakers, trial test set;
and the official identification split (``iden_split.txt``) of SUPERB's SID task."""

import os

from speechbrain.utils.logger import get_logger

from kdsrl_lobes.data.audio import scan_audio
from kdsrl_lobes.data.csv_utils import (
    BASE_COLUMNS,
    is_prepared,
    write_csv_atomic,
    write_json_atomic,
)
from kdsrl_lobes.data.rng import item_rng
from kdsrl_lobes.data.trials import read_trials

logger = get_logger(__name__)

VOX_COLUMNS: tuple[str, ...] = BASE_COLUMNS
MARKER = "prepare_voxceleb1.json"
SID_MARKER = "prepare_voxceleb1_sid.json"
TRIAL_FILES: tuple[str, ...] = ("veri_test2.txt", "veri_test.txt")
IDEN_SPLIT_FILE = "iden_split.txt"
#: The split of each ``iden_split.txt`` label (1 train, 2 dev, 3 test).
IDEN_SPLITS: dict[str, str] = {"1": "train", "2": "valid", "3": "test"}


def find_trials(data_folder: str, trials_file: str | None = None) -> str:
    """Returns ``trials_file`` when given, else ``veri_test2.txt`` in
    ``data_folder``, else ``veri_test.txt``.

    Example
    -------
    >>> find_trials("/no/such")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: No trial list in /no/such: looked for ...; or pass trials_file
    >>> find_trials("/no/such", "/lists/veri_test2.txt")
    '/lists/veri_test2.txt'
    """
    if trials_file:
        return trials_file
    for name in TRIAL_FILES:
        path = os.path.join(data_folder, name)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"No trial list in {data_folder}: looked for {', '.join(TRIAL_FILES)}; "
        "or pass trials_file"
    )


def _row(wav_folder: str, rel: str, info) -> dict:
    return {
        "ID": rel,
        "duration": round(info.duration, 5),
        "wav": os.path.join(wav_folder, rel),
        "start": 0,
        "stop": info.frames,
        "spk_id": rel.split("/")[0],
    }


def prepare_voxceleb1(
    data_folder: str,
    save_folder: str,
    trials: str | None = None,
    valid_ratio: float = 0.05,
    seed: int = 1234,
) -> dict[str, str]:
    """Writes ``train.csv``, ``valid.csv`` and ``test.csv`` for VoxCeleb1.

    ``train`` and ``valid`` hold the dev speakers only (every speaker the trial list
    does not name); ``valid`` holds held-out utterances of those same speakers, for
    speaker-ID validation: ``max(1, round(valid_ratio * n))`` of each speaker's
    ``n >= 2`` utterances, seeded. ``test`` holds every file of the trial list, with
    the trial-list path (``id10270/5r0dWxy17C8/00001.wav``) as ID. Columns:
    ``ID, duration, wav, start, stop, spk_id`` (whole files: start 0, stop = number
    of samples). Unreadable, empty or truncated files are logged and skipped.
    Nothing is redone when ``prepare_voxceleb1.json`` records the same options.

    Arguments
    ---------
    data_folder : str
        Folder holding ``wav/<speaker>/<video>/<utt>.wav`` (and the trial list).
    save_folder : str
        Where the CSVs and ``prepare_voxceleb1.json`` go.
    trials : str, optional
        The trial list; defaults to ``<data_folder>/veri_test2.txt``, else
        ``<data_folder>/veri_test.txt``.
    valid_ratio : float
        Fraction of each dev speaker's utterances held out for ``valid``.
    seed : int
        Seed of the train/valid split.

    Returns
    -------
    dict[str, str]
        The CSV path of each split (``train``, ``valid``, ``test``).

    Example
    -------
    >>> prepare_voxceleb1("/no/such", "/tmp/x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: VoxCeleb1 data folder not found: /no/such
    """
    if not os.path.isdir(data_folder):
        raise FileNotFoundError(f"VoxCeleb1 data folder not found: {data_folder}")
    if not 0.0 <= valid_ratio < 1.0:
        raise ValueError(f"valid_ratio must be in [0, 1), found {valid_ratio}")
    data_folder = os.path.abspath(data_folder)
    wav_folder = os.path.join(data_folder, "wav")
    if not os.path.isdir(wav_folder):
        raise FileNotFoundError(f"VoxCeleb1 wav folder not found: {wav_folder}")
    trials = os.path.abspath(trials) if trials else find_trials(data_folder)
    if not os.path.isfile(trials):
        raise FileNotFoundError(f"Trial list not found: {trials}")
    outputs = {
        s: os.path.join(save_folder, f"{s}.csv") for s in ("train", "valid", "test")
    }
    options = {
        "data_folder": data_folder,
        "trials": trials,
        "valid_ratio": valid_ratio,
        "seed": seed,
    }
    marker = os.path.join(save_folder, MARKER)
    if is_prepared(marker, options, list(outputs.values())):
        logger.info("VoxCeleb1 already prepared in %s, skipping", save_folder)
        return outputs
    trial_list = read_trials(trials, wav_folder)
    test_files = sorted({name for _, a, b in trial_list for name in (a, b)})
    test_speakers = {name.split("/")[0] for name in test_files}

    dev: dict[str, list[str]] = {}
    for spk in sorted(os.listdir(wav_folder)):
        spk_folder = os.path.join(wav_folder, spk)
        if spk in test_speakers or not os.path.isdir(spk_folder):
            continue
        for video in sorted(os.listdir(spk_folder)):
            video_folder = os.path.join(spk_folder, video)
            if os.path.isdir(video_folder):
                dev.setdefault(spk, []).extend(
                    f"{spk}/{video}/{name}"
                    for name in sorted(os.listdir(video_folder))
                    if name.endswith(".wav")
                )
    if not dev:
        raise FileNotFoundError(
            f"No dev speaker (absent from {trials}) with .wav files in {wav_folder}"
        )
    all_dev = [os.path.join(wav_folder, rel) for files in dev.values() for rel in files]
    infos, _ = scan_audio(all_dev, "VoxCeleb1 dev")
    test_infos, skipped = scan_audio(
        [os.path.join(wav_folder, rel) for rel in test_files], "VoxCeleb1 test"
    )
    if skipped:
        bad = {
            os.path.relpath(path, wav_folder).replace(os.sep, "/") for path in skipped
        }
        lost = sum(1 for _, a, b in trial_list if a in bad or b in bad)
        logger.warning(
            "%d of %d trials in %s name skipped files and cannot be scored",
            lost, len(trial_list), trials,
        )  # fmt: skip

    rows: dict[str, list[dict]] = {"train": [], "valid": [], "test": []}
    for spk, files in dev.items():
        good = [rel for rel in files if os.path.join(wav_folder, rel) in infos]
        held = set()
        if valid_ratio > 0 and len(good) >= 2:
            count = max(1, round(valid_ratio * len(good)))
            order = item_rng(seed, "vox-valid", spk).permutation(len(good))
            held = {good[i] for i in order[:count]}
        for rel in good:
            split = "valid" if rel in held else "train"
            rows[split].append(
                _row(wav_folder, rel, infos[os.path.join(wav_folder, rel)])
            )
    for rel in test_files:
        path = os.path.join(wav_folder, rel)
        if path in test_infos:
            rows["test"].append(_row(wav_folder, rel, test_infos[path]))
    for split, path in outputs.items():
        write_csv_atomic(path, rows[split], VOX_COLUMNS)
        logger.info("VoxCeleb1 %s: %d rows -> %s", split, len(rows[split]), path)
    summary = {s: len(r) for s, r in rows.items()}
    write_json_atomic(
        marker, {"options": options, "rows": summary, "trials": len(trial_list)}
    )
    return outputs


def find_iden_split(data_folder: str) -> str:
    """Returns ``iden_split.txt`` in ``data_folder``.

    Example
    -------
    >>> find_iden_split("/no/such")
    Traceback (most recent call last):
    ...
    FileNotFoundError: No iden_split.txt in /no/such
    """
    path = os.path.join(data_folder, IDEN_SPLIT_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No {IDEN_SPLIT_FILE} in {data_folder}")
    return path


def read_iden_split(path: str) -> list[tuple[str, str]]:
    """Reads VoxCeleb1's identification split.

    Arguments
    ---------
    path : str
        Lines ``1|2|3 idNNNNN/<video>/NNNNN.wav`` (1 train, 2 dev, 3 test).

    Returns
    -------
    list[tuple[str, str]]
        ``(split, relative path)`` per line, split ``train``, ``valid`` or
        ``test``.

    Raises
    ------
    ValueError
        On a malformed or repeated line, naming the file and line.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "iden_split.txt")
    >>> _ = open(path, "w").write("3 id10001/1zcIwhmdeo4/00001.wav\\n")
    >>> read_iden_split(path)
    [('test', 'id10001/1zcIwhmdeo4/00001.wav')]
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Identification split not found: {path}")
    entries, seen = [], {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            if (
                len(fields) != 2
                or fields[0] not in IDEN_SPLITS
                or fields[1].count("/") != 2
            ):
                raise ValueError(
                    f"{path}, line {number}: expected '1|2|3 "
                    f"idNNNNN/<video>/<utt>.wav', found {line.rstrip()!r}"
                )
            if fields[1] in seen:
                raise ValueError(
                    f"{path}, line {number}: {fields[1]} is already listed on "
                    f"line {seen[fields[1]]}"
                )
            seen[fields[1]] = number
            entries.append((IDEN_SPLITS[fields[0]], fields[1]))
    return entries


def prepare_voxceleb1_sid(
    data_folder: str, save_folder: str, iden_split: str | None = None
) -> dict[str, str]:
    """Writes ``sid_train.csv``, ``sid_valid.csv`` and ``sid_test.csv``.

    SUPERB's speaker identification: every VoxCeleb1 speaker (dev and test
    alike) in every split, the files of each split given by the official
    ``iden_split.txt``. Columns: ``ID, duration, wav, start, stop, spk_id`` (ID
    the listed path, whole files). A listed file that does not exist is an error;
    unreadable, empty or truncated files are logged and skipped. Nothing is
    redone when ``prepare_voxceleb1_sid.json`` records the same options.

    Arguments
    ---------
    data_folder : str
        Folder holding ``wav/<speaker>/<video>/<utt>.wav``.
    save_folder : str
        Where the CSVs and ``prepare_voxceleb1_sid.json`` go.
    iden_split : str, optional
        The split list; defaults to ``<data_folder>/iden_split.txt``.

    Returns
    -------
    dict[str, str]
        The CSV path of each split (``train``, ``valid``, ``test``).

    Raises
    ------
    FileNotFoundError
        When the folders, the split list or a listed file are missing.

    Example
    -------
    >>> prepare_voxceleb1_sid("/no/such", "/tmp/x")
    Traceback (most recent call last):
    ...
    FileNotFoundError: VoxCeleb1 data folder not found: /no/such
    """
    if not os.path.isdir(data_folder):
        raise FileNotFoundError(f"VoxCeleb1 data folder not found: {data_folder}")
    data_folder = os.path.abspath(data_folder)
    wav_folder = os.path.join(data_folder, "wav")
    if not os.path.isdir(wav_folder):
        raise FileNotFoundError(f"VoxCeleb1 wav folder not found: {wav_folder}")
    iden_split = (
        os.path.abspath(iden_split) if iden_split else find_iden_split(data_folder)
    )
    outputs = {
        s: os.path.join(save_folder, f"sid_{s}.csv") for s in IDEN_SPLITS.values()
    }
    options = {"data_folder": data_folder, "iden_split": iden_split}
    marker = os.path.join(save_folder, SID_MARKER)
    if is_prepared(marker, options, list(outputs.values())):
        logger.info("VoxCeleb1 SID already prepared in %s, skipping", save_folder)
        return outputs
    entries = read_iden_split(iden_split)
    missing = [
        rel for _, rel in entries if not os.path.isfile(os.path.join(wav_folder, rel))
    ]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of {len(entries)} files listed in {iden_split} are "
            f"missing, e.g. {os.path.join(wav_folder, missing[0])}"
        )
    infos, _ = scan_audio(
        [os.path.join(wav_folder, rel) for _, rel in entries], "VoxCeleb1 SID"
    )
    rows: dict[str, list[dict]] = {split: [] for split in outputs}
    for split, rel in entries:
        path = os.path.join(wav_folder, rel)
        if path in infos:
            rows[split].append(_row(wav_folder, rel, infos[path]))
    for split, path in outputs.items():
        write_csv_atomic(path, rows[split], VOX_COLUMNS)
        logger.info("VoxCeleb1 SID %s: %d rows -> %s", split, len(rows[split]), path)
    speakers = {split: len({r["spk_id"] for r in rows[split]}) for split in rows}
    write_json_atomic(
        marker,
        {
            "options": options,
            "rows": {s: len(r) for s, r in rows.items()},
            "speakers": speakers,
        },
    )
    return outputs

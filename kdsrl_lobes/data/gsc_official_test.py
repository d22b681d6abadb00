"""GSC V1's official balanced test set (``speech_commands_test_set_v0.01/``).

One sub-folder per class of :data:`~kdsrl_lobes.data.gsc.GSC_CLASSES`. Keyword
clips are named ``<speaker>_nohash_<n>.wav``, ``_unknown_`` clips
``<word>_<speaker>_nohash_<n>.wav`` and ``_silence_`` clips are one-second noise
files (their speaker is the file stem). The real set and the embedded one
(``python -m kdsrl_lobes.data.synth``) read alike.
"""

import os

from kdsrl_lobes.data.audio import scan_audio
from kdsrl_lobes.data.gsc import GSC_CLASSES, SILENCE_LABEL, UNKNOWN_LABEL


def official_test_speaker(label: str, name: str) -> str:
    """The speaker id of a test-set file of class ``label``.

    Example
    -------
    >>> official_test_speaker("yes", "0a7c2a8d_nohash_0.wav")
    '0a7c2a8d'
    >>> official_test_speaker("_unknown_", "marvin_0a7c2a8d_nohash_1.wav")
    '0a7c2a8d'
    """
    stem = os.path.splitext(name)[0]
    if label == SILENCE_LABEL:
        return stem
    if "_nohash_" not in stem:
        raise ValueError(
            f"Expected a GSC file name '<speaker>_nohash_<n>.wav' in {label}/, "
            f"found {name!r}"
        )
    speaker = stem.split("_nohash_")[0]
    if label == UNKNOWN_LABEL:  # <word>_<speaker>_nohash_<n>
        if "_" not in speaker:
            raise ValueError(
                "Expected '<word>_<speaker>_nohash_<n>.wav' in _unknown_/, "
                f"found {name!r}"
            )
        speaker = speaker.split("_", 1)[1]
    return speaker


def official_test_rows(test_folder: str) -> list[dict]:
    """The test set's clips as prepared GSC rows, one per readable ``.wav``.

    Arguments
    ---------
    test_folder : str
        The ``speech_commands_test_set_v0.01`` folder.

    Returns
    -------
    list[dict]
        Rows with ``ID`` (``<class>/<stem>``), ``duration``, ``wav``, ``start``,
        ``stop``, ``spk_id`` and ``command`` (the folder's class), sorted by ID.
        Unreadable clips are logged and skipped, as in ``prepare_gsc``.

    Raises
    ------
    FileNotFoundError
        When the folder does not exist or holds no clip.
    ValueError
        When its class folders are not exactly the 12 GSC V1 classes, or a clip
        name does not carry a speaker id.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> os.mkdir(os.path.join(folder, "yes"))
    >>> official_test_rows(folder)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Expected the 12 GSC V1 class folders ... missing [...], extra []
    """
    if not os.path.isdir(test_folder):
        raise FileNotFoundError(f"GSC official test folder not found: {test_folder}")
    test_folder = os.path.abspath(test_folder)
    found = {
        d
        for d in os.listdir(test_folder)
        if os.path.isdir(os.path.join(test_folder, d)) and not d.startswith(".")
    }
    if found != set(GSC_CLASSES):
        missing, extra = set(GSC_CLASSES) - found, found - set(GSC_CLASSES)
        raise ValueError(
            f"Expected the 12 GSC V1 class folders {sorted(GSC_CLASSES)} in "
            f"{test_folder}, found {sorted(found)}: missing {sorted(missing)}, "
            f"extra {sorted(extra)}"
        )
    named = []
    for label in GSC_CLASSES:
        folder = os.path.join(test_folder, label)
        for name in sorted(os.listdir(folder)):
            if name.endswith(".wav"):
                speaker = official_test_speaker(label, name)
                named.append((label, name, speaker, os.path.join(folder, name)))
    if not named:
        raise FileNotFoundError(f"No .wav clips in the class folders of {test_folder}")
    infos, _ = scan_audio([path for *_, path in named], "GSC official test")
    rows = [
        {
            "ID": f"{label}/{os.path.splitext(name)[0]}",
            "duration": round(infos[path].duration, 5),
            "wav": path,
            "start": 0,
            "stop": infos[path].frames,
            "spk_id": speaker,
            "command": label,
        }
        for label, name, speaker, path in named
        if path in infos
    ]
    return sorted(rows, key=lambda row: row["ID"])

"""IEMOCAP preparation for SUPERB's emotion recognition task.

Layout of ``IEMOCAP_full_release`` (the parts used)::

    Session{1..5}/sentences/wav/<dialog>/<utterance>.wav
    Session{1..5}/dialog/EmoEvaluation/<dialog>.txt

Each evaluation file starts with :data:`EVALUATION_HEADER`, then one block per
turn: a label line ``[START - END]<TAB>UTTERANCE<TAB>LABEL<TAB>[V, A, D]`` and the
evaluators' lines. Utterances are named ``Ses01F_impro01_M003``: session 1,
dialog ``Ses01F_impro01``, spoken by the session's male actor (``M``).

SUPERB's protocol: four classes (:data:`EMOTION_CLASSES`), ``exc`` merged into
``hap``, every other label skipped; leave-one-session-out, one session as the
test fold.
"""

import os
import re
from collections import Counter

from speechbrain.utils.logger import get_logger

from kdsrl_lobes.data.audio import scan_audio
from kdsrl_lobes.data.csv_utils import is_prepared, write_csv_atomic, write_json_atomic
from kdsrl_lobes.data.rng import item_rng

logger = get_logger(__name__)

IEMOCAP_FOLDER = "IEMOCAP_full_release"
SESSIONS: tuple[int, ...] = (1, 2, 3, 4, 5)
#: SUPERB's four emotion classes.
EMOTION_CLASSES: tuple[str, ...] = ("neu", "hap", "ang", "sad")
#: Labels counted as one of :data:`EMOTION_CLASSES` (excited is happy in SUPERB).
MERGED_LABELS: dict[str, str] = {"exc": "hap"}
EVALUATION_HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]"
IEMOCAP_COLUMNS: tuple[str, ...] = (
    "ID", "duration", "wav", "start", "stop", "emotion", "session", "speaker",
)  # fmt: skip
MARKER = "prepare_iemocap.json"
_LABEL_LINE = re.compile(
    r"^\[(\d+(?:\.\d+)?) - (\d+(?:\.\d+)?)\]\s+(\w+)\s+(\w+)\s+\[[^\]]*\]\s*$"
)


def session_folder(root: str, session: int) -> str:
    """Returns ``<root>/Session<session>``.

    Example
    -------
    >>> session_folder("IEMOCAP_full_release", 3)
    'IEMOCAP_full_release/Session3'
    """
    return os.path.join(root, f"Session{session}")


def evaluation_folder(root: str, session: int) -> str:
    """Returns the folder of a session's ``<dialog>.txt`` label files."""
    return os.path.join(session_folder(root, session), "dialog", "EmoEvaluation")


def utterance_wav(root: str, session: int, utterance: str) -> str:
    """Returns the wav path of ``utterance`` (its dialog is the name's prefix).

    Example
    -------
    >>> utterance_wav("R", 1, "Ses01F_script02_1_M004")
    'R/Session1/sentences/wav/Ses01F_script02_1/Ses01F_script02_1_M004.wav'
    """
    dialog = utterance.rsplit("_", 1)[0]
    return os.path.join(
        session_folder(root, session), "sentences", "wav", dialog, utterance + ".wav"
    )


def utterance_speaker(utterance: str) -> str:
    """Returns the speaker of an utterance: session and gender, e.g. ``Ses01M``.

    Example
    -------
    >>> utterance_speaker("Ses01F_impro01_M003")
    'Ses01M'
    """
    gender = utterance.rsplit("_", 1)[-1][:1]
    if not utterance.startswith("Ses") or gender not in ("F", "M"):
        raise ValueError(
            f"Expected an utterance name like Ses01F_impro01_M003, found {utterance!r}"
        )
    return utterance[:5] + gender


def find_iemocap(data_folder: str) -> str:
    """Returns the ``IEMOCAP_full_release`` folder: ``data_folder`` or inside it.

    Example
    -------
    >>> find_iemocap("/no/such")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: IEMOCAP not found: neither /no/such nor ... holds Session1
    """
    inside = os.path.join(data_folder, IEMOCAP_FOLDER)
    for root in (data_folder, inside):
        if os.path.isdir(session_folder(root, SESSIONS[0])):
            return os.path.abspath(root)
    raise FileNotFoundError(
        f"IEMOCAP not found: neither {data_folder} nor {inside} holds Session1"
    )


def read_evaluation(path: str) -> list[tuple[float, float, str, str]]:
    """Reads the label lines of one ``EmoEvaluation/<dialog>.txt`` file.

    Arguments
    ---------
    path : str
        The file; only lines starting with ``[`` are label lines.

    Returns
    -------
    list[tuple[float, float, str, str]]
        ``(start, end, utterance, label)`` per turn, in file order.

    Raises
    ------
    ValueError
        On a malformed label line, naming the file and line.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "Ses01F_impro01.txt")
    >>> fields = ["[6.2901 - 8.2357]", "Ses01F_impro01_F000", "neu", "[2.5, 2.5, 2.5]"]
    >>> _ = open(path, "w").write(EVALUATION_HEADER + "\\n\\n" + "\\t".join(fields))
    >>> read_evaluation(path)
    [(6.2901, 8.2357, 'Ses01F_impro01_F000', 'neu')]
    """
    turns = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.startswith("["):
                continue
            match = _LABEL_LINE.match(line)
            if match is None:
                raise ValueError(
                    f"{path}, line {number}: expected '[START - END]<TAB>TURN<TAB>"
                    f"EMOTION<TAB>[V, A, D]', found {line.rstrip()!r}"
                )
            start, end, utterance, label = match.groups()
            turns.append((float(start), float(end), utterance, label))
    return turns


def _session_turns(root: str, session: int) -> list[tuple[str, str]]:
    """``(utterance, label)`` of every labelled turn of one session."""
    folder = evaluation_folder(root, session)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"IEMOCAP evaluation folder not found: {folder}")
    turns = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name.endswith(".txt") and not name.startswith(".") and os.path.isfile(path):
            turns += [(utt, label) for _, _, utt, label in read_evaluation(path)]
    if not turns:
        raise FileNotFoundError(f"No labelled turn in the .txt files of {folder}")
    return turns


def prepare_iemocap(
    data_folder: str,
    save_folder: str,
    test_session: int = 5,
    valid_ratio: float = 0.2,
    seed: int = 1234,
) -> dict[str, str]:
    """Writes ``train.csv``, ``valid.csv`` and ``test.csv`` for one IEMOCAP fold.

    Labels ``neu``, ``hap``, ``ang``, ``sad`` are kept and ``exc`` becomes
    ``hap``; other labels (``fru``, ``xxx``, ...) are skipped and counted (logged,
    and recorded in ``prepare_iemocap.json`` under ``skipped_labels``).
    ``test`` holds session ``test_session``; of the other sessions, each
    speaker's ``max(1, round(valid_ratio * n))`` utterances (seeded) go to
    ``valid`` and the rest to ``train``. Columns: ``ID, duration, wav, start,
    stop, emotion, session, speaker`` (whole files; speaker e.g. ``Ses01F``).
    Unreadable, empty or truncated files are logged and skipped. Nothing is
    redone when ``prepare_iemocap.json`` records the same options.

    Arguments
    ---------
    data_folder : str
        ``IEMOCAP_full_release`` or the folder holding it.
    save_folder : str
        Where the CSVs and ``prepare_iemocap.json`` go.
    test_session : int
        The session of the test fold (1 to 5).
    valid_ratio : float
        Fraction of each training speaker's utterances held out for ``valid``.
    seed : int
        Seed of the train/valid split.

    Returns
    -------
    dict[str, str]
        The CSV path of each split (``train``, ``valid``, ``test``).

    Example
    -------
    >>> prepare_iemocap("/no/such", "/tmp/x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: IEMOCAP not found: ...
    """
    if test_session not in SESSIONS:
        raise ValueError(
            f"test_session must be one of {SESSIONS}, found {test_session}"
        )
    if not 0.0 <= valid_ratio < 1.0:
        raise ValueError(f"valid_ratio must be in [0, 1), found {valid_ratio}")
    root = find_iemocap(data_folder)
    for session in SESSIONS:
        folder = session_folder(root, session)
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"IEMOCAP session folder not found: {folder}")
    outputs = {
        s: os.path.join(save_folder, f"{s}.csv") for s in ("train", "valid", "test")
    }
    options = {
        "data_folder": root,
        "test_session": test_session,
        "valid_ratio": valid_ratio,
        "seed": seed,
    }
    marker = os.path.join(save_folder, MARKER)
    if is_prepared(marker, options, list(outputs.values())):
        logger.info("IEMOCAP already prepared in %s, skipping", save_folder)
        return outputs
    kept: list[tuple[int, str, str]] = []  # (session, utterance, emotion)
    skipped: Counter = Counter()
    for session in SESSIONS:
        for utterance, label in _session_turns(root, session):
            emotion = MERGED_LABELS.get(label, label)
            if emotion in EMOTION_CLASSES:
                kept.append((session, utterance, emotion))
            else:
                skipped[label] += 1
    if skipped:
        logger.info(
            "IEMOCAP: skipped %d utterances outside %s: %s",
            sum(skipped.values()), EMOTION_CLASSES, dict(sorted(skipped.items())),
        )  # fmt: skip
    paths = [utterance_wav(root, s, utt) for s, utt, _ in kept]
    infos, _ = scan_audio(paths, "IEMOCAP")
    by_speaker: dict[str, list[dict]] = {}
    rows: dict[str, list[dict]] = {split: [] for split in outputs}
    for (session, utterance, emotion), path in zip(kept, paths, strict=True):
        if path not in infos:
            continue
        row = {
            "ID": utterance,
            "duration": round(infos[path].duration, 5),
            "wav": path,
            "start": 0,
            "stop": infos[path].frames,
            "emotion": emotion,
            "session": session,
            "speaker": utterance_speaker(utterance),
        }
        if session == test_session:
            rows["test"].append(row)
        else:
            by_speaker.setdefault(row["speaker"], []).append(row)
    for speaker in sorted(by_speaker):
        speaker_rows = sorted(by_speaker[speaker], key=lambda r: r["ID"])
        held: set[int] = set()
        if valid_ratio > 0 and len(speaker_rows) >= 2:
            count = max(1, round(valid_ratio * len(speaker_rows)))
            order = item_rng(seed, "iemocap-valid", speaker).permutation(
                len(speaker_rows)
            )
            held = {int(i) for i in order[:count]}
        for i, row in enumerate(speaker_rows):
            rows["valid" if i in held else "train"].append(row)
    for split, path in outputs.items():
        rows[split].sort(key=lambda r: r["ID"])
        write_csv_atomic(path, rows[split], IEMOCAP_COLUMNS)
        logger.info("IEMOCAP %s: %d rows -> %s", split, len(rows[split]), path)
    classes = {
        split: dict(sorted(Counter(r["emotion"] for r in split_rows).items()))
        for split, split_rows in rows.items()
    }
    write_json_atomic(
        marker,
        {
            "options": options,
            "rows": {split: len(r) for split, r in rows.items()},
            "classes": classes,
            "skipped_labels": dict(sorted(skipped.items())),
        },
    )
    return outputs

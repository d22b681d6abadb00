"""VoxCeleb trial lists (``veri_test2.txt`` format): reading and validation."""

import os

from speechbrain.utils.logger import get_logger

logger = get_logger(__name__)


def read_trials(path: str, wav_folder: str | None = None) -> list[tuple[int, str, str]]:
    """Reads and validates a trial list.

    Each line is ``<label> <enrol> <test>``, e.g.
    ``1 id10270/5r0dWxy17C8/00001.wav id10270/8jEAjG6SegY/00008.wav``, with label 1
    for a target (same speaker) and 0 for a non-target trial. Blank lines are
    ignored.

    Arguments
    ---------
    path : str
        The trial list.
    wav_folder : str, optional
        When given, every file the list names must exist under it.

    Returns
    -------
    list[tuple[int, str, str]]
        ``(label, enrol, test)`` per trial, in file order.

    Raises
    ------
    FileNotFoundError
        When the list is missing, or names a file missing under ``wav_folder``
        (the message gives the list, the line number and the missing path).
    ValueError
        On a malformed line (wrong field count, label not 0/1) or an empty list;
        the message gives the list and the line number.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "trials.txt")
    >>> _ = open(path, "w").write("1 a/v/1.wav a/w/2.wav\\n0 a/v/1.wav b/x/1.wav\\n")
    >>> read_trials(path)
    [(1, 'a/v/1.wav', 'a/w/2.wav'), (0, 'a/v/1.wav', 'b/x/1.wav')]
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Trial list not found: {path}")
    trials: list[tuple[int, str, str]] = []
    checked: set[str] = set()
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 3:
                raise ValueError(
                    f"{path}, line {number}: expected '<label> <enrol> <test>', "
                    f"found {len(fields)} fields: {line.strip()!r}"
                )
            label, enrol, test = fields
            if label not in ("0", "1"):
                raise ValueError(
                    f"{path}, line {number}: label must be 0 or 1, found {label!r}"
                )
            if wav_folder is not None:
                for name in (enrol, test):
                    if name not in checked:
                        if not os.path.isfile(os.path.join(wav_folder, name)):
                            raise FileNotFoundError(
                                f"{path}, line {number}: trial file {name} not found "
                                f"under {wav_folder}"
                            )
                        checked.add(name)
            trials.append((int(label), enrol, test))
    if not trials:
        raise ValueError(f"Trial list {path} has no trials")
    return trials


def write_trials(path: str, trials: list[tuple[int, str, str]]) -> str:
    """Writes ``trials`` in the format `read_trials` reads; returns ``path``.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "trials.txt")
    >>> read_trials(write_trials(path, [(1, "a/1.wav", "a/2.wav")]))
    [(1, 'a/1.wav', 'a/2.wav')]
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(f"{label} {a} {b}\n" for label, a, b in trials))
    return path

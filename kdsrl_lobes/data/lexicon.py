"""Pronunciation lexicon of LibriSpeech, for phoneme recognition targets.

The real ``librispeech-lexicon.txt`` (OpenSLR 11) has one line per word and
pronunciation, ``WORD<whitespace>PH1 PH2 ...``, upper-case words and ARPAbet
phones whose vowels carry a stress digit (``AH0``, ``EY1``). SUPERB's phoneme
recognition task strips those digits, so the phone set is the 39 ARPAbet
phonemes. The embedded corpus writes the same format with espeak-ng's IPA phones
(no digits, so nothing is stripped from them).
"""

import os
import re
from collections.abc import Sequence

from speechbrain.utils.logger import get_logger

logger = get_logger(__name__)

LEXICON_FILE = "librispeech-lexicon.txt"
# An ARPAbet vowel with its stress digit: AH0, EY1, ER2.
_STRESSED = re.compile(r"^([A-Z]+)[0-2]$")


def strip_stress(phone: str) -> str:
    """Drops the stress digit of an ARPAbet vowel; other phones are kept.

    Example
    -------
    >>> strip_stress("AH0"), strip_stress("T"), strip_stress("ɑː")
    ('AH', 'T', 'ɑː')
    """
    match = _STRESSED.match(phone)
    return match.group(1) if match else phone


def find_lexicon(data_folder: str) -> str:
    """Returns ``librispeech-lexicon.txt`` in ``data_folder`` or its parent.

    Arguments
    ---------
    data_folder : str
        The ``LibriSpeech`` folder (the lexicon is often kept next to it).

    Returns
    -------
    str
        The lexicon's path.

    Example
    -------
    >>> find_lexicon("/no/such/LibriSpeech")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: No librispeech-lexicon.txt in /no/such/LibriSpeech or ...
    """
    folders = [os.path.abspath(data_folder)]
    folders.append(os.path.dirname(folders[0]))
    for folder in folders:
        path = os.path.join(folder, LEXICON_FILE)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"No {LEXICON_FILE} in {folders[0]} or {folders[1]}")


def read_lexicon(path: str) -> dict[str, tuple[str, ...]]:
    """Reads a lexicon: the first pronunciation of each word, stress stripped.

    Arguments
    ---------
    path : str
        A file of ``WORD PH1 PH2 ...`` lines (tabs or spaces); blank lines are
        skipped, later pronunciations of a word are ignored.

    Returns
    -------
    dict[str, tuple[str, ...]]
        ``{word: phones}``, ARPAbet stress digits removed (``AH0`` -> ``AH``).

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        When a line has a word but no phone, naming the file and line.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "lexicon.txt")
    >>> _ = open(path, "w").write("A\\tAH0\\nA\\tEY1\\nABOUT  AH0 B AW1 T\\n")
    >>> read_lexicon(path)
    {'A': ('AH',), 'ABOUT': ('AH', 'B', 'AW', 'T')}
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Lexicon not found: {path}")
    lexicon: dict[str, tuple[str, ...]] = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < 2:
                raise ValueError(
                    f"{path}, line {number}: expected 'WORD PH1 PH2 ...', "
                    f"found {line.rstrip()!r}"
                )
            word = fields[0]
            if word not in lexicon:
                lexicon[word] = tuple(strip_stress(p) for p in fields[1:])
    if not lexicon:
        raise ValueError(f"Lexicon {path} holds no pronunciation")
    return lexicon


def words_to_phones(
    words: str | Sequence[str], lexicon: dict[str, tuple[str, ...]], utterance: str
) -> list[str]:
    """Concatenates the phones of ``words``.

    Arguments
    ---------
    words : str or Sequence[str]
        A transcript (split on whitespace) or its words.
    lexicon : dict[str, tuple[str, ...]]
        From :func:`read_lexicon`.
    utterance : str
        The utterance id, named when a word is missing.

    Returns
    -------
    list[str]
        The phone sequence.

    Raises
    ------
    ValueError
        When a word is not in the lexicon, naming the word and the utterance.

    Example
    -------
    >>> lexicon = {"THE": ("DH", "AH"), "CAT": ("K", "AE", "T")}
    >>> words_to_phones("THE CAT", lexicon, "1-2-0003")
    ['DH', 'AH', 'K', 'AE', 'T']
    >>> words_to_phones("THE DOG", lexicon, "1-2-0003")
    Traceback (most recent call last):
    ...
    ValueError: Word 'DOG' of utterance 1-2-0003 is not in the lexicon
    """
    if isinstance(words, str):
        words = words.split()
    phones: list[str] = []
    for word in words:
        if word not in lexicon:
            raise ValueError(
                f"Word {word!r} of utterance {utterance} is not in the lexicon"
            )
        phones.extend(lexicon[word])
    return phones


def check_lexicon(
    rows: Sequence[dict], lexicon: dict[str, tuple[str, ...]]
) -> list[str]:
    """Checks that the lexicon covers every transcript, before any training.

    Arguments
    ---------
    rows : Sequence[dict]
        Prepared LibriSpeech CSV rows (columns ``ID`` and ``transcript``).
    lexicon : dict[str, tuple[str, ...]]
        From :func:`read_lexicon`.

    Returns
    -------
    list[str]
        The sorted phones the transcripts use.

    Raises
    ------
    ValueError
        At the first word the lexicon lacks, naming it and its utterance; or a
        row without ``ID`` or ``transcript``.

    Example
    -------
    >>> lexicon = {"THE": ("DH", "AH"), "CAT": ("K", "AE", "T")}
    >>> check_lexicon([{"ID": "1-2-0003", "transcript": "THE CAT"}], lexicon)
    ['AE', 'AH', 'DH', 'K', 'T']
    """
    used: set[str] = set()
    for number, row in enumerate(rows):
        if "ID" not in row or "transcript" not in row:
            raise ValueError(
                f"Row {number} has columns {sorted(row)}, expected ID and transcript"
            )
        used.update(words_to_phones(row["transcript"], lexicon, row["ID"]))
    return sorted(used)

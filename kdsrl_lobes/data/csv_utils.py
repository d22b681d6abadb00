"""Atomic CSV/JSON writing and the skip-if-prepared check of the preparations.

Each file is written to a temporary file in its own folder, then ``os.replace``d,
so a reader never sees half a file. A preparation writes its CSVs first and its
options JSON (the skip marker) last.
"""

import csv
import json
import os
import tempfile

from speechbrain.utils.logger import get_logger

logger = get_logger(__name__)

#: Columns shared by every prepared CSV (start/stop in samples, stop exclusive).
BASE_COLUMNS: tuple[str, ...] = ("ID", "duration", "wav", "start", "stop", "spk_id")


def _atomic_open(path: str):
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    return tempfile.NamedTemporaryFile(
        "w", dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp",
        delete=False, encoding="utf-8", newline="",
    )  # fmt: skip


def _commit(tmp, path: str) -> None:
    tmp.flush()
    os.fsync(tmp.fileno())
    tmp.close()
    os.replace(tmp.name, path)


def read_csv_rows(path: str) -> list[dict]:
    """Rows of a prepared CSV as dicts of strings.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> write_csv_atomic(path, [{"ID": "a", "wav": "a.wav"}], ("ID", "wav"))
    >>> read_csv_rows(path)
    [{'ID': 'a', 'wav': 'a.wav'}]
    """
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def write_csv_atomic(path: str, rows: list[dict], columns: tuple[str, ...]) -> None:
    """Writes ``rows`` with exactly ``columns`` to ``path``, atomically.

    Arguments
    ---------
    path : str
        Destination CSV.
    rows : list[dict]
        One dict per row, keyed by the column names.
    columns : tuple[str, ...]
        Column names, in order.

    Raises
    ------
    ValueError
        When a row's keys differ from ``columns``.

    Example
    -------
    >>> path = os.path.join(tempfile.mkdtemp(), "a.csv")
    >>> write_csv_atomic(path, [{"ID": "x", "duration": 1.0}], ("ID", "duration"))
    >>> open(path).read().splitlines()
    ['ID,duration', 'x,1.0']
    """
    for row in rows:
        if tuple(row) != tuple(columns):
            raise ValueError(
                f"Row {row.get('ID')} for {path} has columns {list(row)}, "
                f"expected {list(columns)}"
            )
    tmp = _atomic_open(path)
    try:
        writer = csv.DictWriter(tmp, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)
        _commit(tmp, path)
    except BaseException:
        tmp.close()
        os.remove(tmp.name)
        raise


def write_json_atomic(path: str, content: dict) -> None:
    """Writes ``content`` as JSON to ``path``, atomically.

    Example
    -------
    >>> path = os.path.join(tempfile.mkdtemp(), "a.json")
    >>> write_json_atomic(path, {"a": 1})
    >>> json.load(open(path))
    {'a': 1}
    """
    tmp = _atomic_open(path)
    try:
        json.dump(content, tmp, indent=2, sort_keys=True)
        _commit(tmp, path)
    except BaseException:
        tmp.close()
        os.remove(tmp.name)
        raise


def is_prepared(marker: str, options: dict, outputs: list[str]) -> bool:
    """True when ``marker`` records ``options`` and every output exists.

    Arguments
    ---------
    marker : str
        The options JSON a preparation writes last.
    options : dict
        The options of the current call (JSON-serialisable).
    outputs : list[str]
        Files the preparation writes.

    Example
    -------
    >>> folder = tempfile.mkdtemp()
    >>> marker = os.path.join(folder, "opts.json")
    >>> write_json_atomic(marker, {"options": {"seed": 1}})
    >>> is_prepared(marker, {"seed": 1}, []), is_prepared(marker, {"seed": 2}, [])
    (True, False)
    """
    if not os.path.isfile(marker):
        return False
    try:
        with open(marker, encoding="utf-8") as f:
            recorded = json.load(f).get("options")
    except (OSError, json.JSONDecodeError, AttributeError):
        return False
    # Round-trip through JSON so tuples compare equal to the lists read back.
    if recorded != json.loads(json.dumps(options)):
        return False
    return all(os.path.isfile(path) for path in outputs)

"""GSC training clips as extra speaker-verification training data.

A remedy for SV embeddings that encode the word on one-second clips: the AAM
speaker classifier also learns the GSC training speakers, whose clips are
single words, so telling them apart has to rely on the voice. Speaker ids come
from GSC's file names (``<speaker>_nohash_<n>.wav``, the prepared ``spk_id``),
prefixed with :data:`GSC_SPEAKER_PREFIX` so they never collide with VoxCeleb
ids. The recipe's YAML switch is ``sv_extra_gsc`` (off by default).
"""

import os

from speechbrain.utils.logger import get_logger

from kdsrl_lobes.data.csv_utils import BASE_COLUMNS, read_csv_rows, write_csv_atomic
from kdsrl_lobes.data.gsc import SILENCE_LABEL

logger = get_logger(__name__)

GSC_SPEAKER_PREFIX = "gsc-"


def add_gsc_speakers(
    sv_train_csv: str, gsc_train_csv: str, output_csv: str, min_clips: int = 2
) -> str:
    """Writes the SV training rows plus the GSC word clips of every GSC
    training speaker with at least ``min_clips`` of them.

    Arguments
    ---------
    sv_train_csv : str
        The prepared VoxCeleb1 ``train.csv``.
    gsc_train_csv : str
        The prepared GSC ``train.csv`` (``_silence_`` rows are left out).
    output_csv : str
        The combined CSV (columns ``ID, duration, wav, start, stop, spk_id``;
        GSC rows get IDs ``gsc-<ID>`` and speakers ``gsc-<speaker>``).
    min_clips : int
        GSC speakers with fewer word clips are left out.

    Returns
    -------
    str
        ``output_csv``.

    Example
    -------
    >>> add_gsc_speakers("/no/such.csv", "/no/gsc.csv", "/tmp/x.csv")
    Traceback (most recent call last):
    ...
    FileNotFoundError: Prepared CSV not found: /no/such.csv
    """
    for path in (sv_train_csv, gsc_train_csv):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Prepared CSV not found: {path}")
    if min_clips < 1:
        raise ValueError(f"Expected min_clips >= 1, found {min_clips}")
    rows = [{c: r[c] for c in BASE_COLUMNS} for r in read_csv_rows(sv_train_csv)]
    known = {r["spk_id"] for r in rows}
    words = [r for r in read_csv_rows(gsc_train_csv) if r["command"] != SILENCE_LABEL]
    clips: dict[str, int] = {}
    for row in words:
        clips[row["spk_id"]] = clips.get(row["spk_id"], 0) + 1
    extra = [
        {
            **{c: row[c] for c in BASE_COLUMNS},
            "ID": GSC_SPEAKER_PREFIX + row["ID"],
            "spk_id": GSC_SPEAKER_PREFIX + row["spk_id"],
        }
        for row in words
        if clips[row["spk_id"]] >= min_clips
    ]
    clash = known & {r["spk_id"] for r in extra}
    if clash:
        raise ValueError(
            f"Expected GSC speaker ids apart from the SV ones, found "
            f"{sorted(clash)[:3]}"
        )
    write_csv_atomic(output_csv, rows + extra, BASE_COLUMNS)
    logger.info(
        "SV training: %d rows of %d speakers + %d GSC clips of %d speakers -> %s",
        len(rows), len(known), len(extra), len({r["spk_id"] for r in extra}),
        output_csv,
    )  # fmt: skip
    return output_csv

"""Robust audio reading for preparation and recipe data pipelines.

``load_audio`` reads only the requested ``[start, stop)`` range with soundfile,
down-mixes multi-channel audio and resamples other rates to the target rate, with
one logged warning per distinct issue and process. Broken files raise a
``ValueError`` that names them; ``scan_audio`` turns those into logged skips.
"""

import os
import struct
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import torch
import torchaudio
from speechbrain.utils.logger import get_logger

logger = get_logger(__name__)

# Issues already warned about in this process, e.g. ("sample_rate", 44100).
_WARNED: set[tuple] = set()
_MAX_NAMED = 10


@dataclass(frozen=True)
class AudioInfo:
    """What preparation needs to know about one audio file.

    ``frames`` counts samples per channel at the file's own ``sample_rate``.
    """

    frames: int
    sample_rate: int
    channels: int

    @property
    def duration(self) -> float:
        """Duration in seconds."""
        return self.frames / self.sample_rate


def _warn_once(key: tuple, message: str, *args) -> None:
    if key not in _WARNED:
        _WARNED.add(key)
        logger.warning(message + " (warned once per process)", *args)


def _check_riff_length(path: str) -> None:
    """Raises ValueError when a WAV's data chunk is longer than the file holds.

    libsndfile silently shortens such files, so truncation would go unnoticed.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        header = f.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return  # not a plain RIFF/WAVE file: left to libsndfile
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return
            name, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if name == b"data":
                held = size - f.tell()
                if 0 < length < 0xFFFFFFFF and length > held:
                    raise ValueError(
                        f"Truncated audio file {path}: its header declares {length} "
                        f"bytes of audio, the file holds {held}"
                    )
                return
            f.seek(length + (length % 2), os.SEEK_CUR)


def audio_info(path: str, check_end: bool = True) -> AudioInfo:
    """Returns the frames, rate and channels of ``path``, checking it is usable.

    Arguments
    ---------
    path : str
        An audio file soundfile can read (WAV, FLAC, ...).
    check_end : bool
        Also read the last frame, which catches truncated compressed files.

    Returns
    -------
    AudioInfo
        The file's properties.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        When the file is unreadable, empty or truncated; the message names it.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> sf.write(path, np.zeros((800, 2)), 8000)
    >>> audio_info(path)
    AudioInfo(frames=800, sample_rate=8000, channels=2)
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Audio file not found: {path}")
    _check_riff_length(path)
    try:
        with sf.SoundFile(path) as f:
            info = AudioInfo(f.frames, f.samplerate, f.channels)
            if info.frames <= 0:
                raise ValueError(f"Empty audio file (0 samples): {path}")
            if check_end:
                f.seek(info.frames - 1)
                if len(f.read(1)) != 1:
                    raise ValueError(f"Truncated audio file {path}: no last sample")
    except (sf.LibsndfileError, RuntimeError) as error:
        raise ValueError(f"Unreadable audio file {path}: {error}") from error
    return info


def load_audio(
    path: str, start: int = 0, stop: int | None = None, sample_rate: int = 16000
) -> torch.Tensor:
    """Reads ``[start, stop)`` of ``path`` as mono float32 audio at ``sample_rate``.

    ``start`` and ``stop`` count samples at the file's own rate (as in the prepared
    CSVs). Multi-channel audio is averaged to mono and other rates are resampled;
    each such issue is logged once per process.

    Arguments
    ---------
    path : str
        Audio file.
    start : int
        First sample to read.
    stop : int, optional
        One past the last sample; the end of the file when None.
    sample_rate : int
        Sample rate of the returned audio.

    Returns
    -------
    torch.Tensor
        float32 audio [time].

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        When the file is unreadable, empty, truncated, or the range is invalid.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> sf.write(path, np.zeros(16000), 16000)
    >>> load_audio(path, start=4000, stop=8000).shape
    torch.Size([4000])
    """
    if start < 0 or (stop is not None and stop <= start):
        raise ValueError(f"Invalid range [{start}, {stop}) for audio file {path}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Audio file not found: {path}")
    _check_riff_length(path)
    try:
        data, rate = sf.read(
            path, start=start, stop=stop, dtype="float32", always_2d=True
        )
    except (sf.LibsndfileError, RuntimeError) as error:
        raise ValueError(f"Unreadable audio file {path}: {error}") from error
    if data.shape[0] == 0:
        raise ValueError(f"No audio in [{start}, {stop}) of {path} (empty file?)")
    if stop is not None and data.shape[0] < stop - start:
        raise ValueError(
            f"Truncated audio file {path}: asked for samples [{start}, {stop}), "
            f"read {data.shape[0]}"
        )
    audio = torch.from_numpy(np.ascontiguousarray(data.T))  # channels x time
    if audio.shape[0] > 1:
        _warn_once(
            ("channels", audio.shape[0]),
            "Down-mixing %d-channel audio to mono, first seen in %s",
            audio.shape[0],
            path,
        )
    audio = audio.mean(dim=0)
    if rate != sample_rate:
        _warn_once(
            ("sample_rate", rate, sample_rate),
            "Resampling %d Hz audio to %d Hz, first seen in %s",
            rate,
            sample_rate,
            path,
        )
        audio = torchaudio.functional.resample(audio, rate, sample_rate)
    return audio.contiguous()


def scan_audio(
    paths: list[str], what: str = "audio"
) -> tuple[dict[str, AudioInfo], list[str]]:
    """Checks every file, skipping (and logging) the unusable ones.

    Arguments
    ---------
    paths : list[str]
        Files to check.
    what : str
        What the files are, for the log ("GSC clips", ...).

    Returns
    -------
    tuple[dict[str, AudioInfo], list[str]]
        The usable files' properties and the skipped paths.

    Example
    -------
    >>> infos, skipped = scan_audio(["/no/such.wav"])
    >>> infos, skipped
    ({}, ['/no/such.wav'])
    """
    infos: dict[str, AudioInfo] = {}
    reasons: list[str] = []
    for path in paths:
        try:
            infos[path] = audio_info(path)
        except (ValueError, FileNotFoundError) as error:
            logger.warning("Skipping %s", error)
            reasons.append(path)
    if reasons:
        named = ", ".join(reasons[:_MAX_NAMED])
        more = (
            f" and {len(reasons) - _MAX_NAMED} more"
            if len(reasons) > _MAX_NAMED
            else ""
        )
        logger.warning(
            "skipped %d of %d %s files: %s%s",
            len(reasons),
            len(paths),
            what,
            named,
            more,
        )
    return infos, reasons

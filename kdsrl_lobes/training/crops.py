"""Reading the utterances of a prepared CSV, whole or as a fixed-length crop:
random per epoch, or fixed per utterance (so that a cached teacher output stays
valid). `audio_pipeline` is the one audio pipeline of every recipe.

Authors
 * kdsrl team 2026
"""

import random
import zlib

import speechbrain as sb

from kdsrl_lobes.data import load_audio

SAMPLE_RATE = 16000  # the rate every recipe reads audio at (teachers expect it)


def choose_crop(
    start: int,
    stop: int,
    crop_samples: int,
    key: str = "",
    deterministic: bool = False,
    rng: random.Random = None,
) -> tuple:
    """Returns ``(start, stop)`` of a crop of at most ``crop_samples`` samples
    inside ``[start, stop)``.

    Arguments
    ---------
    start, stop : int
        The utterance's sample range.
    crop_samples : int
        Crop length; ``<= 0`` keeps the whole utterance.
    key : str
        Utterance id; with ``deterministic`` it alone fixes the crop.
    deterministic : bool
        Same crop for the same key every time (stable across processes).
    rng : random.Random, optional
        Source of randomness otherwise (the ``random`` module by default).

    Returns
    -------
    (start, stop) : tuple of int

    Example
    -------
    >>> choose_crop(0, 100, 40, key="utt1", deterministic=True)
    (55, 95)
    >>> choose_crop(0, 30, 40)
    (0, 30)
    """
    length = stop - start
    if crop_samples <= 0 or length <= crop_samples:
        return start, stop
    room = length - crop_samples
    if deterministic:
        offset = zlib.crc32(key.encode("utf-8")) % (room + 1)
    else:
        offset = (rng or random).randint(0, room)
    return start + offset, start + offset + crop_samples


def crop_id(utt_id: str, start: int, stop: int) -> str:
    """The key of a crop (and of its cached teacher output): ``ID@start-stop``.

    Example
    -------
    >>> crop_id("utt1", *choose_crop(0, 100, 40, key="utt1", deterministic=True))
    'utt1@55-95'
    """
    return f"{utt_id}@{start}-{stop}"


def audio_pipeline(
    crop_seconds: float = 0.0,
    deterministic: bool = False,
    with_crop_id: bool = False,
    rate_from_duration: bool = False,
    sample_rate: int = SAMPLE_RATE,
):
    """The SpeechBrain dynamic-item pipeline that reads each utterance (or a crop
    of it) of a prepared CSV: the one every recipe uses.

    Takes ``id`` (the CSV column ``ID``), ``wav``, ``start``, ``stop`` (and
    ``duration`` with ``rate_from_duration``); provides ``sig`` (the audio
    ``[time]``) and, with ``with_crop_id``, ``crop_id`` (``ID@start-stop``, the key
    of a cached teacher output). The crop is `choose_crop`'s: the whole utterance
    when ``crop_seconds <= 0`` or the utterance is not longer than the crop, else
    fixed by the utterance id (``deterministic``) or drawn from the ``random``
    module (a new crop each epoch).

    Arguments
    ---------
    crop_seconds : float
        Crop length; ``<= 0`` reads whole utterances.
    deterministic : bool
        Same crop of an utterance in every epoch (needed by `TeacherCache`).
    with_crop_id : bool
        Also provide ``crop_id``.
    rate_from_duration : bool
        Count ``crop_seconds`` at each row's own rate, ``(stop - start) /
        duration`` samples per second (right for files at any rate), instead of
        at ``sample_rate``.
    sample_rate : int
        Sample rate of the audio as loaded.

    Returns
    -------
    pipeline : callable
        To pass to ``DynamicItemDataset.add_dynamic_item``.

    Example
    -------
    >>> import tempfile, os, numpy as np, soundfile as sf
    >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> sf.write(path, np.zeros(16000), 16000)
    >>> data = sb.dataio.dataset.DynamicItemDataset(
    ...     {"utt1": {"wav": path, "start": 0, "stop": 16000, "duration": 1.0}}
    ... )
    >>> data.add_dynamic_item(audio_pipeline(0.5, True, with_crop_id=True))
    >>> data.set_output_keys(["sig", "crop_id"])
    >>> item = data[0]
    >>> item["sig"].shape, item["crop_id"]
    (torch.Size([8000]), 'utt1@6425-14425')
    """
    takes = ("id", "wav", "start", "stop") + (
        ("duration",) if rate_from_duration else ()
    )
    provides = ("sig", "crop_id") if with_crop_id else ("sig",)

    @sb.utils.data_pipeline.takes(*takes)
    @sb.utils.data_pipeline.provides(*provides)
    def pipeline(utt_id, wav, start, stop, duration=None):
        start, stop = int(start), int(stop)
        if rate_from_duration:
            crop_samples = int(round(crop_seconds * (stop - start) / float(duration)))
        else:
            crop_samples = int(round(crop_seconds * sample_rate))
        begin, end = choose_crop(
            start, stop, crop_samples, key=utt_id, deterministic=deterministic
        )
        yield load_audio(wav, start=begin, stop=end, sample_rate=sample_rate)
        if with_crop_id:
            yield crop_id(utt_id, begin, end)

    return pipeline


def crop_dataset(
    csv_path: str,
    crop_seconds: float,
    deterministic: bool = False,
    min_duration: float = 0.0,
    sample_rate: int = SAMPLE_RATE,
):
    """A dataset of crops of a prepared CSV's utterances (as the distillation
    recipe reads them): items ``id``, ``sig`` and ``crop_id``.

    Arguments
    ---------
    csv_path : str
        A CSV with ``ID, duration, wav, start, stop`` columns.
    crop_seconds : float
        Crop length; ``<= 0`` reads whole utterances.
    deterministic : bool
        Same crop of an utterance in every epoch (needed by `TeacherCache`).
    min_duration : float
        Utterances shorter than this (seconds) are left out.
    sample_rate : int
        Sample rate of the audio as loaded.

    Returns
    -------
    dataset : speechbrain.dataio.dataset.DynamicItemDataset
    """
    data = sb.dataio.dataset.DynamicItemDataset.from_csv(csv_path)
    data = data.filtered_sorted(key_min_value={"duration": min_duration})
    data.add_dynamic_item(
        audio_pipeline(
            crop_seconds, deterministic, with_crop_id=True, sample_rate=sample_rate
        )
    )
    data.set_output_keys(["id", "sig", "crop_id"])
    return data

"""Choosing a fixed-length crop of an utterance: random per epoch, or fixed per
utterance (so that a cached teacher output stays valid).

Authors
 * kdsrl team 2026
"""

import random
import zlib


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


def crop_pipeline(
    crop_seconds: float, deterministic: bool = False, sample_rate: int = 16000
):
    """A SpeechBrain dynamic-item pipeline that reads a crop of each utterance.

    Takes ``id`` (the CSV column ``ID``) and ``wav, start, stop``; provides ``sig`` (the
    audio ``[time]``) and ``crop_id`` (``ID@start-stop``, the key of a cached
    teacher output).

    Arguments
    ---------
    crop_seconds : float
        Crop length; ``<= 0`` reads whole utterances.
    deterministic : bool
        Same crop of an utterance in every epoch (needed by `TeacherCache`).
    sample_rate : int
        Sample rate of the audio as loaded.

    Returns
    -------
    pipeline : callable
        To pass to ``DynamicItemDataset.add_dynamic_item``.
    """
    import speechbrain as sb

    from kdsrl_lobes.data import load_audio

    crop_samples = int(round(crop_seconds * sample_rate))

    @sb.utils.data_pipeline.takes("id", "wav", "start", "stop")
    @sb.utils.data_pipeline.provides("sig", "crop_id")
    def pipeline(utt_id, wav, start, stop):
        begin, end = choose_crop(
            int(start), int(stop), crop_samples, key=utt_id, deterministic=deterministic
        )
        yield load_audio(wav, start=begin, stop=end, sample_rate=sample_rate)
        yield f"{utt_id}@{begin}-{end}"

    return pipeline

"""The one audio pipeline of the recipes: whole utterances, fixed crops, random
crops, ``crop_id`` and the crop length counted at the file's own rate."""

import random

import numpy as np
import pytest
import soundfile as sf
import speechbrain as sb
import torch

from kdsrl_lobes.data import load_audio
from kdsrl_lobes.training.crops import audio_pipeline, choose_crop, crop_id


@pytest.fixture
def ramp_rows(tmp_path):
    """Two rows of one 16 kHz file whose sample i is i / 2**15 (so the audio read
    tells which samples were read), one of them a segment, plus a row of an
    8 kHz file."""
    path = str(tmp_path / "ramp.wav")
    sf.write(path, np.arange(48000) / 2**15, 16000, subtype="FLOAT")
    slow = str(tmp_path / "slow.wav")
    sf.write(slow, np.zeros(16000), 8000)
    return {
        "whole": {"wav": path, "start": "0", "stop": "48000", "duration": 3.0},
        "part": {"wav": path, "start": "8000", "stop": "40000", "duration": 2.0},
        "slow": {"wav": slow, "start": "0", "stop": "16000", "duration": 2.0},
    }


def read(rows, pipeline, keys=("id", "sig")):
    data = sb.dataio.dataset.DynamicItemDataset({k: dict(v) for k, v in rows.items()})
    data.add_dynamic_item(pipeline)
    data.set_output_keys(list(keys))
    return {item["id"]: item for item in (data[i] for i in range(len(data)))}


def first_sample(sig):
    return int(round(float(sig[0]) * 2**15))


def test_whole_utterance(ramp_rows):
    items = read(ramp_rows, audio_pipeline())
    assert items["whole"]["sig"].shape == (48000,)
    assert items["part"]["sig"].shape == (32000,)
    assert first_sample(items["part"]["sig"]) == 8000
    torch.testing.assert_close(
        items["part"]["sig"], load_audio(ramp_rows["part"]["wav"], 8000, 40000)
    )
    with pytest.raises(KeyError):  # crop_id only when asked for
        read(ramp_rows, audio_pipeline(), keys=("id", "crop_id"))


def test_fixed_crop_is_keyed_by_the_utterance_and_names_its_crop_id(ramp_rows):
    pipeline = audio_pipeline(1.0, deterministic=True, with_crop_id=True)
    keys = ("id", "sig", "crop_id")
    first, again = read(ramp_rows, pipeline, keys), read(ramp_rows, pipeline, keys)
    for utt in ("whole", "part"):
        row = ramp_rows[utt]
        begin, end = choose_crop(
            int(row["start"]), int(row["stop"]), 16000, key=utt, deterministic=True
        )
        item = first[utt]
        assert item["crop_id"] == crop_id(utt, begin, end) == again[utt]["crop_id"]
        assert item["sig"].shape == (16000,)
        assert first_sample(item["sig"]) == begin
        torch.testing.assert_close(item["sig"], again[utt]["sig"])
    assert 8000 <= first_sample(first["part"]["sig"]) <= 40000 - 16000


def test_random_crop_draws_as_random_randint_over_the_sample_range(ramp_rows):
    rows = {"part": ramp_rows["part"]}
    pipeline = audio_pipeline(0.5)
    random.seed(3)
    starts = [first_sample(read(rows, pipeline)["part"]["sig"]) for _ in range(8)]
    after = random.random()
    random.seed(3)  # the same draws as randint(start, stop - crop), one per read
    expected = [random.randint(8000, 40000 - 8000) for _ in range(8)]
    assert starts == expected and random.random() == after
    assert len(set(starts)) > 1  # a new crop each epoch
    assert read(rows, pipeline)["part"]["sig"].shape == (8000,)


def test_crop_longer_than_the_utterance_keeps_it_whole(ramp_rows):
    items = read(ramp_rows, audio_pipeline(5.0, with_crop_id=True), ("id", "crop_id"))
    assert items["part"]["crop_id"] == "part@8000-40000"


def test_crop_seconds_at_the_files_own_rate(ramp_rows):
    rows = {"slow": ramp_rows["slow"]}
    own_rate = read(rows, audio_pipeline(0.5, rate_from_duration=True))
    assert own_rate["slow"]["sig"].shape == (8000,)  # 0.5 s, read at 16 kHz
    fixed_rate = read(rows, audio_pipeline(0.5))  # 8000 samples of an 8 kHz file
    assert fixed_rate["slow"]["sig"].shape == (16000,)

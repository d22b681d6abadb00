"""Tests of the dataset preparations and load_audio, on the quick corpus."""

import csv
import importlib
import logging
import os
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio

from kdsrl_lobes.data import (
    GSC_CLASSES,
    GSC_KEYWORDS,
    load_audio,
    prepare_gsc,
    prepare_librispeech,
    prepare_voxceleb1,
    read_trials,
)
from kdsrl_lobes.data import audio as audio_module

# The package exports the function prepare_gsc, which hides the module's name.
prepare_gsc_module = importlib.import_module("kdsrl_lobes.data.prepare_gsc")

GSC_COLUMNS = ["ID", "duration", "wav", "start", "stop", "spk_id", "command"]
VOX_COLUMNS = ["ID", "duration", "wav", "start", "stop", "spk_id"]
LIBRI_COLUMNS = VOX_COLUMNS + ["transcript"]


def read_csv(path: str) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


@pytest.fixture(scope="module")
def gsc_csvs(quick_corpus, tmp_path_factory):
    save = tmp_path_factory.mktemp("gsc_prepared")
    return prepare_gsc(os.path.join(quick_corpus, "speech_commands_v0.01"), str(save))


def test_prepare_gsc_splits_and_labels(quick_corpus, gsc_csvs):
    root = os.path.join(quick_corpus, "speech_commands_v0.01")
    with open(os.path.join(root, "validation_list.txt")) as f:
        valid_list = set(f.read().split())
    with open(os.path.join(root, "testing_list.txt")) as f:
        test_list = set(f.read().split())
    speakers, ids = {}, []
    for split in ("train", "valid", "test"):
        columns, rows = read_csv(gsc_csvs[split])
        assert columns == GSC_COLUMNS
        assert {r["command"] for r in rows} == set(GSC_CLASSES)  # all 12 present
        words = [r for r in rows if r["command"] != "_silence_"]
        silence = [r for r in rows if r["command"] == "_silence_"]
        assert len(silence) == int(np.ceil(0.1 * len(words)))
        for row in words:
            rel = row["ID"] + ".wav"
            assert (rel in valid_list, rel in test_list) == (
                split == "valid",
                split == "test",
            )
            word = rel.split("/")[0]
            assert row["command"] == (word if word in GSC_KEYWORDS else "_unknown_")
            assert (row["start"], row["stop"], row["duration"]) == ("0", "16000", "1.0")
            assert row["wav"] == os.path.join(root, rel)
        for row in silence:
            start, stop = int(row["start"]), int(row["stop"])
            frames = sf.info(row["wav"]).frames
            assert stop - start == 16000 and 0 <= start and stop <= frames
            region = {"train": (0, 0.8), "valid": (0.8, 0.9), "test": (0.9, 1.0)}[split]
            assert region[0] * frames <= start and stop <= region[1] * frames + 1
            assert load_audio(row["wav"], start, stop).shape == (16000,)
        speakers[split] = {r["spk_id"] for r in words}
        ids += [r["ID"] for r in rows]
    assert len(set(ids)) == len(ids)
    assert not speakers["train"] & speakers["valid"]
    assert not speakers["train"] & speakers["test"]
    assert not speakers["valid"] & speakers["test"]


def test_prepare_gsc_unknown_fraction(quick_corpus, tmp_path, gsc_csvs):
    csvs = prepare_gsc(
        os.path.join(quick_corpus, "speech_commands_v0.01"),
        str(tmp_path),
        unknown_fraction=0.25,
    )

    def count(rows, label):
        return sum(r["command"] == label for r in rows)

    for split in ("train", "valid"):
        _, full = read_csv(gsc_csvs[split])
        _, sub = read_csv(csvs[split])
        keywords = [r["ID"] for r in full if r["command"] in GSC_KEYWORDS]
        # every keyword clip is kept, unknown subsampled to 25 % of them
        assert sorted(r["ID"] for r in sub if r["command"] in GSC_KEYWORDS) == sorted(
            keywords
        )
        assert count(sub, "_unknown_") == round(0.25 * len(keywords))
        assert count(sub, "_unknown_") < count(full, "_unknown_")
        kept = {r["ID"] for r in sub if r["command"] == "_unknown_"}
        assert kept <= {r["ID"] for r in full if r["command"] == "_unknown_"}
    _, full_test = read_csv(gsc_csvs["test"])
    _, sub_test = read_csv(csvs["test"])
    assert count(sub_test, "_unknown_") == count(full_test, "_unknown_")


def test_prepare_gsc_unknown_fraction_above_available_keeps_all(
    quick_corpus, tmp_path, gsc_csvs
):
    csvs = prepare_gsc(
        os.path.join(quick_corpus, "speech_commands_v0.01"),
        str(tmp_path),
        unknown_fraction=50.0,
    )
    _, full = read_csv(gsc_csvs["train"])
    _, sub = read_csv(csvs["train"])
    assert sorted(r["ID"] for r in sub if r["command"] != "_silence_") == sorted(
        r["ID"] for r in full if r["command"] != "_silence_"
    )
    with pytest.raises(ValueError, match="unknown_fraction must be >= 0"):
        prepare_gsc(
            os.path.join(quick_corpus, "speech_commands_v0.01"),
            str(tmp_path / "neg"),
            unknown_fraction=-0.1,
        )


def test_prepare_gsc_skips_when_done_and_redoes_on_new_options(quick_corpus, tmp_path):
    data = os.path.join(quick_corpus, "speech_commands_v0.01")
    csvs = prepare_gsc(data, str(tmp_path))
    with open(csvs["train"], "a") as f:
        f.write("sentinel row\n")  # survives only if the second call skips
    assert prepare_gsc(data, str(tmp_path)) == csvs
    with open(csvs["train"]) as f:
        assert f.read().endswith("sentinel row\n")
    prepare_gsc(data, str(tmp_path), seed=5)  # other options: prepared again
    with open(csvs["train"]) as f:
        assert "sentinel" not in f.read()


def test_prepare_gsc_writes_nothing_half_done(quick_corpus, tmp_path, monkeypatch):
    real_write = prepare_gsc_module.write_csv_atomic
    calls = []

    def failing_write(path, rows, columns):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        real_write(path, rows, columns)

    monkeypatch.setattr(prepare_gsc_module, "write_csv_atomic", failing_write)
    data = os.path.join(quick_corpus, "speech_commands_v0.01")
    with pytest.raises(OSError, match="disk full"):
        prepare_gsc(data, str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["train.csv"]  # no marker, no temp file
    monkeypatch.undo()
    prepare_gsc(data, str(tmp_path))  # not skipped: the marker was never written
    assert sorted(os.listdir(tmp_path)) == [
        "prepare_gsc.json", "test.csv", "train.csv", "valid.csv",
    ]  # fmt: skip


def test_prepare_voxceleb1(quick_corpus, tmp_path):
    data = os.path.join(quick_corpus, "voxceleb1")
    csvs = prepare_voxceleb1(data, str(tmp_path))
    trials = read_trials(os.path.join(data, "veri_test2.txt"))
    trial_files = {p for _, a, b in trials for p in (a, b)}
    test_speakers = {p.split("/")[0] for p in trial_files}
    splits = {}
    for split in ("train", "valid", "test"):
        columns, rows = read_csv(csvs[split])
        assert columns == VOX_COLUMNS
        for row in rows:
            frames = sf.info(row["wav"]).frames
            assert (int(row["start"]), int(row["stop"])) == (0, frames)
            assert abs(float(row["duration"]) - frames / 16000) < 1e-4
            assert row["wav"] == os.path.join(data, "wav", row["ID"])
            assert row["spk_id"] == row["ID"].split("/")[0]
        splits[split] = rows
    assert {r["ID"] for r in splits["test"]} == trial_files
    train_speakers = {r["spk_id"] for r in splits["train"]}
    valid_speakers = {r["spk_id"] for r in splits["valid"]}
    assert train_speakers and not train_speakers & test_speakers
    assert valid_speakers == train_speakers  # held-out utterances of dev speakers
    assert not {r["ID"] for r in splits["train"]} & {r["ID"] for r in splits["valid"]}
    # skip when done
    with open(csvs["test"], "a") as f:
        f.write("sentinel\n")
    prepare_voxceleb1(data, str(tmp_path))
    with open(csvs["test"]) as f:
        assert f.read().endswith("sentinel\n")


def test_prepare_voxceleb1_trial_fallback_and_errors(quick_corpus, tmp_path):
    data = str(tmp_path / "voxceleb1")
    shutil.copytree(os.path.join(quick_corpus, "voxceleb1"), data)
    os.rename(os.path.join(data, "veri_test2.txt"), os.path.join(data, "veri_test.txt"))
    csvs = prepare_voxceleb1(data, str(tmp_path / "save"))
    assert read_csv(csvs["test"])[1]
    os.remove(os.path.join(data, "veri_test.txt"))
    with pytest.raises(FileNotFoundError, match="veri_test2.txt"):
        prepare_voxceleb1(data, str(tmp_path / "save2"))
    missing = str(tmp_path / "nope.txt")
    with pytest.raises(FileNotFoundError, match=missing):
        prepare_voxceleb1(data, str(tmp_path / "save3"), trials=missing)
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "absent")):
        prepare_voxceleb1(str(tmp_path / "absent"), str(tmp_path / "save4"))


def test_read_trials_errors_name_file_and_line(quick_corpus, tmp_path):
    wav = os.path.join(quick_corpus, "voxceleb1", "wav")
    with open(os.path.join(quick_corpus, "voxceleb1", "veri_test2.txt")) as f:
        good = f.readline().strip()
    path = str(tmp_path / "trials.txt")
    cases = [
        (f"{good}\n1 id10270/xxxxxxxxxxx/00001.wav {good.split()[2]}\n",
         FileNotFoundError, "line 2: trial file id10270/xxxxxxxxxxx/00001.wav"),
        (f"{good}\n\n2 {' '.join(good.split()[1:])}\n", ValueError, "line 3: label"),
        (f"{good}\n1 only_one_file.wav\n", ValueError, "line 2: expected"),
        ("\n", ValueError, "no trials"),
    ]  # fmt: skip
    for text, error, message in cases:
        with open(path, "w") as f:
            f.write(text)
        with pytest.raises(error, match=message) as info:
            read_trials(path, wav)
        assert path in str(info.value)
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        read_trials(str(tmp_path / "missing.txt"))


def test_prepare_librispeech(quick_corpus, tmp_path):
    data = os.path.join(quick_corpus, "LibriSpeech")
    csvs = prepare_librispeech(data, str(tmp_path), ("train-clean-100", "dev-clean"))
    assert set(csvs) == {"train-clean-100", "dev-clean"}
    total = 0
    for split, path in csvs.items():
        assert os.path.basename(path) == f"{split}.csv"
        columns, rows = read_csv(path)
        assert columns == LIBRI_COLUMNS and rows
        for row in rows:
            spk, chapter, _ = row["ID"].split("-")
            folder = os.path.join(data, split, spk, chapter)
            assert row["wav"] == os.path.join(folder, row["ID"] + ".flac")
            with open(os.path.join(folder, f"{spk}-{chapter}.trans.txt")) as f:
                lines = dict(line.rstrip("\n").split(" ", 1) for line in f)
            assert row["transcript"] == lines[row["ID"]] and row["spk_id"] == spk
            assert int(row["stop"]) == sf.info(row["wav"]).frames
        total += len(rows)
    assert total == 20
    with pytest.raises(FileNotFoundError, match="test-other"):
        prepare_librispeech(data, str(tmp_path / "x"), ("test-other",))
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "absent")):
        prepare_librispeech(str(tmp_path / "absent"), str(tmp_path / "y"))


def _plant_broken_files(folder: str) -> dict[str, str]:
    """Plants broken and unusual files in a copied GSC word folder."""
    source = os.path.join(folder, min(os.listdir(folder)))
    with open(source, "rb") as f:
        good = f.read()
    paths = {
        name: os.path.join(folder, f"{prefix}_nohash_0.wav")
        for name, prefix in (
            ("empty", "e0e0e0e0"),
            ("garbage", "0badf00d"),
            ("truncated", "7a7a7a7a"),
            ("stereo44k", "44e44e44"),
            ("no_samples", "00000000"),
        )
    }
    open(paths["empty"], "wb").close()
    with open(paths["garbage"], "wb") as f:
        f.write(b"RIFF" + np.random.default_rng(0).bytes(3000))
    with open(paths["truncated"], "wb") as f:
        f.write(good[: len(good) // 2])
    t = np.arange(44100) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)], 1)
    sf.write(paths["stereo44k"], 0.5 * stereo, 44100)
    sf.write(paths["no_samples"], np.zeros(0), 16000)
    return paths


def test_bad_data_is_skipped_and_counted(quick_corpus, tmp_path, caplog):
    source = os.path.join(quick_corpus, "speech_commands_v0.01")
    data = str(tmp_path / "gsc")
    os.makedirs(data)
    for name in ("yes", "marvin", "_background_noise_"):
        shutil.copytree(os.path.join(source, name), os.path.join(data, name))
    for name in ("validation_list.txt", "testing_list.txt"):
        shutil.copy(os.path.join(source, name), data)
    planted = _plant_broken_files(os.path.join(data, "yes"))
    audio_module._WARNED.clear()
    with caplog.at_level(logging.WARNING):
        csvs = prepare_gsc(data, str(tmp_path / "save"))
    broken = [planted[k] for k in ("empty", "garbage", "truncated", "no_samples")]
    total = 2 * 2 * 10 + len(planted)  # two words, two takes, ten speakers
    summary = [
        m
        for m in map(logging.LogRecord.getMessage, caplog.records)
        if m.startswith("skipped ")
    ]
    assert len(summary) == 1 and f"skipped 4 of {total} GSC files" in summary[0]
    assert all(path in summary[0] for path in broken)
    rows = {r["wav"]: r for path in csvs.values() for r in read_csv(path)[1]}
    assert not set(broken) & set(rows)
    stereo = rows[planted["stereo44k"]]  # accepted, measured at its own rate
    assert (stereo["start"], stereo["stop"], float(stereo["duration"])) == (
        "0",
        "44100",
        1.0,
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        first = load_audio(stereo["wav"], 0, int(stereo["stop"]))
        second = load_audio(stereo["wav"], 22050, 44100)
    assert first.shape == (16000,) and second.shape == (8000,)
    assert first.dtype == torch.float32
    stereo_audio, _ = sf.read(stereo["wav"], dtype="float32")
    expected = torchaudio.functional.resample(
        torch.from_numpy(stereo_audio.mean(1)), 44100, 16000
    )
    assert torch.allclose(first, expected, atol=1e-5)
    assert torch.allclose(second[200:-200], first[8200:-200], atol=1e-3)
    warnings = [r.getMessage() for r in caplog.records]
    assert sum("Down-mixing 2-channel" in m for m in warnings) == 1  # once
    assert sum("Resampling 44100 Hz" in m for m in warnings) == 1


def test_load_audio_errors_name_the_file(quick_corpus, tmp_path):
    folder = str(tmp_path / "yes")
    shutil.copytree(os.path.join(quick_corpus, "speech_commands_v0.01", "yes"), folder)
    good = os.path.join(folder, min(os.listdir(folder)))
    planted = _plant_broken_files(folder)
    for kind in ("empty", "garbage", "truncated", "no_samples"):
        with pytest.raises(ValueError, match=planted[kind]):
            load_audio(planted[kind])
    with pytest.raises(ValueError, match="Invalid range"):
        load_audio(good, 100, 50)
    with pytest.raises(ValueError, match="Truncated"):
        load_audio(good, 0, 20000)  # past the end of a 16000-sample clip
    with pytest.raises(FileNotFoundError, match="nothing.wav"):
        load_audio(str(tmp_path / "nothing.wav"))
    expected, _ = sf.read(good, start=1000, stop=3000, dtype="float32")
    assert torch.equal(load_audio(good, 1000, 3000), torch.from_numpy(expected))


def test_missing_folders_raise(tmp_path):
    absent = str(tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match=absent):
        prepare_gsc(absent, str(tmp_path / "save"))
    os.makedirs(absent)
    with pytest.raises(FileNotFoundError, match="validation_list.txt"):
        prepare_gsc(absent, str(tmp_path / "save"))
    with pytest.raises(FileNotFoundError, match=os.path.join(absent, "wav")):
        prepare_voxceleb1(absent, str(tmp_path / "save"))

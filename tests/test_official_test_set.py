"""GSC V1's official balanced test set: the embedded copy's layout and balance,
its speakers apart from train and valid, prepare_gsc(test_folder=), adding it to
a corpus generated before it, and bad input."""

import json
import os
import shutil

import pytest

from kdsrl_lobes.data import GSC_CLASSES, GSC_KEYWORDS, official_test_rows, prepare_gsc
from kdsrl_lobes.data.csv_utils import read_csv_rows
from kdsrl_lobes.data.gsc import OFFICIAL_TEST_FOLDER, which_set
from kdsrl_lobes.data.synth.generate import MANIFEST_FILE, generate, read_manifest
from kdsrl_lobes.data.synth.layout import CorpusSizes
from kdsrl_lobes.data.synth.superb_extras import ExtrasSizes


@pytest.fixture(scope="module")
def official(quick_corpus):
    return os.path.join(quick_corpus, OFFICIAL_TEST_FOLDER)


def test_official_test_set_is_balanced(official):
    counts = {
        label: len(os.listdir(os.path.join(official, label))) for label in GSC_CLASSES
    }
    assert sorted(counts) == sorted(GSC_CLASSES)
    # quick corpus: 10 speakers x 2 takes in every class
    assert set(counts.values()) == {20}
    rows = official_test_rows(official)
    assert len(rows) == 12 * 20
    assert {r["command"] for r in rows} == set(GSC_CLASSES)
    assert all(float(r["duration"]) == pytest.approx(1.0, abs=0.01) for r in rows)


def test_official_test_speakers_are_apart_from_train_and_valid(quick_corpus, official):
    speakers = {r["spk_id"] for r in official_test_rows(official)
                if r["command"] != "_silence_"}  # fmt: skip
    assert len(speakers) == 10
    main = os.path.join(quick_corpus, "speech_commands_v0.01")
    corpus_speakers = {
        name.split("_nohash_")[0]
        for word in os.listdir(main)
        if not word.startswith("_") and os.path.isdir(os.path.join(main, word))
        for name in os.listdir(os.path.join(main, word))
    }
    assert corpus_speakers and not speakers & corpus_speakers
    # and GSC's own hash puts each of them in the testing split
    assert {which_set(f"{s}_nohash_0.wav") for s in speakers} == {"testing"}
    # every keyword said twice by every speaker: keyword trials can be made
    for keyword in GSC_KEYWORDS:
        names = os.listdir(os.path.join(official, keyword))
        per_speaker = {}
        for name in names:
            spk = name.split("_nohash_")[0]
            per_speaker[spk] = per_speaker.get(spk, 0) + 1
        assert set(per_speaker.values()) == {2}


def test_prepare_gsc_tests_on_the_official_set(quick_corpus, official, tmp_path):
    main = os.path.join(quick_corpus, "speech_commands_v0.01")
    csvs = prepare_gsc(main, str(tmp_path), test_folder=official)
    test = read_csv_rows(csvs["test"])
    assert sorted(r["ID"] for r in test) == sorted(
        r["ID"] for r in official_test_rows(official)
    )
    with open(os.path.join(main, "testing_list.txt")) as f:
        listed = {os.path.splitext(line.strip())[0] for line in f if line.strip()}
    used = {r["ID"] for split in ("train", "valid") for r in read_csv_rows(csvs[split])}
    assert listed and not listed & used  # the testing list is used nowhere
    default = prepare_gsc(main, str(tmp_path / "default"))  # today's split stays
    words = [r for r in read_csv_rows(default["test"]) if r["command"] != "_silence_"]
    assert words and {r["ID"] for r in words} <= listed


def test_test_folder_with_other_classes_is_refused(quick_corpus, official, tmp_path):
    bad = tmp_path / "test_set"
    shutil.copytree(official, bad)
    shutil.rmtree(bad / "up")
    (bad / "marvin").mkdir()
    main = os.path.join(quick_corpus, "speech_commands_v0.01")
    with pytest.raises(ValueError, match=r"missing \['up'\], extra \['marvin'\]"):
        prepare_gsc(main, str(tmp_path / "p"), test_folder=str(bad))
    with pytest.raises(FileNotFoundError, match="official test folder not found"):
        prepare_gsc(main, str(tmp_path / "q"), test_folder=str(tmp_path / "none"))
    bad_name = tmp_path / "test_set" / "yes" / "no_speaker_here.wav"
    shutil.rmtree(bad / "marvin")
    shutil.copytree(os.path.join(official, "up"), bad / "up")
    shutil.copy(os.path.join(official, "yes", os.listdir(bad / "yes")[0]), bad_name)
    with pytest.raises(ValueError, match="no_speaker_here.wav"):
        official_test_rows(str(bad))


def test_test_set_is_added_to_a_corpus_from_before(tmp_path):
    folder = str(tmp_path / "corpus")
    tiny = CorpusSizes(3, 1, 1, 2, 2, 1, 1, 1, 1, 1, 10.0)
    options = {"sizes": tiny, "extras_sizes": ExtrasSizes(1, 1), "seed": 3}
    generate(folder, progress=False, **options)
    main_file = os.path.join(folder, "speech_commands_v0.01", "yes")
    main_file = os.path.join(main_file, sorted(os.listdir(main_file))[0])
    mtime = os.path.getmtime(main_file)
    # a corpus generated before the test set existed: no folder, no entry
    shutil.rmtree(os.path.join(folder, OFFICIAL_TEST_FOLDER))
    manifest = read_manifest(folder)
    del manifest["official_test"]
    with open(os.path.join(folder, MANIFEST_FILE), "w") as f:
        json.dump(manifest, f)
    result = generate(folder, progress=False, **options)
    assert not result.get("skipped")
    assert os.path.isdir(os.path.join(folder, OFFICIAL_TEST_FOLDER))
    assert os.path.getmtime(main_file) == mtime  # the main corpus untouched
    assert read_manifest(folder)["official_test"]["per_class"] == 3
    assert generate(folder, progress=False, **options)["skipped"]

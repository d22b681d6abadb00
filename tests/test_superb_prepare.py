"""SUPERB preparations: IEMOCAP (emotion recognition), VoxCeleb1's iden_split
(speaker identification) and the lexicon reader (phoneme recognition), on the
quick corpus's extras and on broken copies of them."""

import json
import os
import re
import shutil
from collections import Counter

import pytest
import soundfile as sf

from kdsrl_lobes.data import (
    EMOTION_CLASSES,
    check_lexicon,
    find_iden_split,
    find_lexicon,
    prepare_iemocap,
    prepare_voxceleb1_sid,
    read_csv_rows,
    read_lexicon,
    words_to_phones,
)
from kdsrl_lobes.data.prepare_iemocap import IEMOCAP_COLUMNS, evaluation_folder

from .test_superb_data import iemocap_turns

VOX_COLUMNS = ["ID", "duration", "wav", "start", "stop", "spk_id"]


def test_read_lexicon_strips_stress_and_names_errors(tmp_path):
    path = tmp_path / "librispeech-lexicon.txt"
    path.write_text("HELLO\tHH AH0 L OW1\nHELLO\tHH EH1 L OW0\n\nTHE  DH AH0\n")
    lexicon = read_lexicon(str(path))
    assert lexicon == {"HELLO": ("HH", "AH", "L", "OW"), "THE": ("DH", "AH")}
    assert words_to_phones("THE HELLO", lexicon, "u1") == [
        "DH", "AH", "HH", "AH", "L", "OW"
    ]  # fmt: skip
    with pytest.raises(ValueError, match="'WORLD' of utterance 84-121-0002"):
        words_to_phones(["HELLO", "WORLD"], lexicon, "84-121-0002")
    rows = [{"ID": "1-2-0000", "transcript": "THE HELLO"},
            {"ID": "1-2-0001", "transcript": "HELLO THERE THE WORLD"}]  # fmt: skip
    with pytest.raises(ValueError, match="'THERE' of utterance 1-2-0001"):
        check_lexicon(rows, lexicon)
    bad = tmp_path / "bad.txt"
    bad.write_text("HELLO HH AH0 L OW1\n\nWORLD\n")
    with pytest.raises(ValueError, match=re.escape(f"{bad}, line 3")):
        read_lexicon(str(bad))
    with pytest.raises(FileNotFoundError, match="librispeech-lexicon.txt"):
        find_lexicon(str(tmp_path / "a" / "b"))


def test_prepare_iemocap(quick_corpus, tmp_path, caplog):
    root = os.path.join(quick_corpus, "IEMOCAP_full_release")
    turns = iemocap_turns(root)
    with caplog.at_level("INFO"):
        csvs = prepare_iemocap(quick_corpus, str(tmp_path / "fold5"))  # the parent
    rows = {split: read_csv_rows(path) for split, path in csvs.items()}
    with open(tmp_path / "fold5" / "prepare_iemocap.json") as f:
        marker = json.load(f)
    skipped = Counter(label for *_, label in turns if label in ("fru", "xxx"))
    assert marker["skipped_labels"] == dict(skipped) and sum(skipped.values()) == 5
    assert "fru" in caplog.text and "skipped 5 utterances" in caplog.text
    kept = {utt: ("hap" if label == "exc" else label)
            for _, _, _, utt, label in turns if label not in skipped}  # fmt: skip
    prepared = {r["ID"]: r["emotion"] for split in rows.values() for r in split}
    assert prepared == kept  # exc merged into hap, every other turn kept once
    for split, split_rows in rows.items():
        assert split_rows and list(split_rows[0]) == list(IEMOCAP_COLUMNS)
        assert {r["emotion"] for r in split_rows} <= set(EMOTION_CLASSES)
        sessions = {r["session"] for r in split_rows}
        if split == "test":
            assert sessions == {"5"}
        else:
            assert "5" not in sessions
    assert {r["speaker"] for r in rows["test"]} == {"Ses05F", "Ses05M"}
    row = rows["test"][0]
    assert int(row["stop"]) == sf.info(row["wav"]).frames
    other = prepare_iemocap(root, str(tmp_path / "fold2"), test_session=2)
    assert {r["session"] for r in read_csv_rows(other["test"])} == {"2"}
    assert len(read_csv_rows(other["train"])) + len(read_csv_rows(other["valid"])) > 0


def test_prepare_iemocap_names_what_is_missing_or_malformed(quick_corpus, tmp_path):
    copy = tmp_path / "IEMOCAP_full_release"
    shutil.copytree(os.path.join(quick_corpus, "IEMOCAP_full_release"), copy)
    shutil.rmtree(copy / "Session4")
    with pytest.raises(FileNotFoundError, match=re.escape(str(copy / "Session4"))):
        prepare_iemocap(str(tmp_path), str(tmp_path / "a"))
    with pytest.raises(FileNotFoundError, match="IEMOCAP not found"):
        prepare_iemocap(str(tmp_path / "none"), str(tmp_path / "b"))
    shutil.rmtree(copy)
    shutil.copytree(os.path.join(quick_corpus, "IEMOCAP_full_release"), copy)
    evaluation = os.path.join(evaluation_folder(str(copy), 3), "Ses03F_impro01.txt")
    with open(evaluation, "a") as f:
        f.write("[1.0 - 2.0] Ses03F_impro01_F099 neu\n")
    with pytest.raises(ValueError, match=re.escape(evaluation) + ", line"):
        prepare_iemocap(str(copy), str(tmp_path / "c"))


def test_prepare_voxceleb1_sid_follows_iden_split(quick_corpus, tmp_path):
    vox = os.path.join(quick_corpus, "voxceleb1")
    csvs = prepare_voxceleb1_sid(vox, str(tmp_path))
    assert {s: os.path.basename(p) for s, p in csvs.items()} == {
        "train": "sid_train.csv", "valid": "sid_valid.csv", "test": "sid_test.csv"
    }  # fmt: skip
    with open(find_iden_split(vox)) as f:
        listed = [line.split() for line in f]
    names = {"1": "train", "2": "valid", "3": "test"}
    speakers = set()
    for split, path in csvs.items():
        rows = read_csv_rows(path)
        assert rows and list(rows[0]) == VOX_COLUMNS
        assert sorted(r["ID"] for r in rows) == sorted(
            rel for label, rel in listed if names[label] == split
        )
        assert all(r["spk_id"] == r["ID"].split("/")[0] for r in rows)
        assert all(int(r["stop"]) == sf.info(r["wav"]).frames for r in rows)
        speakers.add(frozenset(r["spk_id"] for r in rows))
    assert len(speakers) == 1  # the same speakers in every split
    broken = tmp_path / "iden_split.txt"
    missing = "id10001/aaaaaaaaaaa/00009.wav"
    broken.write_text("".join(f"{a} {b}\n" for a, b in listed) + f"1 {missing}\n")
    with pytest.raises(FileNotFoundError, match=missing):
        prepare_voxceleb1_sid(vox, str(tmp_path / "x"), iden_split=str(broken))
    broken.write_text("1 id10001/aaaaaaaaaaa/00001.wav\n4 id10001/b/00001.wav\n")
    with pytest.raises(ValueError, match=re.escape(f"{broken}, line 2")):
        prepare_voxceleb1_sid(vox, str(tmp_path / "y"), iden_split=str(broken))

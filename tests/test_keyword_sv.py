"""Keyword speaker verification: balanced same-keyword trials that pair the
right speakers, missing clips named, the one documented call of a packaged
model, and GSC speakers as extra SV training data."""

import os

import pytest
import torch

from kdsrl_lobes.data import add_gsc_speakers, official_test_rows, read_csv_rows
from kdsrl_lobes.data.gsc import OFFICIAL_TEST_FOLDER
from kdsrl_lobes.evaluation.keyword_sv import (
    evaluate_keyword_sv,
    keyword_trials,
    keyword_verification,
    trial_speaker,
)
from kdsrl_lobes.hub import package
from kdsrl_lobes.hub.inference import MultiTaskSpeechModel


@pytest.fixture(scope="module")
def official_rows(quick_corpus):
    return official_test_rows(os.path.join(quick_corpus, OFFICIAL_TEST_FOLDER))


def test_keyword_trials_are_balanced_and_pair_the_right_speakers(official_rows):
    trials = keyword_trials(official_rows, seed=3)
    assert trials == keyword_trials(official_rows, seed=3)  # seeded
    speaker_of = {f"{r['ID']}.wav": r["spk_id"] for r in official_rows}
    word_of = {f"{r['ID']}.wav": r["command"] for r in official_rows}
    by_word = {}
    for label, enrol, test in trials:
        assert enrol != test
        assert word_of[enrol] == word_of[test]  # the word is held fixed
        assert word_of[enrol] not in ("_unknown_", "_silence_")
        assert label == int(speaker_of[enrol] == speaker_of[test])
        assert trial_speaker(enrol) == speaker_of[enrol]
        by_word.setdefault(word_of[enrol], []).append(label)
    assert len(by_word) == 10
    for labels in by_word.values():
        # quick set: 10 speakers x 2 takes -> 10 target pairs, as many others
        assert labels.count(1) == labels.count(0) == 10
    assert len({(a, b) for _, a, b in trials}) == len(trials)


def test_keyword_trials_need_two_speakers():
    rows = [{"ID": f"yes/a_nohash_{k}", "spk_id": "a", "command": "yes"}
            for k in range(3)]  # fmt: skip
    with pytest.raises(ValueError, match="found no such keyword in 3 rows"):
        keyword_trials(rows)


def test_voice_embedding_scores_zero_eer_word_embedding_half(official_rows):
    trials = keyword_trials(official_rows)
    names = {n for _, a, b in trials for n in (a, b)}
    speakers = sorted({trial_speaker(n) for n in names})
    voice = {n: torch.eye(len(speakers))[speakers.index(trial_speaker(n))]
             for n in names}  # fmt: skip
    assert keyword_verification(voice, trials, 50)["sv_keyword_eer"] == 0.0
    # an embedding of the word alone cannot tell speakers on same-word trials
    word = {n: torch.ones(3) for n in names}
    assert keyword_verification(word, trials, 50)["sv_keyword_eer"] == 50.0


def test_missing_clip_is_named(quick_corpus, tmp_path):
    folder = os.path.join(quick_corpus, OFFICIAL_TEST_FOLDER)
    trials = [(1, "yes/nobody_nohash_0.wav", "yes/nobody_nohash_1.wav")]
    with pytest.raises(FileNotFoundError, match="trial 1 names yes/nobody_nohash_0"):
        evaluate_keyword_sv(lambda p: torch.zeros(2), folder, trials)


def test_packaged_model_verifies_keywords(trained_multitask, quick_corpus, tmp_path):
    out = str(tmp_path / "package")
    package.main([trained_multitask, out])
    model = MultiTaskSpeechModel.from_hparams(
        source=out, savedir=str(tmp_path / "savedir"), run_opts={"device": "cpu"}
    )
    folder = os.path.join(quick_corpus, OFFICIAL_TEST_FOLDER)
    metrics = model.verify_keywords(folder, n_resamples=20)
    assert metrics["sv_keyword_num_trials"] == 200  # 10 keywords x (10 + 10)
    assert metrics["sv_keyword_num_speakers"] == 10
    low, high = metrics["sv_keyword_eer_ci95"]
    assert 0.0 <= low <= metrics["sv_keyword_eer"] <= high <= 100.0


def test_add_gsc_speakers(quick_corpus, tmp_path):
    from kdsrl_lobes.data import prepare_gsc, prepare_voxceleb1

    gsc = prepare_gsc(
        os.path.join(quick_corpus, "speech_commands_v0.01"), str(tmp_path / "gsc")
    )
    vox = prepare_voxceleb1(
        os.path.join(quick_corpus, "voxceleb1"), str(tmp_path / "vox")
    )
    out = add_gsc_speakers(vox["train"], gsc["train"], str(tmp_path / "sv.csv"))
    rows = read_csv_rows(out)
    vox_rows = read_csv_rows(vox["train"])
    assert rows[: len(vox_rows)] == [
        {k: r[k] for k in rows[0]} for r in vox_rows
    ]  # VoxCeleb rows first, as they were
    extra = rows[len(vox_rows) :]
    words = [r for r in read_csv_rows(gsc["train"]) if r["command"] != "_silence_"]
    assert len(extra) == len(words)
    assert all(r["spk_id"].startswith("gsc-") for r in extra)
    assert {r["spk_id"][4:] for r in extra} == {r["spk_id"] for r in words}
    with pytest.raises(FileNotFoundError, match="Prepared CSV not found"):
        add_gsc_speakers(str(tmp_path / "none.csv"), gsc["train"], out)

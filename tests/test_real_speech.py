"""benchmarks/real_speech.py on a ktuberling-style folder made of quick-corpus
clips: speaker folders kept or refused with a reason, copies dropped, balanced
trials, and the JSON / markdown / PNG it writes for a packaged model."""

import importlib.util
import json
import os
import shutil

import pytest

from kdsrl_lobes.hub import package

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "real_speech.py")
spec = importlib.util.spec_from_file_location("real_speech", SCRIPT)
real_speech = importlib.util.module_from_spec(spec)
spec.loader.exec_module(real_speech)


@pytest.fixture(scope="module")
def sounds(quick_corpus, tmp_path_factory):
    """Three 'language folders', each one VoxCeleb speaker's utterances, one
    copy of a folder and one folder with too few clips."""
    root = tmp_path_factory.mktemp("sounds")
    wav = os.path.join(quick_corpus, "voxceleb1", "wav")
    for spk in sorted(os.listdir(wav))[:3]:
        folder = root / spk
        folder.mkdir()
        for video in sorted(os.listdir(os.path.join(wav, spk))):
            for name in os.listdir(os.path.join(wav, spk, video)):
                shutil.copy(
                    os.path.join(wav, spk, video, name), folder / f"{video}_{name}"
                )
    first = sorted(os.listdir(root))[0]
    shutil.copytree(root / first, root / "zz_copy")
    (root / "tiny").mkdir()
    shutil.copy(next((root / first).iterdir()), root / "tiny" / "other.wav")
    (root / "tiny" / "other.wav").write_bytes(
        (root / "tiny" / "other.wav").read_bytes()[:-2] + b"\x00\x01"
    )  # new content: not a copy
    return str(root)


def test_folders_kept_and_refused_with_reasons(sounds):
    kept, report = real_speech.speaker_folders(sounds, 3, 10.0)
    assert len(kept) == 3 and "zz_copy" not in kept and "tiny" not in kept
    assert report["zz_copy"]["verdict"] == "a copy of earlier folders"
    assert report["zz_copy"]["duplicates_dropped"] == 4
    assert report["tiny"]["verdict"] == "fewer than 3 clips"
    # a one-voice limit no real folder meets refuses them all
    with pytest.raises(ValueError, match="at least 2 speaker folders"):
        real_speech.speaker_folders(sounds, 3, 1.0)
    with pytest.raises(FileNotFoundError, match="apt-get install ktuberling-data"):
        real_speech.speaker_folders(os.path.join(sounds, "none"), 3, 10.0)


def test_trials_are_balanced_per_speaker():
    speakers = {s: [f"{s}/{i}.wav" for i in range(5)] for s in "abc"}
    trials = real_speech.make_trials(speakers, 4, seed=1)
    assert trials == real_speech.make_trials(speakers, 4, seed=1)
    for spk in "abc":
        mine = [t for t in trials if t[1].startswith(spk)]
        assert [label for label, _, _ in mine].count(1) == 4
        assert [label for label, _, _ in mine].count(0) == 4
    for label, a, b in trials:
        assert a != b and label == int(a.split("/")[0] == b.split("/")[0])


def test_benchmark_writes_its_table(sounds, trained_multitask, tmp_path):
    pkg = str(tmp_path / "pkg")
    package.main([trained_multitask, pkg])
    out = str(tmp_path / "out")
    results = real_speech.main(
        ["--model", f"tiny={pkg}", "--sounds", sounds, "--output", out,
         "--min_clips", "3", "--max_pitch_spread", "10", "--trials_per_speaker", "5",
         "--n_resamples", "20"]
    )  # fmt: skip
    assert set(results["models"]) == {"MFCC baseline", "tiny"}
    assert results["num_trials"] == 3 * 2 * 5
    with open(os.path.join(out, "real_speech.json")) as f:
        saved = json.load(f)
    for m in saved["models"].values():
        low, high = m["real_eer_ci95"]
        assert 0.0 <= low <= m["real_eer"] <= high <= 100.0
    assert "| tiny |" in open(os.path.join(out, "real_speech.md")).read()
    assert os.path.getsize(os.path.join(out, "real_speech.png")) > 1000

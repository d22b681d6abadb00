"""Tests of the embedded corpus generator (kdsrl_lobes.data.synth and its helpers)."""

import hashlib
import json
import os
import re

import numpy as np
import pytest
import soundfile as sf
import torch
from speechbrain.lobes.features import MFCC

from kdsrl_lobes.data import GSC_KEYWORDS, load_audio, read_trials
from kdsrl_lobes.data.gsc import GSC_WORDS, which_set
from kdsrl_lobes.data.rng import item_rng
from kdsrl_lobes.data.synth.espeak import EspeakRenderer, sample_voice
from kdsrl_lobes.data.synth.generate import MANIFEST_FILE, generate, main
from kdsrl_lobes.data.synth.layout import CorpusSizes
from kdsrl_lobes.data.synth.superb_extras import ExtrasSizes

GSC_NAME = re.compile(r"^[0-9a-f]{8}_nohash_\d+\.wav$")
VOX_PATH = re.compile(r"^id\d{5}/[A-Za-z0-9_-]{11}/\d{5}\.wav$")
LIBRI_NAME = re.compile(r"^(\d+)-(\d+)-(\d{4})\.flac$")


def tree_hashes(root: str) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``root``."""
    hashes = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                hashes[os.path.relpath(path, root)] = hashlib.sha256(
                    f.read()
                ).hexdigest()
    return hashes


def gsc_speaker(path: str) -> str:
    return os.path.basename(path).split("_nohash_")[0]


def test_gsc_layout(quick_corpus):
    root = os.path.join(quick_corpus, "speech_commands_v0.01")
    folders = {d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))}
    assert folders == set(GSC_WORDS) | {"_background_noise_"}
    assert set(GSC_KEYWORDS) <= set(GSC_WORDS) and len(GSC_WORDS) == 30
    speakers = None
    for word in GSC_WORDS:
        names = os.listdir(os.path.join(root, word))
        assert all(GSC_NAME.match(n) for n in names), names
        word_speakers = {gsc_speaker(n) for n in names}
        assert len(names) == 2 * len(word_speakers)  # two takes each
        speakers = speakers or word_speakers
        assert word_speakers == speakers  # every speaker says every word
        for name in names:
            info = sf.info(os.path.join(root, word, name))
            assert (info.frames, info.samplerate, info.channels) == (16000, 16000, 1)
    assert len(speakers) == 10
    noises = os.listdir(os.path.join(root, "_background_noise_"))
    assert len(noises) == 5 and all(n.endswith(".wav") for n in noises)
    for name in noises:
        info = sf.info(os.path.join(root, "_background_noise_", name))
        assert info.samplerate == 16000 and info.channels == 1
        assert info.frames >= 10 * 16000


def test_gsc_split_lists(quick_corpus):
    root = os.path.join(quick_corpus, "speech_commands_v0.01")
    lists = {}
    for split, name in (
        ("validation", "validation_list.txt"),
        ("testing", "testing_list.txt"),
    ):
        with open(os.path.join(root, name)) as f:
            lists[split] = f.read().split()
    all_files = [
        f"{w}/{n}" for w in GSC_WORDS for n in sorted(os.listdir(os.path.join(root, w)))
    ]
    listed = set(lists["validation"]) | set(lists["testing"])
    lists["training"] = [p for p in all_files if p not in listed]
    assert not set(lists["validation"]) & set(lists["testing"])
    speakers = {s: {gsc_speaker(p) for p in paths} for s, paths in lists.items()}
    for split, paths in lists.items():
        assert paths, f"{split} is empty"
        assert all(os.path.isfile(os.path.join(root, p)) for p in paths)
        assert all(which_set(p) == split for p in paths)  # GSC's own hashing
        # every class word of the split's speakers is there
        assert {p.split("/")[0] for p in paths} == set(GSC_WORDS)
    assert not speakers["training"] & speakers["validation"]
    assert not speakers["training"] & speakers["testing"]
    assert not speakers["validation"] & speakers["testing"]


def test_voxceleb_layout_and_speaker_disjointness(quick_corpus):
    wav = os.path.join(quick_corpus, "voxceleb1", "wav")
    files = sorted(
        os.path.relpath(os.path.join(d, n), wav).replace(os.sep, "/")
        for d, _, names in os.walk(wav)
        for n in names
    )
    assert files and all(VOX_PATH.match(f) for f in files), files[:3]
    sessions: dict[str, set[str]] = {}
    for rel in files:
        spk, video, _ = rel.split("/")
        sessions.setdefault(spk, set()).add(video)
        info = sf.info(os.path.join(wav, rel))
        assert info.samplerate == 16000 and info.channels == 1
        assert 1.5 < info.frames / 16000 < 15.0  # a few seconds of speech
    assert all(len(v) >= 2 for v in sessions.values())
    trials = read_trials(os.path.join(quick_corpus, "voxceleb1", "veri_test2.txt"))
    test_speakers = {p.split("/")[0] for _, a, b in trials for p in (a, b)}
    dev_speakers = set(sessions) - test_speakers
    with open(os.path.join(quick_corpus, MANIFEST_FILE)) as f:
        manifest = json.load(f)
    assert len(test_speakers) == manifest["voxceleb1_test_speakers"] >= 2
    assert len(dev_speakers) == manifest["voxceleb1_dev_speakers"] >= 2


def test_trial_list_format_and_balance(quick_corpus):
    path = os.path.join(quick_corpus, "voxceleb1", "veri_test2.txt")
    with open(path) as f:
        lines = [line.rstrip("\n") for line in f]
    line_format = re.compile(
        r"^[01] id\d{5}/\S{11}/\d{5}\.wav id\d{5}/\S{11}/\d{5}\.wav$"
    )
    assert all(line_format.match(line) for line in lines), lines[:3]
    trials = read_trials(path, os.path.join(quick_corpus, "voxceleb1", "wav"))
    labels = [label for label, _, _ in trials]
    assert labels.count(1) == labels.count(0) > 0
    assert len({frozenset((a, b)) for _, a, b in trials}) == len(trials)
    for label, enrol, test in trials:
        same_speaker = enrol.split("/")[0] == test.split("/")[0]
        assert same_speaker == (label == 1)
        if label == 1:  # target trials cross sessions
            assert enrol.split("/")[1] != test.split("/")[1]


def test_librispeech_layout(quick_corpus):
    root = os.path.join(quick_corpus, "LibriSpeech")
    splits = ["dev-clean", "test-clean", "train-clean-100"]  # test-clean: SUPERB's
    assert sorted(os.listdir(root)) == sorted(splits + ["librispeech-lexicon.txt"])
    speakers, count = {}, 0
    for split in splits:
        for spk in os.listdir(os.path.join(root, split)):
            speakers.setdefault(split, set()).add(spk)
            for chapter in os.listdir(os.path.join(root, split, spk)):
                folder = os.path.join(root, split, spk, chapter)
                with open(os.path.join(folder, f"{spk}-{chapter}.trans.txt")) as f:
                    lines = dict(line.rstrip("\n").split(" ", 1) for line in f)
                flacs = [n for n in os.listdir(folder) if n.endswith(".flac")]
                assert {n[: -len(".flac")] for n in flacs} == set(lines)
                for name in flacs:
                    match = LIBRI_NAME.match(name)
                    assert match and match.groups()[:2] == (spk, chapter)
                    info = sf.info(os.path.join(folder, name))
                    assert (info.format, info.samplerate, info.channels) == (
                        "FLAC",
                        16000,
                        1,
                    )
                    assert 1.5 < info.frames / 16000 < 20.0
                for text in lines.values():
                    assert text == text.upper() and re.fullmatch(r"[A-Z' ]+", text)
                count += len(flacs)
    assert 20 <= count <= 35
    assert not speakers["dev-clean"] & speakers["train-clean-100"]
    assert not speakers["test-clean"] & (
        speakers["dev-clean"] | speakers["train-clean-100"]
    )


def test_no_two_gsc_clips_identical(quick_corpus):
    gsc = tree_hashes(os.path.join(quick_corpus, "speech_commands_v0.01"))
    hashes = [h for p, h in gsc.items() if not p.startswith("_") and p.endswith(".wav")]
    assert len(hashes) == 600 and len(set(hashes)) == len(hashes)


def _mean_std_mfcc(audio: torch.Tensor, mfcc: MFCC) -> torch.Tensor:
    feats = mfcc(audio.unsqueeze(0))[0]
    return torch.cat([feats.mean(0), feats.std(0)])


def _similarities(vectors: dict) -> tuple[list[float], list[float]]:
    """Cosine similarities of (speaker, word, take) vectors, standardised."""
    stacked = torch.stack(list(vectors.values()))
    mean, std = stacked.mean(0), stacked.std(0) + 1e-8
    norm = {
        k: torch.nn.functional.normalize((v - mean) / std, dim=0)
        for k, v in vectors.items()
    }
    speakers = sorted({s for s, _, _ in vectors})
    words = sorted({w for _, w, _ in vectors})
    intra = [float(norm[s, w, 0] @ norm[s, w, 1]) for s in speakers for w in words]
    inter = [
        float(norm[s, w, 0] @ norm[u, w, 0])
        for s in speakers for u in speakers if u != s for w in words
    ]  # fmt: skip
    return intra, inter


def test_rendered_voices_differ_and_takes_cluster(tmp_path):
    """Clean espeak-ng renditions: speakers differ, a speaker's takes are closer."""
    renderer = EspeakRenderer(str(tmp_path))
    mfcc = MFCC(deltas=False, context=False, n_mfcc=20)
    vectors, first_takes = {}, {}
    for s in range(6):
        voice = sample_voice(item_rng(0, "voice", s))
        renderer.set_voice(voice)
        for word in ("yes", "marvin", "seven"):
            for take in range(2):
                rng = item_rng(0, s, word, take)
                audio = renderer.render(
                    word, 50 + int(rng.integers(-6, 7)),
                    int(voice.words_per_minute * rng.uniform(0.88, 1.12)),
                )  # fmt: skip
                vectors[s, word, take] = _mean_std_mfcc(torch.from_numpy(audio), mfcc)
            first_takes[s, word] = renderer.render(word, 50, 175)
    for word in ("yes", "marvin", "seven"):  # same text, pitch and rate
        audios = [first_takes[s, word] for s in range(6)]
        for i in range(6):
            for j in range(i + 1, 6):
                assert audios[i].shape != audios[j].shape or not np.allclose(
                    audios[i], audios[j], atol=1e-3
                )
    intra, inter = _similarities(vectors)
    assert np.mean(intra) > np.mean(inter) + 0.4
    assert np.median(intra) > np.percentile(inter, 90)


def test_corpus_takes_of_a_speaker_are_closer(quick_corpus):
    """With rooms, devices and noise: a speaker's two takes stay closer."""
    root = os.path.join(quick_corpus, "speech_commands_v0.01")
    mfcc = MFCC(deltas=False, context=False, n_mfcc=20)
    vectors = {}
    for word in ("yes", "marvin", "seven", "off"):
        for name in sorted(os.listdir(os.path.join(root, word))):
            spk, _, take = name[: -len(".wav")].split("_")
            audio = load_audio(os.path.join(root, word, name))
            vectors[spk, word, int(take)] = _mean_std_mfcc(audio, mfcc)
    intra, inter = _similarities(vectors)
    assert np.mean(intra) > np.mean(inter) + 0.3
    assert np.median(intra) > np.percentile(inter, 75)


def test_self_check_catches_ignored_variant(tmp_path):
    renderer = EspeakRenderer(str(tmp_path / "espeak"))
    renderer.self_check()  # the private data path works
    # Variants written where espeak-ng never looks: it keeps reading the stale
    # file, then (once that is gone) silently uses its default voice.
    stale = renderer.variant_path
    renderer.variant_path = str(tmp_path / "elsewhere")
    with pytest.raises(RuntimeError, match="ignored the voice variant"):
        renderer.self_check()
    os.remove(stale)
    with pytest.raises(RuntimeError, match="ignored the voice variant"):
        renderer.self_check()


def test_missing_espeak_names_debian_package(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no espeak-ng on it
    with pytest.raises(SystemExit) as exit_info:
        main(["--output", str(tmp_path / "corpus"), "--quick"])
    assert exit_info.value.code == 2
    assert "Debian package `espeak-ng`" in capsys.readouterr().err


def test_determinism_skip_and_regenerate(tmp_path):
    first, second = str(tmp_path / "a"), str(tmp_path / "b")
    tiny = CorpusSizes(3, 1, 1, 2, 2, 1, 1, 1, 1, 1, 10.0)
    options = {
        "sizes": tiny, "extras_sizes": ExtrasSizes(1, 1), "seed": 7, "progress": False
    }  # fmt: skip
    assert not generate(first, num_workers=2, **options).get("skipped")
    generate(second, num_workers=1, **options)
    hashes = tree_hashes(first)
    assert hashes == tree_hashes(second)  # bit-identical whatever the process order
    manifest_time = os.path.getmtime(os.path.join(first, MANIFEST_FILE))
    assert generate(first, **options)["skipped"]
    assert os.path.getmtime(os.path.join(first, MANIFEST_FILE)) == manifest_time
    stray = os.path.join(first, "voxceleb1", "wav", "stray.wav")
    with open(stray, "wb") as f:
        f.write(b"left over")
    result = generate(first, **{**options, "seed": 8})
    assert not result.get("skipped") and result["options"]["seed"] == 8
    assert not os.path.exists(stray)  # regenerated from scratch
    changed = tree_hashes(first)
    clips = [p for p in hashes if p.endswith(".wav") and p in changed]
    assert set(changed) != set(hashes)  # other speaker ids and videos
    assert clips and all(hashes[p] != changed[p] for p in clips)


def test_sizes_are_validated():
    with pytest.raises(ValueError, match="vox_sessions must be >= 2"):
        CorpusSizes(3, 1, 1, 2, 1, 1, 1, 1, 1, 1, 10.0)

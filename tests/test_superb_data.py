"""The SUPERB extras of the embedded corpus: LibriSpeech test-clean and lexicon,
VoxCeleb1 iden_split.txt, the IEMOCAP stand-in and its speaking styles (their
preparations: test_superb_prepare.py)."""

import json
import os
import re
import shutil
from collections import Counter

import numpy as np
import pytest
import soundfile as sf

from kdsrl_lobes.data import (
    check_lexicon,
    find_iden_split,
    find_lexicon,
    prepare_librispeech,
    read_csv_rows,
    read_lexicon,
    read_trials,
)
from kdsrl_lobes.data.prepare_iemocap import (
    EVALUATION_HEADER,
    evaluation_folder,
    read_evaluation,
    utterance_speaker,
    utterance_wav,
)
from kdsrl_lobes.data.synth import iemocap, render, superb_extras
from kdsrl_lobes.data.synth.channel import Channel, apply_channel
from kdsrl_lobes.data.synth.espeak import EspeakRenderer
from kdsrl_lobes.data.synth.generate import MANIFEST_FILE, generate, read_manifest
from kdsrl_lobes.data.synth.iemocap import (
    LABEL_STYLES,
    STYLES,
    iemocap_voice,
    styled_channel,
    styled_voice,
)
from kdsrl_lobes.data.synth.layout import CorpusSizes, make_plan
from kdsrl_lobes.data.synth.superb_extras import (
    EXTRAS_OUTPUTS,
    ExtrasSizes,
    plan_extras,
)

from .test_data_synth import tree_hashes

TINY = CorpusSizes(3, 1, 1, 2, 2, 1, 1, 1, 1, 1, 10.0)
IDEN_LINE = re.compile(r"^([123]) (id\d{5}/[A-Za-z0-9_-]{11}/\d{5}\.wav)$")
LABEL_LINE = re.compile(
    r"^\[(\d+\.\d{4}) - (\d+\.\d{4})\]\t"
    r"(Ses0(\d)[FM]_(?:impro\d\d|script\d\d_\d)_[FM]\d{3})\t"
    r"(neu|hap|exc|sad|ang|fru|xxx)\t\[\d\.\d{4}, \d\.\d{4}, \d\.\d{4}\]$"
)
EVALUATOR_LINE = re.compile(
    r"^(C-E\d:\t[A-Z][a-z]+;\t\(\)|A-E\d:\tval [1-5]; act [1-5]; dom  [1-5];\t\(\))$"
)


def iemocap_turns(root: str) -> list[tuple[int, float, float, str, str]]:
    """``(session, start, end, utterance, label)`` of every evaluation file."""
    turns = []
    for session in range(1, 6):
        folder = evaluation_folder(root, session)
        for name in sorted(os.listdir(folder)):
            for turn in read_evaluation(os.path.join(folder, name)):
                turns.append((session, *turn))
    return turns


def median_f0(audio: np.ndarray, sample_rate: int = 16000) -> float:
    """Median autocorrelation pitch (60 to 450 Hz) of the loud voiced frames."""
    frame, hop = int(0.04 * sample_rate), int(0.01 * sample_rate)
    starts = range(0, len(audio) - frame, hop)
    energy = np.array([np.sum(audio[s : s + frame] ** 2) for s in starts])
    low, high = sample_rate // 450, sample_rate // 60
    pitches = []
    for s, e in zip(starts, energy, strict=True):
        if e < 0.1 * energy.max():
            continue
        x = audio[s : s + frame] - audio[s : s + frame].mean()
        corr = np.correlate(x, x, "full")[frame - 1 :]
        lag = low + int(np.argmax(corr[low:high]))
        if corr[lag] > 0.4 * corr[0]:
            pitches.append(sample_rate / lag)
    return float(np.median(pitches))


def _level_db(audio: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(audio.astype(np.float64) ** 2)))


# -- generator ---------------------------------------------------------------


def test_extras_are_added_to_a_corpus_from_before(tmp_path):
    folder = str(tmp_path / "corpus")
    options = {"sizes": TINY, "extras_sizes": ExtrasSizes(1, 1), "seed": 5}
    generate(folder, progress=False, **options)
    full = tree_hashes(folder)
    extras = {
        p for p in full if any(p.startswith(out) for out in EXTRAS_OUTPUTS)
    }  # every file of the extras
    assert {p.split(os.sep)[0] for p in extras} == {
        "LibriSpeech", "voxceleb1", "IEMOCAP_full_release"
    }  # fmt: skip
    # a corpus generated before the extras existed: no files, no manifest entry
    for out in EXTRAS_OUTPUTS:
        path = os.path.join(folder, out)
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    manifest = read_manifest(folder)
    del manifest["superb_extras"]
    with open(os.path.join(folder, MANIFEST_FILE), "w") as f:
        json.dump(manifest, f)
    before = tree_hashes(folder)
    result = generate(folder, progress=False, **options)
    assert not result.get("skipped")
    after = tree_hashes(folder)
    changed = {p for p in before if after[p] != before[p]}
    assert changed == {MANIFEST_FILE}  # no file of the corpus changed
    assert set(after) - set(before) == extras
    assert after == full  # the same extras as a corpus generated with them
    assert result["files"]["superb_iemocap"] == 10
    assert generate(folder, progress=False, **options)["skipped"]
    assert tree_hashes(folder) == after


def test_extras_draw_from_their_own_random_stream(tmp_path, monkeypatch):
    """Every random key of the extras' planning and rendering starts with
    "superb", so no stream of the main corpus is consumed."""
    keys = []
    real = render.item_rng

    def recording(seed, *items):
        keys.append(items)
        return real(seed, *items)

    for module in (render, iemocap, superb_extras):
        monkeypatch.setattr(module, "item_rng", recording)
    plan = plan_extras(5, TINY, ExtrasSizes(1, 1), make_plan(5, TINY))
    render.init_worker(str(tmp_path), str(tmp_path / "corpus"), 5, 10.0)
    for job in plan.jobs:
        render.render_job(job)
    assert len(keys) > 3 * len(plan.jobs)
    assert {str(key[0])[: len("superb")] for key in keys} == {"superb"}


def test_librispeech_test_clean_is_like_dev_clean(quick_corpus, tmp_path):
    root = os.path.join(quick_corpus, "LibriSpeech")
    shape = {}
    for split in ("dev-clean", "test-clean"):
        speakers = os.listdir(os.path.join(root, split))
        chapters = [
            c for s in speakers for c in os.listdir(os.path.join(root, split, s))
        ]
        shape[split] = (len(speakers), len(chapters))
    assert shape["test-clean"] == shape["dev-clean"]
    csvs = prepare_librispeech(root, str(tmp_path), ("dev-clean", "test-clean"))
    counts = {split: len(read_csv_rows(path)) for split, path in csvs.items()}
    assert counts["test-clean"] == counts["dev-clean"] == 5


def test_iden_split_covers_every_file_once(quick_corpus):
    vox = os.path.join(quick_corpus, "voxceleb1")
    path = find_iden_split(vox)
    assert path == os.path.join(vox, "iden_split.txt")
    with open(path) as f:
        lines = f.read().splitlines()
    assert all(IDEN_LINE.match(line) for line in lines), lines[:3]
    listed = [IDEN_LINE.match(line).group(2) for line in lines]
    wav = os.path.join(vox, "wav")
    files = [
        os.path.relpath(os.path.join(d, n), wav)
        for d, _, names in os.walk(wav)
        for n in names
    ]
    assert len(listed) == len(set(listed)) and sorted(listed) == sorted(files)
    splits: dict[str, set[str]] = {}
    for line in lines:
        label, rel = line.split()
        splits.setdefault(rel.split("/")[0], set()).add(label)
    test_speakers = {p.split("/")[0] for _, a, b in read_trials(
        os.path.join(vox, "veri_test2.txt")) for p in (a, b)}  # fmt: skip
    assert test_speakers < set(splits)  # dev and test speakers alike
    assert all(labels == {"1", "2", "3"} for labels in splits.values()), splits


def test_lexicon_covers_every_transcript_word(quick_corpus, tmp_path):
    root = os.path.join(quick_corpus, "LibriSpeech")
    path = find_lexicon(os.path.join(root, "test-clean"))  # found in the parent
    assert path == find_lexicon(root) == os.path.join(root, "librispeech-lexicon.txt")
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    words = [line.split("\t")[0] for line in lines]
    assert words == sorted(set(words)) and all(w == w.upper() for w in words)
    lexicon = read_lexicon(path)
    phones = {p for pron in lexicon.values() for p in pron}
    assert 30 <= len(phones) <= 60  # a small inventory: no stress marks, no digits
    assert not any(c in "ˈˌ0123456789'" for p in phones for c in p)
    assert lexicon["A"] == ("ɐ",)  # the reduced form said in sentences
    splits = ("train-clean-100", "dev-clean", "test-clean")
    csvs = prepare_librispeech(root, str(tmp_path), splits)
    rows = [row for path in csvs.values() for row in read_csv_rows(path)]
    assert len(rows) == 25
    used = check_lexicon(rows, lexicon)
    assert set(used) <= phones and len(used) > 20


# -- IEMOCAP -----------------------------------------------------------------


def test_iemocap_layout_and_label_files(quick_corpus):
    root = os.path.join(quick_corpus, "IEMOCAP_full_release")
    wavs = {
        os.path.splitext(n)[0]
        for s in range(1, 6)
        for d, _, names in os.walk(os.path.join(root, f"Session{s}", "sentences"))
        for n in names
    }
    turns = []
    for session in range(1, 6):
        folder = evaluation_folder(root, session)
        for name in sorted(os.listdir(folder)):
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                text = f.read()
            blocks = text.rstrip("\n").split("\n\n")
            assert blocks[0] == EVALUATION_HEADER
            last_end = 0.0
            for block in blocks[1:]:
                label_line, *evaluators = block.split("\n")
                match = LABEL_LINE.match(label_line)
                assert match, label_line
                start, end, utterance, ses, label = match.groups()
                assert int(ses) == session and utterance.startswith(name[:-4] + "_")
                assert evaluators and all(EVALUATOR_LINE.match(e) for e in evaluators)
                assert float(start) > last_end  # turns in time order
                last_end = float(end)
                info = sf.info(utterance_wav(root, session, utterance))
                assert (info.samplerate, info.channels, info.subtype) == (
                    16000, 1, "PCM_16"
                )  # fmt: skip
                assert info.frames / 16000 == pytest.approx(
                    float(end) - float(start), abs=2e-4
                )
                turns.append((session, utterance, label))
    assert {utt for _, utt, _ in turns} == wavs  # every wav labelled, once
    assert len(turns) == len(wavs) == 40
    speakers = {s: {utterance_speaker(u) for ss, u, _ in turns if ss == s}
                for s in range(1, 6)}  # fmt: skip
    assert all(v == {f"Ses0{s}F", f"Ses0{s}M"} for s, v in speakers.items())
    labels = Counter(label for _, _, label in turns)
    assert set(labels) == {"neu", "hap", "exc", "sad", "ang", "fru", "xxx"}
    # new voices in every session: the ten actors are ten different speakers
    voices = [iemocap_voice(1234, s, g) for s in range(1, 6) for g in "FM"]
    assert len({(v.pitch, v.formants) for v in voices}) == 10


def test_speaking_styles_change_the_audio(tmp_path):
    renderer = EspeakRenderer(str(tmp_path))
    text = "The old farmer found a horse near the quiet river."
    for gender in "FM":
        voice = iemocap_voice(0, 1, gender)
        audio = {}
        for name, style in STYLES.items():
            renderer.set_voice(styled_voice(voice, style))
            audio[name] = renderer.render(text)
        f0 = {name: median_f0(a) for name, a in audio.items()}
        seconds = {name: len(a) / 16000 for name, a in audio.items()}
        assert f0["happy"] > 1.1 * f0["neutral"] > 1.2 * f0["sad"], f0
        assert f0["angry"] > f0["neutral"], f0
        assert seconds["sad"] > seconds["neutral"] > seconds["happy"], seconds
        assert seconds["neutral"] > seconds["angry"], seconds
        # recorded through the same microphone: angry louder, sad quieter
        mic = Channel(0.0, 10.0, 60.0, 7000.0, (), "pink", 30.0, -12.0)
        level = {
            name: _level_db(
                apply_channel(audio["neutral"], styled_channel(mic, style),
                              np.random.default_rng(0))
            )
            for name, style in STYLES.items()
        }  # fmt: skip
        assert level["angry"] > level["neutral"] + 4 > level["sad"] + 6, level


def test_corpus_angry_turns_are_louder_than_neutral(quick_corpus):
    root = os.path.join(quick_corpus, "IEMOCAP_full_release")
    levels: dict[tuple[str, str], list[float]] = {}
    for session, _, _, utterance, label in iemocap_turns(root):
        audio, _ = sf.read(utterance_wav(root, session, utterance))
        key = (utterance_speaker(utterance), LABEL_STYLES[label])
        levels.setdefault(key, []).append(_level_db(audio))
    differences = [
        np.mean(levels[spk, "angry"]) - np.mean(levels[spk, "neutral"])
        for spk, style in levels
        if style == "angry" and (spk, "neutral") in levels
    ]
    assert len(differences) >= 3 and np.mean(differences) > 2.0, differences

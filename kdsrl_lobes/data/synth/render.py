"""Renders the planned corpus files, one
:class:`~kdsrl_lobes.data.synth.layout.Job` at a time, in a worker process that
owns one :class:`EspeakRenderer`.

Every random choice comes from generators keyed by (seed, speaker) for the voice and
the recording device or session, and by (seed, file) for the take, so the output
does not depend on which worker renders which job. The SUPERB extras' keys all
start with ``superb`` (:mod:`kdsrl_lobes.data.synth.superb_extras`).
"""

import os
import tempfile
from collections import defaultdict

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from kdsrl_lobes.data.gsc import BACKGROUND_NOISE_FOLDER
from kdsrl_lobes.data.prepare_iemocap import (
    IEMOCAP_FOLDER,
    evaluation_folder,
    utterance_speaker,
)
from kdsrl_lobes.data.rng import item_rng
from kdsrl_lobes.data.synth.channel import (
    ChannelProfile,
    apply_channel,
    jitter_channel,
    make_noise,
    sample_channel,
)
from kdsrl_lobes.data.synth.espeak import EspeakRenderer, sample_voice
from kdsrl_lobes.data.synth.iemocap import (
    IEMOCAP_JOB,
    IEMOCAP_MIC,
    IEMOCAP_UTTERANCE_JITTER,
    LABEL_STYLES,
    STYLES,
    evaluation_block,
    evaluation_text,
    iemocap_voice,
    styled_channel,
    styled_voice,
)
from kdsrl_lobes.data.synth.layout import GSC_FOLDER, LIBRI_FOLDER, VOX_FOLDER, Job
from kdsrl_lobes.data.synth.official_test import (
    TEST_SET_FOLDER,
    TEST_SILENCE,
    TEST_SPEECH,
)
from kdsrl_lobes.data.synth.superb_extras import LIBRI_TEST_JOB
from kdsrl_lobes.data.synth.text import random_sentence, transcript

SAMPLE_RATE = 16000
#: One GSC speaker's recording device; each take varies it by ``GSC_TAKE_JITTER``.
GSC_DEVICE = ChannelProfile(
    reverb_probability=0.5, rt60=(0.1, 0.5), drr_db=(0.0, 15.0), low_hz=(40, 250),
    high_hz=(3800, 7900), eq_gain_db=6.0, snr_db=(12.0, 40.0), peak_db=(-20.0, -1.0),
)  # fmt: skip
GSC_TAKE_JITTER = 0.15
#: One VoxCeleb session (video): room, device, noise; utterances vary it a little.
VOX_SESSION = ChannelProfile(
    reverb_probability=0.8, rt60=(0.15, 0.9), drr_db=(-3.0, 12.0), low_hz=(50, 400),
    high_hz=(3000, 7900), eq_gain_db=9.0, snr_db=(3.0, 25.0), peak_db=(-12.0, -1.0),
)  # fmt: skip
VOX_UTTERANCE_JITTER = 0.05
#: One LibriSpeech chapter: a fairly clean read-speech recording.
LIBRI_CHAPTER = ChannelProfile(
    reverb_probability=0.5, rt60=(0.1, 0.4), drr_db=(5.0, 15.0), low_hz=(40, 120),
    high_hz=(6000, 7900), eq_gain_db=4.0, snr_db=(20.0, 45.0), peak_db=(-10.0, -2.0),
)  # fmt: skip

# The worker's renderer and options, set once per process by init_worker.
_WORKER: dict = {}


def init_worker(tmp_root: str, output: str, seed: int, noise_seconds: float) -> None:
    """Pool initializer: a private espeak-ng data path in ``tmp_root``, checked."""
    renderer = EspeakRenderer(tempfile.mkdtemp(dir=tmp_root), sample_rate=SAMPLE_RATE)
    renderer.self_check()
    _WORKER.update(
        renderer=renderer, output=output, seed=seed, noise_seconds=noise_seconds
    )


def trim_silence(x: np.ndarray, threshold_db: float = -45.0) -> np.ndarray:
    """Cuts leading and trailing samples below ``threshold_db`` of the peak.

    Example
    -------
    >>> x = np.zeros(100, dtype=np.float32); x[40:60] = 1.0
    >>> trim_silence(x).shape
    (20,)
    """
    loud = np.flatnonzero(np.abs(x) > 10 ** (threshold_db / 20) * np.abs(x).max())
    return x[loud[0] : loud[-1] + 1] if loud.size else x


def render_job(job: Job) -> tuple[str, int, float]:
    """Renders and writes every file of ``job``.

    Returns
    -------
    tuple[str, int, float]
        The corpus, the number of files written and their total seconds.
    """
    output, seed = _WORKER["output"], _WORKER["seed"]
    if job.corpus == "noise":
        seconds = _render_noise(job, output, seed)
    elif job.corpus == "gsc":
        seconds = _render_gsc(job, os.path.join(output, GSC_FOLDER), seed)
    elif job.corpus == TEST_SPEECH:  # its own random stream: keys start gsc_test
        seconds = _render_gsc(job, os.path.join(output, TEST_SET_FOLDER), seed)
    elif job.corpus == TEST_SILENCE:
        seconds = _render_silence(job, os.path.join(output, TEST_SET_FOLDER), seed)
    elif job.corpus == "voxceleb1":
        seconds = _render_voxceleb(job, output, seed)
    elif job.corpus == "librispeech":
        seconds = _render_librispeech(job, output, seed)
    elif job.corpus == LIBRI_TEST_JOB:  # the same speech, keys prefixed "superb"
        seconds = _render_librispeech(job, output, seed, ("superb",))
    elif job.corpus == IEMOCAP_JOB:
        seconds = _render_iemocap(job, output, seed)
    else:
        raise ValueError(f"Unknown corpus {job.corpus!r} in job for {job.speaker}")
    return job.corpus, len(job.items), seconds


def _write(path: str, audio: np.ndarray) -> float:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    audio = np.clip(audio, -1.0, 32767 / 32768)
    sf.write(path, audio, SAMPLE_RATE, subtype="PCM_16")
    return len(audio) / SAMPLE_RATE


def _noise_clip(kind: str, length: int, rng: np.random.Generator) -> np.ndarray:
    noise = make_noise(kind, length, rng, SAMPLE_RATE)
    noise *= 10 ** (rng.uniform(-10, -3) / 20) / np.abs(noise).max()  # in float32
    return noise


def _render_noise(job: Job, output: str, seed: int) -> float:
    folder = os.path.join(output, GSC_FOLDER, BACKGROUND_NOISE_FOLDER)
    length = int(_WORKER["noise_seconds"] * SAMPLE_RATE)
    total = 0.0
    for name, kind in job.items:
        rng = item_rng(seed, "noise", name)
        total += _write(os.path.join(folder, name), _noise_clip(kind, length, rng))
    return total


def _render_silence(job: Job, folder: str, seed: int) -> float:
    """One-second noise clips of the official test set's ``_silence_`` class,
    new noise (not crops of the training ``_background_noise_`` files)."""
    total = 0.0
    for relpath, kind in job.items:
        rng = item_rng(seed, job.corpus, relpath)
        total += _write(
            os.path.join(folder, relpath), _noise_clip(kind, SAMPLE_RATE, rng)
        )
    return total


def _speaker_renderer(
    corpus: str, speaker: str, seed: int, prefix: tuple[str, ...] = ()
) -> EspeakRenderer:
    renderer = _WORKER["renderer"]
    renderer.set_voice(sample_voice(item_rng(seed, *prefix, "voice", corpus, speaker)))
    return renderer


def _render_gsc(job: Job, folder: str, seed: int) -> float:
    """One GSC speaker's clips under ``folder``; every random key starts with
    ``job.corpus``, so the official test set's speakers are a stream apart."""
    renderer = _speaker_renderer(job.corpus, job.speaker, seed)
    device = sample_channel(
        item_rng(seed, "device", job.corpus, job.speaker), GSC_DEVICE
    )
    wpm = renderer.voice.words_per_minute
    total = 0.0
    for relpath, word in job.items:
        rng = item_rng(seed, job.corpus, relpath)
        pitch = 50 + int(rng.integers(-6, 7))
        speech = trim_silence(
            renderer.render(word, pitch, int(wpm * rng.uniform(0.88, 1.12)))
        )
        longest = int(0.95 * SAMPLE_RATE)
        if len(speech) > longest:  # speak faster rather than cut the word
            speech = resample_poly(speech, longest, len(speech)).astype(np.float32)
            speech = speech[:longest]
        offset = int(rng.integers(0, SAMPLE_RATE - len(speech) + 1))
        clip = np.zeros(SAMPLE_RATE, dtype=np.float32)
        clip[offset : offset + len(speech)] = speech
        mask = np.zeros(SAMPLE_RATE, dtype=bool)
        mask[offset : offset + len(speech)] = True
        channel = jitter_channel(rng, device, GSC_TAKE_JITTER)
        audio = apply_channel(clip, channel, rng, SAMPLE_RATE, speech_mask=mask)
        total += _write(os.path.join(folder, relpath), audio)
    return total


def _sentence_audio(
    renderer: EspeakRenderer, rng: np.random.Generator, min_words: int, wpm: int
) -> tuple[str, np.ndarray]:
    text = random_sentence(rng, min_words)
    pitch = 50 + int(rng.integers(-4, 5))
    speech = trim_silence(
        renderer.render(text, pitch, int(wpm * rng.uniform(0.92, 1.08)))
    )
    lead, tail = (int(rng.uniform(0.1, 0.4) * SAMPLE_RATE) for _ in range(2))
    audio = np.concatenate(
        [np.zeros(lead, np.float32), speech, np.zeros(tail, np.float32)]
    )
    return text, audio


def _render_voxceleb(job: Job, output: str, seed: int) -> float:
    renderer = _speaker_renderer("voxceleb1", job.speaker, seed)
    wpm = renderer.voice.words_per_minute
    sessions = {
        video: sample_channel(
            item_rng(seed, "session", job.speaker, video), VOX_SESSION
        )
        for video in dict.fromkeys(video for _, video in job.items)
    }
    total = 0.0
    for relpath, video in job.items:
        rng = item_rng(seed, "voxceleb1", relpath)
        _, speech = _sentence_audio(renderer, rng, int(rng.integers(8, 15)), wpm)
        channel = jitter_channel(rng, sessions[video], VOX_UTTERANCE_JITTER)
        audio = apply_channel(speech, channel, rng, SAMPLE_RATE)
        total += _write(os.path.join(output, VOX_FOLDER, "wav", relpath), audio)
    return total


def _render_librispeech(
    job: Job, output: str, seed: int, prefix: tuple[str, ...] = ()
) -> float:
    """One LibriSpeech speaker's chapters; every random key starts with
    ``prefix`` (none for the main corpus's splits)."""
    renderer = _speaker_renderer("librispeech", job.speaker, seed, prefix)
    wpm = renderer.voice.words_per_minute
    root = os.path.join(output, LIBRI_FOLDER)
    lines: dict[str, list[str]] = defaultdict(list)
    total = 0.0
    for relpath, chapter in job.items:
        rng = item_rng(seed, *prefix, "librispeech", relpath)
        text, speech = _sentence_audio(renderer, rng, int(rng.integers(8, 18)), wpm)
        channel = sample_channel(
            item_rng(seed, *prefix, "chapter", job.speaker, chapter), LIBRI_CHAPTER
        )
        audio = apply_channel(speech, channel, rng, SAMPLE_RATE)
        path = os.path.join(root, relpath)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        audio = np.clip(audio, -1.0, 32767 / 32768)
        sf.write(path, audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
        total += len(audio) / SAMPLE_RATE
        utt = os.path.splitext(os.path.basename(relpath))[0]
        lines[os.path.dirname(path)].append(f"{utt} {transcript(text)}")
    for folder, rows in lines.items():
        spk, chapter = folder.split(os.sep)[-2:]
        with open(os.path.join(folder, f"{spk}-{chapter}.trans.txt"), "w") as f:
            f.write("\n".join(sorted(rows)) + "\n")
    return total


def _render_iemocap(job: Job, output: str, seed: int) -> float:
    """One IEMOCAP dialog: its turns, in time order, and its evaluation file."""
    renderer = _WORKER["renderer"]
    session = int(job.speaker[3:5])
    root = os.path.join(output, IEMOCAP_FOLDER)
    voices = {g: iemocap_voice(seed, session, g) for g in "FM"}
    mics = {
        g: sample_channel(item_rng(seed, "superb-iemocap-mic", session, g), IEMOCAP_MIC)
        for g in "FM"
    }
    clock = item_rng(seed, "superb-iemocap-dialog", job.speaker).uniform(1.0, 6.0)
    blocks, total = [], 0.0
    for relpath, label in job.items:
        rng = item_rng(seed, "superb-iemocap", relpath)
        utterance = os.path.splitext(os.path.basename(relpath))[0]
        gender = utterance_speaker(utterance)[-1]
        style = STYLES[LABEL_STYLES[label]]
        intensity = float(rng.uniform(0.6, 1.0))
        voice = styled_voice(voices[gender], style, intensity)
        renderer.set_voice(voice)
        # one clause of 5 to 11 words: 2 to 6 s
        _, speech = _sentence_audio(renderer, rng, 1, voice.words_per_minute)
        channel = jitter_channel(rng, mics[gender], IEMOCAP_UTTERANCE_JITTER)
        channel = styled_channel(channel, style, intensity)
        audio = apply_channel(speech, channel, rng, SAMPLE_RATE)
        seconds = _write(os.path.join(root, relpath), audio)
        total += seconds
        start = round(clock, 4)
        end = round(start + seconds, 4)
        blocks.append(evaluation_block(rng, start, end, utterance, label))
        clock = end + rng.uniform(0.2, 2.0)
    folder = evaluation_folder(root, session)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"{job.speaker}.txt"), "w", encoding="utf-8") as f:
        f.write(evaluation_text(blocks))
    return total

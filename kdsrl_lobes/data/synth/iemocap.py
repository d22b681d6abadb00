"""What the embedded stand-in for IEMOCAP contains, and how its emotions sound.

Five sessions of two actors (one female, one male, new voices in every session),
each session a few dialogs of alternating turns, in IEMOCAP's layout (see
:mod:`kdsrl_lobes.data.prepare_iemocap`). espeak-ng cannot act, so an emotion is
a speaking style, prosody applied on top of the actor's own voice
(:func:`styled_voice`) and a recording level (:func:`styled_channel`):

- neutral (``neu``): the actor's voice;
- happy (``hap``, and ``exc`` which SUPERB merges into it): higher and wider
  pitch, faster;
- sad (``sad``): lower and narrower pitch, slower, breathier, quieter, duller;
- angry (``ang``): louder, rougher, brighter (tone tilted to the highs), faster.

Each utterance acts its style with an intensity of its own. A few turns carry
labels outside SUPERB's four classes, as in the real corpus: ``fru`` (spoken
angry) and ``xxx`` (evaluators disagree; spoken neutral).

Planning is pure: every name and label comes from the seed, in a random stream
of its own (every key starts with ``superb``).
"""

from dataclasses import dataclass, replace

import numpy as np

from kdsrl_lobes.data.prepare_iemocap import EVALUATION_HEADER, SESSIONS
from kdsrl_lobes.data.rng import item_rng
from kdsrl_lobes.data.synth.channel import Channel, ChannelProfile
from kdsrl_lobes.data.synth.espeak import Voice, sample_voice
from kdsrl_lobes.data.synth.layout import Job

#: Job corpus name of one IEMOCAP dialog.
IEMOCAP_JOB = "superb_iemocap"
#: One actor's microphone in a session: a quiet studio, close-talking.
IEMOCAP_MIC = ChannelProfile(
    reverb_probability=0.6, rt60=(0.15, 0.4), drr_db=(4.0, 14.0), low_hz=(40, 150),
    high_hz=(6000, 7900), eq_gain_db=4.0, snr_db=(22.0, 38.0), peak_db=(-17.0, -10.0),
)  # fmt: skip
IEMOCAP_UTTERANCE_JITTER = 0.04


@dataclass(frozen=True)
class SpeakingStyle:
    """How an emotion changes a voice, at full intensity.

    Arguments
    ---------
    pitch_scale : float
        Factor on the voice's base pitch.
    range_scale : float
        Factor on its pitch range (top minus base).
    rate_scale : float
        Factor on its speaking rate.
    gain_db : float
        Recording level relative to neutral speech (peak and signal-to-noise).
    breath : int
        Breath noise added to every formant band (espeak-ng ``breath``).
    roughness : int
        Added ``roughness`` (espeak-ng caps it at 7).
    tilt : tuple[float, float, float, float]
        Factors on the ``tone`` envelope at 600, 1200, 2000 and 3000 Hz.
    """

    pitch_scale: float = 1.0
    range_scale: float = 1.0
    rate_scale: float = 1.0
    gain_db: float = 0.0
    breath: int = 0
    roughness: int = 0
    tilt: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)


STYLES: dict[str, SpeakingStyle] = {
    "neutral": SpeakingStyle(),
    "happy": SpeakingStyle(
        pitch_scale=1.12, range_scale=1.6, rate_scale=1.12, gain_db=2.0,
        tilt=(1.0, 1.0, 1.1, 1.15),
    ),
    "sad": SpeakingStyle(
        pitch_scale=0.9, range_scale=0.5, rate_scale=0.82, gain_db=-4.0, breath=8,
        tilt=(1.1, 0.9, 0.75, 0.65),
    ),
    "angry": SpeakingStyle(
        pitch_scale=1.04, range_scale=1.3, rate_scale=1.1, gain_db=6.0, roughness=3,
        tilt=(0.8, 1.0, 1.4, 1.7),
    ),
}  # fmt: skip
#: The style each label is spoken in.
LABEL_STYLES: dict[str, str] = {
    "neu": "neutral", "hap": "happy", "exc": "happy", "sad": "sad", "ang": "angry",
    "fru": "angry", "xxx": "neutral",
}  # fmt: skip
# The evaluators' category of each label, as the real files write it.
_CATEGORIES: dict[str, str] = {
    "neu": "Neutral", "hap": "Happiness", "exc": "Excited", "sad": "Sadness",
    "ang": "Anger", "fru": "Frustration",
}  # fmt: skip
# Mean valence, activation, dominance of each label on the 1-5 scales.
_VAD: dict[str, tuple[float, float, float]] = {
    "neu": (3.0, 2.5, 2.5), "hap": (4.0, 3.5, 3.0), "exc": (4.0, 4.0, 3.5),
    "sad": (2.0, 2.0, 2.0), "ang": (1.5, 4.0, 4.0), "fru": (2.0, 3.5, 3.5),
    "xxx": (2.5, 3.0, 3.0),
}  # fmt: skip


def styled_voice(voice: Voice, style: SpeakingStyle, intensity: float = 1.0) -> Voice:
    """Returns ``voice`` speaking in ``style`` at ``intensity`` (0 keeps it).

    Example
    -------
    >>> voice = sample_voice(np.random.default_rng(0))
    >>> sad = styled_voice(voice, STYLES["sad"])
    >>> sad.pitch[0] < voice.pitch[0], sad.words_per_minute < voice.words_per_minute
    (True, True)
    >>> styled_voice(voice, STYLES["angry"], intensity=0.0) == voice
    True
    """

    def scale(factor: float) -> float:
        return 1.0 + (factor - 1.0) * intensity

    base = round(voice.pitch[0] * scale(style.pitch_scale))
    span = max(5, round((voice.pitch[1] - voice.pitch[0]) * scale(style.range_scale)))
    tone = tuple(
        min(255, round(a * scale(t)))
        for a, t in zip(voice.tone, style.tilt, strict=True)
    )
    breath = tuple(max(b, round(style.breath * intensity)) for b in voice.breath)
    return replace(
        voice,
        pitch=(base, base + span),
        tone=tone,  # type: ignore[arg-type]
        breath=breath,
        roughness=min(7, voice.roughness + round(style.roughness * intensity)),
        words_per_minute=round(voice.words_per_minute * scale(style.rate_scale)),
    )


def styled_channel(
    channel: Channel, style: SpeakingStyle, intensity: float = 1.0
) -> Channel:
    """Returns ``channel`` recording a voice ``style.gain_db`` louder: a higher
    peak and, the room noise being the same, a higher signal-to-noise ratio.

    Example
    -------
    >>> base = Channel(0.3, 5.0, 100.0, 6000.0, (), "pink", 30.0, -12.0)
    >>> loud = styled_channel(base, STYLES["angry"])
    >>> loud.peak_db, loud.snr_db
    (-6.0, 36.0)
    """
    gain = style.gain_db * intensity
    return replace(
        channel, peak_db=min(channel.peak_db + gain, -0.5), snr_db=channel.snr_db + gain
    )


def iemocap_voice(seed: int, session: int, gender: str) -> Voice:
    """The voice of a session's female (``"F"``) or male (``"M"``) actor.

    Example
    -------
    >>> iemocap_voice(0, 1, "F").gender, iemocap_voice(0, 1, "M").gender
    ('female', 'male')
    """
    if gender not in ("F", "M"):
        raise ValueError(f"Expected gender 'F' or 'M', found {gender!r}")
    wanted = "female" if gender == "F" else "male"
    rng = item_rng(seed, "superb-iemocap-voice", session, gender)
    while True:
        voice = sample_voice(rng)
        if voice.gender == wanted:
            return voice


def dialog_name(session: int, index: int) -> str:
    """IEMOCAP-style dialog names: improvisations and scripts in turn, the
    marker-wearing actor (the letter) changing every two dialogs.

    Example
    -------
    >>> [dialog_name(1, i) for i in range(4)]
    ['Ses01F_impro01', 'Ses01F_script01_1', 'Ses01M_impro02', 'Ses01M_script01_2']
    """
    letter = "FM"[(index // 2) % 2]
    n = index // 2
    kind = (
        f"impro{n + 1:02d}" if index % 2 == 0 else f"script{n // 2 + 1:02d}_{n % 2 + 1}"
    )
    return f"Ses{session:02d}{letter}_{kind}"


def session_labels(seed: int, session: int, count: int) -> list[str]:
    """The labels of a session's ``count`` turns, shuffled.

    About one turn in sixteen (at least one) is ``fru`` or ``xxx``; the others go
    round ``neu, hap, sad, ang``, every second happy turn labelled ``exc``.

    Example
    -------
    >>> sorted(session_labels(0, 1, 8))
    ['ang', 'exc', 'fru', 'hap', 'neu', 'neu', 'sad', 'sad']
    """
    extra = max(1, round(count / 16))
    labels = [("neu", "hap", "sad", "ang")[i % 4] for i in range(count - extra)]
    happy = [i for i, label in enumerate(labels) if label == "hap"]
    for i in happy[1::2]:
        labels[i] = "exc"
    labels += [("fru", "xxx")[(session + i + 1) % 2] for i in range(extra)]
    order = item_rng(seed, "superb-iemocap-labels", session).permutation(count)
    return [labels[i] for i in order]


def plan_iemocap(seed: int, dialogs: int, turns: int) -> tuple[Job, ...]:
    """One job per dialog: ``2 * turns`` alternating turns, ``turns`` per actor.

    Items are ``(path under IEMOCAP_full_release, label)`` in time order.

    Example
    -------
    >>> jobs = plan_iemocap(0, dialogs=1, turns=2)
    >>> len(jobs), jobs[0].speaker
    (5, 'Ses01F_impro01')
    >>> jobs[0].items[1][0]
    'Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_M000.wav'
    """
    if dialogs < 1 or turns < 1:
        raise ValueError(f"Expected dialogs, turns >= 1, found {dialogs}, {turns}")
    jobs = []
    for session in SESSIONS:
        labels = iter(session_labels(seed, session, 2 * dialogs * turns))
        for index in range(dialogs):
            dialog = dialog_name(session, index)
            first = dialog[5]
            order = (first, "M" if first == "F" else "F")
            counts = {"F": 0, "M": 0}
            items = []
            for t in range(2 * turns):
                gender = order[t % 2]
                utterance = f"{dialog}_{gender}{counts[gender]:03d}"
                counts[gender] += 1
                path = f"Session{session}/sentences/wav/{dialog}/{utterance}.wav"
                items.append((path, next(labels)))
            jobs.append(Job(IEMOCAP_JOB, dialog, tuple(items)))
    return tuple(jobs)


def evaluation_block(
    rng: np.random.Generator, start: float, end: float, utterance: str, label: str
) -> list[str]:
    """One turn of an ``EmoEvaluation`` file: the label line, then three
    categorical and two dimensional evaluators.

    Example
    -------
    >>> block = evaluation_block(np.random.default_rng(0), 6.29, 8.2357,
    ...                          "Ses01F_impro01_F000", "neu")
    >>> block[0].split("\\t")[:3]
    ['[6.2900 - 8.2357]', 'Ses01F_impro01_F000', 'neu']
    """
    if label == "xxx":  # no majority: three different categories
        names = sorted(_CATEGORIES.values())
        categories = [names[i] for i in rng.choice(len(names), 3, replace=False)]
    else:
        others = sorted(v for k, v in _CATEGORIES.items() if k != label)
        categories = [_CATEGORIES[label]] * 3
        categories[int(rng.integers(3))] = (
            str(rng.choice(others)) if rng.uniform() < 0.3 else _CATEGORIES[label]
        )
    ratings = np.clip(np.rint(np.array(_VAD[label]) + rng.normal(0, 0.6, (2, 3))), 1, 5)
    v, a, d = ratings.mean(axis=0)
    lines = [
        f"[{start:.4f} - {end:.4f}]\t{utterance}\t{label}\t[{v:.4f}, {a:.4f}, {d:.4f}]"
    ]
    lines += [f"C-E{i + 1}:\t{c};\t()" for i, c in enumerate(categories)]
    lines += [
        f"A-E{i + 1}:\tval {int(r[0])}; act {int(r[1])}; dom  {int(r[2])};\t()"
        for i, r in enumerate(ratings)
    ]
    return lines


def evaluation_text(blocks: list[list[str]]) -> str:
    """The whole ``EmoEvaluation/<dialog>.txt``: header, blank-line separated turns.

    Example
    -------
    >>> evaluation_text([["[1.0000 - 2.0000]\\tX_F000\\tneu\\t[3.0, 2.5, 2.5]"]])[:14]
    '% [START_TIME '
    """
    return "\n\n".join(["\n".join(b) for b in [[EVALUATION_HEADER]] + blocks]) + "\n\n"

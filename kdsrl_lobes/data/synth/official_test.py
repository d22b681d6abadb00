"""What the embedded copy of GSC V1's official test set contains.

The real ``speech_commands_test_set_v0.01/`` is one folder per class, the 10
keywords, ``_unknown_`` and ``_silence_``, with about as many clips in each (3081
clips, ~257 a class). Keyword clips are named ``<speaker>_nohash_<n>.wav``,
``_unknown_`` clips ``<word>_<speaker>_nohash_<n>.wav`` and ``_silence_`` clips are
one second of background noise.

The embedded copy is planned from its own random stream (every key starts with
``gsc-test``), so adding it leaves every file of the main corpus as it was. Its
speakers, as many as the main corpus has, are new ids that GSC's ``which_set``
hash puts in ``testing``, never ids of the main corpus: they are disjoint from
the training and validation speakers. Each says every keyword ``takes`` times
and ``takes`` distinct unknown words once, and there are as many ``_silence_``
clips, so every class gets ``speakers * takes`` clips.
"""

from dataclasses import dataclass

from kdsrl_lobes.data.gsc import (
    GSC_KEYWORDS,
    GSC_UNKNOWN_WORDS,
    OFFICIAL_TEST_FOLDER,
    SILENCE_LABEL,
    UNKNOWN_LABEL,
    which_set,
)
from kdsrl_lobes.data.rng import item_rng
from kdsrl_lobes.data.synth.channel import NOISE_KINDS
from kdsrl_lobes.data.synth.layout import Job

TEST_SET_FOLDER = OFFICIAL_TEST_FOLDER
#: Bump when the test set's content changes, so it is rendered again.
TEST_SET_VERSION = 2
#: Job corpus names of the test set's speech and silence clips.
TEST_SPEECH = "gsc_test"
TEST_SILENCE = "gsc_test_silence"


@dataclass(frozen=True)
class OfficialTestPlan:
    """The test set's jobs and sizes.

    Example
    -------
    >>> plan = plan_official_test(0, 3, 2, used=set())
    >>> plan.speakers, plan.per_class, len(plan.jobs)
    (3, 6, 4)
    """

    jobs: tuple[Job, ...]
    speakers: int
    per_class: int

    def summary(self) -> dict:
        """What the manifest records of the test set."""
        return {
            "version": TEST_SET_VERSION,
            "folder": TEST_SET_FOLDER,
            "speakers": self.speakers,
            "per_class": self.per_class,
            "files": sum(len(job.items) for job in self.jobs),
        }


def official_test_speaker_count(gsc_speakers: int) -> int:
    """As many speakers as the main corpus's GSC, at least 2 (trials need two):
    with 2 takes, the default corpus's 120 give 240 clips a class, 2880 in all,
    close to the real set's ~257 and 3081; enough to tell a 2-point accuracy
    difference from the noise.

    Example
    -------
    >>> official_test_speaker_count(120), official_test_speaker_count(1)
    (120, 2)
    """
    return max(2, gsc_speakers)


def official_test_speakers(seed: int, count: int, used: set[str]) -> list[str]:
    """``count`` speaker ids of the ``testing`` hash, none of them in ``used``.

    Example
    -------
    >>> speakers = official_test_speakers(0, 3, used=set())
    >>> [which_set(f"{s}_nohash_0.wav") for s in speakers]
    ['testing', 'testing', 'testing']
    """
    speakers: list[str] = []
    for i in range(count):
        rng = item_rng(seed, "gsc-test-speaker", i)
        while True:
            spk = "".join(rng.choice(list("0123456789abcdef"), size=8))
            if (
                spk not in used
                and spk not in speakers
                and which_set(f"{spk}_nohash_0.wav") == "testing"
            ):
                break
        speakers.append(spk)
    return speakers


def plan_official_test(
    seed: int, gsc_speakers: int, takes: int, used: set[str]
) -> OfficialTestPlan:
    """Plans the test set of a corpus with ``gsc_speakers`` GSC speakers.

    Arguments
    ---------
    seed : int
        The corpus seed.
    gsc_speakers : int
        GSC speakers of the main corpus (the test set gets as many new ones).
    takes : int
        Takes per speaker and keyword (the main corpus's ``gsc_takes``).
    used : set[str]
        Speaker ids of the main corpus, never reused.

    Returns
    -------
    OfficialTestPlan
        One job per speaker (``corpus`` :data:`TEST_SPEECH`, items ``(relative
        path, spoken word)``) and one :data:`TEST_SILENCE` job (items
        ``(relative path, noise kind)``).
    """
    if takes < 1:
        raise ValueError(f"Expected takes >= 1, found {takes}")
    if takes > len(GSC_UNKNOWN_WORDS):
        raise ValueError(
            f"Expected takes <= {len(GSC_UNKNOWN_WORDS)} (distinct unknown words "
            f"per speaker), found {takes}"
        )
    count = official_test_speaker_count(gsc_speakers)
    jobs = []
    for spk in official_test_speakers(seed, count, used):
        items = [
            (f"{word}/{spk}_nohash_{k}.wav", word)
            for word in GSC_KEYWORDS
            for k in range(takes)
        ]
        rng = item_rng(seed, "gsc-test-unknown", spk)
        words = rng.choice(len(GSC_UNKNOWN_WORDS), size=takes, replace=False)
        items += [
            (f"{UNKNOWN_LABEL}/{GSC_UNKNOWN_WORDS[w]}_{spk}_nohash_0.wav",
             GSC_UNKNOWN_WORDS[w])
            for w in sorted(int(w) for w in words)
        ]  # fmt: skip
        jobs.append(Job(TEST_SPEECH, spk, tuple(items)))
    per_class = count * takes
    silence = tuple(
        (f"{SILENCE_LABEL}/{kind}_{i:04d}.wav", kind)
        for i in range(per_class)
        for kind in (NOISE_KINDS[i % len(NOISE_KINDS)],)
    )
    jobs.append(Job(TEST_SILENCE, "silence", silence))
    return OfficialTestPlan(jobs=tuple(jobs), speakers=count, per_class=per_class)

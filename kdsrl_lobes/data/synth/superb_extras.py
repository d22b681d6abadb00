"""The SUPERB extras of the embedded corpus: what the frozen-encoder downstream
tasks need beyond the main corpus.

- ``LibriSpeech/test-clean/``: as many speakers, chapters and utterances as
  ``dev-clean``, new speaker and chapter ids, the same layout and ``.trans.txt``;
- ``LibriSpeech/librispeech-lexicon.txt``: the real lexicon's format with
  espeak-ng's phones for every word the transcripts can hold (phoneme
  recognition);
- ``voxceleb1/iden_split.txt``: the official identification split over every
  VoxCeleb1 speaker (speaker identification);
- ``IEMOCAP_full_release/``: IEMOCAP's layout and labels (emotion recognition,
  see :mod:`kdsrl_lobes.data.synth.iemocap`).

Like the official GSC test set, the extras are planned from a random stream of
their own (every key starts with ``superb``) and have their own manifest entry:
a corpus generated before them gets them on the next run and no file of it
changes.
"""

import os
import subprocess
from dataclasses import asdict, dataclass

from kdsrl_lobes.data.lexicon import LEXICON_FILE
from kdsrl_lobes.data.prepare_iemocap import IEMOCAP_FOLDER
from kdsrl_lobes.data.prepare_voxceleb1 import IDEN_SPLIT_FILE
from kdsrl_lobes.data.rng import item_rng
from kdsrl_lobes.data.synth.iemocap import plan_iemocap
from kdsrl_lobes.data.synth.layout import (
    LIBRI_FOLDER,
    VOX_FOLDER,
    CorpusSizes,
    Job,
    Plan,
    librispeech_items,
)
from kdsrl_lobes.data.synth.text import VOCABULARY, transcript

#: Bump when the extras' content changes, so they are rendered again.
EXTRAS_VERSION = 1
LIBRI_TEST_SPLIT = "test-clean"
#: Job corpus name of the ``test-clean`` speakers.
LIBRI_TEST_JOB = "superb_librispeech"
#: What the extras add to a corpus (paths relative to its root).
EXTRAS_OUTPUTS: tuple[str, ...] = (
    f"{LIBRI_FOLDER}/{LIBRI_TEST_SPLIT}",
    f"{LIBRI_FOLDER}/{LEXICON_FILE}",
    f"{VOX_FOLDER}/{IDEN_SPLIT_FILE}",
    IEMOCAP_FOLDER,
)
# espeak-ng says each word between these two, so that function words get their
# reduced form in a sentence ("a" is [ɐ], not the citation form [eɪ]).
_CARRIER = ("then", "came")
_STRESS_MARKS = "ˈˌ"


@dataclass(frozen=True)
class ExtrasSizes:
    """How big the IEMOCAP stand-in is; the other extras follow the main corpus.

    Example
    -------
    >>> ExtrasSizes.from_options(quick=True)
    ExtrasSizes(iemocap_dialogs=1, iemocap_turns=4)
    """

    iemocap_dialogs: int
    iemocap_turns: int

    def __post_init__(self):
        for name in ("iemocap_dialogs", "iemocap_turns"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"ExtrasSizes.{name} must be >= 1, found {getattr(self, name)}"
                )

    @classmethod
    def from_options(cls, quick: bool) -> "ExtrasSizes":
        """IEMOCAP: 5 sessions of ``dialogs`` dialogs, ``turns`` turns per actor
        and dialog; 40 utterances with ``quick``, else 480 (48 per actor)."""
        return cls(1, 4) if quick else cls(4, 12)


@dataclass(frozen=True)
class ExtrasPlan:
    """The extras' jobs and lists."""

    jobs: tuple[Job, ...]
    iden_split: list[str]
    sizes: ExtrasSizes

    def summary(self) -> dict:
        """What the manifest records of the extras."""
        files: dict[str, int] = {}
        for job in self.jobs:
            files[job.corpus] = files.get(job.corpus, 0) + len(job.items)
        return {
            "version": EXTRAS_VERSION,
            "sizes": asdict(self.sizes),
            "files": dict(sorted(files.items())),
            "iden_split": len(self.iden_split),
            "lexicon_words": len(VOCABULARY),
        }


def iden_split_lines(seed: int, vox_jobs: list[Job]) -> list[str]:
    """VoxCeleb1's ``iden_split.txt`` lines over every speaker, sorted by path.

    Of each speaker's ``n`` files, taken round the sessions in a seeded order,
    ``k = max(1, round(0.15 * n))`` go to test (3), the next ``k`` to dev (2),
    the rest to train (1): every speaker with 3 files or more is in all three
    splits (2 files: train and test).

    Example
    -------
    >>> job = Job("voxceleb1", "id10001", tuple(
    ...     (f"id10001/{v}/{u:05d}.wav", v) for v in ("aaa", "bbb") for u in (1, 2)))
    >>> sorted(line[0] for line in iden_split_lines(0, [job]))
    ['1', '1', '2', '3']
    """
    lines = []
    for job in vox_jobs:
        sessions: dict[str, list[str]] = {}
        for path, video in job.items:
            sessions.setdefault(video, []).append(path)
        rng = item_rng(seed, "superb-iden-split", job.speaker)
        shuffled = [
            [files[i] for i in rng.permutation(len(files))]
            for files in (sessions[v] for v in sorted(sessions))
        ]
        order = [
            files[k] for k in range(max(map(len, shuffled))) for files in shuffled
            if k < len(files)
        ]  # fmt: skip
        held = max(1, round(0.15 * len(order))) if len(order) >= 2 else 0
        for i, path in enumerate(order):
            label = 3 if i < held else 2 if i < 2 * held and len(order) >= 3 else 1
            lines.append(f"{label} {path}")
    return sorted(lines, key=lambda line: line[2:])


def plan_librispeech_test(seed: int, sizes: CorpusSizes, plan: Plan) -> list[Job]:
    """``test-clean``: ``sizes.libri_dev`` new speakers with new chapters."""
    libri = [job for job in plan.jobs if job.corpus == "librispeech"]
    used_speakers = {int(job.speaker) for job in libri}
    used_chapters = {int(ch.split("/")[1]) for job in libri for _, ch in job.items}
    rng = item_rng(seed, "superb-librispeech-ids")
    speakers = rng.choice(
        sorted(set(range(10, 10000)) - used_speakers), size=sizes.libri_dev,
        replace=False,
    )  # fmt: skip
    chapters = rng.choice(
        sorted(set(range(1000, 400000)) - used_chapters),
        size=sizes.libri_dev * sizes.libri_chapters, replace=False,
    )  # fmt: skip
    jobs = []
    for i, spk in enumerate(int(s) for s in speakers):
        mine = chapters[i * sizes.libri_chapters : (i + 1) * sizes.libri_chapters]
        items = librispeech_items(
            LIBRI_TEST_SPLIT, spk, [int(c) for c in mine], sizes.libri_utterances
        )
        jobs.append(Job(LIBRI_TEST_JOB, str(spk), items))
    return jobs


def plan_extras(
    seed: int, sizes: CorpusSizes, extras: ExtrasSizes, plan: Plan
) -> ExtrasPlan:
    """Plans the extras of the corpus ``plan``.

    Example
    -------
    >>> from kdsrl_lobes.data.synth.layout import make_plan
    >>> sizes = CorpusSizes.from_options(None, quick=True)
    >>> extras = plan_extras(0, sizes, ExtrasSizes(1, 2), make_plan(0, sizes))
    >>> extras.summary()["files"]
    {'superb_iemocap': 20, 'superb_librispeech': 5}
    """
    vox = [job for job in plan.jobs if job.corpus == "voxceleb1"]
    jobs = plan_librispeech_test(seed, sizes, plan)
    jobs += plan_iemocap(seed, extras.iemocap_dialogs, extras.iemocap_turns)
    return ExtrasPlan(
        jobs=tuple(jobs), iden_split=iden_split_lines(seed, vox), sizes=extras
    )


def lexicon_lines(binary: str) -> list[str]:
    """``WORD<TAB>PH1 PH2 ...`` for every word of the transcripts, sorted.

    The phones are espeak-ng's IPA for the word (default ``en-us`` voice, no
    variant) said inside a carrier phrase, stress marks removed.

    Arguments
    ---------
    binary : str
        The espeak-ng binary.

    Returns
    -------
    list[str]
        One line per word of :data:`~kdsrl_lobes.data.synth.text.VOCABULARY`.
    """
    text = "\n".join(f"{_CARRIER[0]} {word} {_CARRIER[1]}." for word in VOCABULARY)
    done = subprocess.run(
        [binary, "-q", "--ipa", "--sep=_", "-v", "en-us"],
        input=text, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0 or done.stderr.strip():
        raise RuntimeError(f"espeak-ng failed ({done.returncode}): {done.stderr}")
    said = [line.split() for line in done.stdout.splitlines() if line.strip()]
    if len(said) != len(VOCABULARY):
        raise RuntimeError(
            f"espeak-ng returned {len(said)} phoneme lines for {len(VOCABULARY)} words"
        )
    lines = []
    for word, tokens in zip(VOCABULARY, said, strict=True):
        if len(tokens) != 3:
            raise RuntimeError(f"espeak-ng phonemes of {word!r}: {tokens}")
        phones = [p.strip(_STRESS_MARKS) for p in tokens[1].split("_")]
        phones = [p for p in phones if p]
        if not phones:
            raise RuntimeError(f"espeak-ng gave no phone for {word!r}: {tokens}")
        lines.append(f"{transcript(word)}\t{' '.join(phones)}")
    return sorted(lines)


def write_extras_lists(output: str, plan: ExtrasPlan, binary: str) -> None:
    """Writes the extras' text files: ``iden_split.txt`` and the lexicon."""
    for relpath, lines in (
        (f"{VOX_FOLDER}/{IDEN_SPLIT_FILE}", plan.iden_split),
        (f"{LIBRI_FOLDER}/{LEXICON_FILE}", lexicon_lines(binary)),
    ):
        path = os.path.join(output, relpath)
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in lines))
        os.replace(path + ".tmp", path)

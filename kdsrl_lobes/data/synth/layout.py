"""What the synthetic corpus contains: speakers, files, splits and trials.

Planning is pure (no audio): it decides every speaker id, file path, split and
trial from the seed alone, then :mod:`kdsrl_lobes.data.synth.render` renders the files
job by job (one job per speaker) in any process order.
"""

import string
from dataclasses import dataclass

from kdsrl_lobes.data.gsc import GSC_WORDS, which_set
from kdsrl_lobes.data.rng import item_rng

GSC_FOLDER = "speech_commands_v0.01"
VOX_FOLDER = "voxceleb1"
LIBRI_FOLDER = "LibriSpeech"
TRIALS_FILE = "veri_test2.txt"
LIBRI_TRAIN_SPLIT = "train-clean-100"
LIBRI_DEV_SPLIT = "dev-clean"
#: GSC background-noise file name per noise kind.
NOISE_FILES: dict[str, str] = {
    "white": "white_noise.wav",
    "pink": "pink_noise.wav",
    "brown": "brown_noise.wav",
    "hum": "mains_hum.wav",
    "machine": "running_machine.wav",
}
_SPLIT_OF_SLOT = {0: "validation", 1: "testing"}  # the others: training
_VIDEO_ALPHABET = string.ascii_letters + string.digits + "-_"


@dataclass(frozen=True)
class CorpusSizes:
    """How many speakers and files each corpus gets.

    Example
    -------
    >>> sizes = CorpusSizes.from_options(None, quick=True)
    >>> sizes.gsc_speakers, sizes.vox_test, sizes.vox_sessions
    (10, 3, 2)
    """

    gsc_speakers: int
    gsc_takes: int
    vox_dev: int
    vox_test: int
    vox_sessions: int
    vox_utterances: int
    libri_train: int
    libri_dev: int
    libri_chapters: int
    libri_utterances: int
    noise_seconds: float

    def __post_init__(self):
        minimum = {
            "gsc_speakers": 3,  # one per split
            "gsc_takes": 1,
            "vox_dev": 1,
            "vox_test": 2,  # non-target trials need two test speakers
            "vox_sessions": 2,  # target trials cross sessions
            "vox_utterances": 1,
            "libri_train": 1,
            "libri_dev": 1,
            "libri_chapters": 1,
            "libri_utterances": 1,
            "noise_seconds": 10.0,  # a one-second silence crop in each 10 % region
        }
        for name, low in minimum.items():
            if getattr(self, name) < low:
                raise ValueError(
                    f"CorpusSizes.{name} must be >= {low}, found {getattr(self, name)}"
                )

    @classmethod
    def from_options(cls, num_speakers: int | None, quick: bool) -> "CorpusSizes":
        """Sizes for ``--num_speakers`` (GSC speakers) and ``--quick``.

        VoxCeleb gets ``num_speakers // 2`` speakers (a third of them test) and
        LibriSpeech ``num_speakers // 3`` (a tenth of them dev-clean).
        """
        minimum = 3 if quick else 12
        if num_speakers is not None and num_speakers < minimum:
            raise ValueError(
                f"--num_speakers must be >= {minimum}"
                f"{' with --quick' if quick else ''}, found {num_speakers}"
            )
        if quick:
            n = 10 if num_speakers is None else num_speakers
            return cls(n, 2, 4, 3, 2, 2, 3, 1, 1, 5, 15.0)
        n = 120 if num_speakers is None else num_speakers
        vox = n // 2
        libri = n // 3
        return cls(
            gsc_speakers=n,
            gsc_takes=2,
            vox_dev=vox - vox // 3,
            vox_test=vox // 3,
            vox_sessions=3,
            vox_utterances=4,
            libri_train=libri - max(1, libri // 10),
            libri_dev=max(1, libri // 10),
            libri_chapters=2,
            libri_utterances=5,
            noise_seconds=60.0,
        )


@dataclass(frozen=True)
class Job:
    """One worker task: every file of one speaker (or the noise files).

    ``items`` holds ``(relative path, what)`` pairs: the word for GSC, the noise
    kind for noise, the video id for VoxCeleb, the split/chapter for LibriSpeech.
    """

    corpus: str
    speaker: str
    items: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Plan:
    """Everything the corpus will contain."""

    jobs: tuple[Job, ...]
    gsc_splits: dict[str, list[str]]
    trials: list[tuple[int, str, str]]
    vox_dev_speakers: list[str]
    vox_test_speakers: list[str]


def gsc_speakers(seed: int, count: int) -> list[tuple[str, str]]:
    """Draws GSC speaker ids (8 hex chars) and their split.

    Speaker ``i`` is meant for validation when ``i % 10 == 0``, testing when
    ``i % 10 == 1``, else training; ids are drawn until GSC's own ``which_set`` hash
    puts them there, so the lists agree with the official hashing and every split
    has speakers as soon as ``count >= 3``.

    Example
    -------
    >>> [split for _, split in gsc_speakers(0, 3)]
    ['validation', 'testing', 'training']
    """
    speakers, used = [], set()
    for i in range(count):
        wanted = _SPLIT_OF_SLOT.get(i % 10, "training")
        rng = item_rng(seed, "gsc-speaker", i)
        while True:
            spk = "".join(rng.choice(list("0123456789abcdef"), size=8))
            if spk not in used and which_set(f"{spk}_nohash_0.wav") == wanted:
                break
        used.add(spk)
        speakers.append((spk, wanted))
    return speakers


def vox_ids(num_dev: int, num_test: int) -> tuple[list[str], list[str]]:
    """VoxCeleb1-style ids: test ``id10270...``, dev ``id10001...`` around them.

    Example
    -------
    >>> vox_ids(2, 2)
    (['id10001', 'id10002'], ['id10270', 'id10271'])
    """
    test = [f"id{10270 + i}" for i in range(num_test)]
    dev, number = [], 10001
    while len(dev) < num_dev:
        if f"id{number}" not in test:
            dev.append(f"id{number}")
        number += 1
    return dev, test


def video_id(seed: int, speaker: str, session: int) -> str:
    """An 11-character YouTube-like video id for one session."""
    rng = item_rng(seed, "video", speaker, session)
    return "".join(rng.choice(list(_VIDEO_ALPHABET), size=11))


def librispeech_items(
    split: str, speaker: int, chapters: list[int], utterances: int
) -> tuple[tuple[str, str], ...]:
    """One LibriSpeech speaker's job items: ``(relative path, "split/chapter")``.

    Example
    -------
    >>> librispeech_items("dev-clean", 84, [121123], 2)[1]
    ('dev-clean/84/121123/84-121123-0001.flac', 'dev-clean/121123')
    """
    return tuple(
        (f"{split}/{speaker}/{ch}/{speaker}-{ch}-{u:04d}.flac", f"{split}/{ch}")
        for ch in chapters
        for u in range(utterances)
    )


def make_trials(
    seed: int, files: dict[str, dict[str, list[str]]]
) -> list[tuple[int, str, str]]:
    """Balanced trials over test speakers, target pairs across sessions.

    Arguments
    ---------
    seed : int
        The run's seed.
    files : dict
        ``{speaker: {video: [relative path, ...]}}`` of the test speakers.

    Returns
    -------
    list[tuple[int, str, str]]
        ``(label, enrol, test)`` with as many label-0 as label-1 trials, sorted by
        enrolment file.
    """
    rng = item_rng(seed, "trials")
    targets, pairs = [], set()
    all_files = [(s, f) for s in sorted(files) for v in files[s] for f in files[s][v]]
    for spk, enrol in all_files:
        video = enrol.split("/")[1]
        others = [f for v in sorted(files[spk]) if v != video for f in files[spk][v]]
        for test in rng.permutation(others)[:2]:
            key = frozenset((enrol, str(test)))
            if key not in pairs:
                pairs.add(key)
                targets.append((1, enrol, str(test)))
    nontargets = []
    for _ in range(100 * len(targets) + 100):
        if len(nontargets) == len(targets):
            break
        spk, enrol = all_files[len(nontargets) % len(all_files)]
        candidates = [f for s, f in all_files if s != spk]
        test = str(candidates[rng.integers(len(candidates))])
        key = frozenset((enrol, test))
        if key not in pairs:
            pairs.add(key)
            nontargets.append((0, enrol, test))
    if len(nontargets) < len(targets):
        raise RuntimeError(f"Cannot draw {len(targets)} distinct non-target trials")
    return sorted(targets + nontargets, key=lambda t: (t[1], -t[0], t[2]))


def make_plan(seed: int, sizes: CorpusSizes) -> Plan:
    """Plans the whole corpus for ``seed`` and ``sizes``.

    Example
    -------
    >>> plan = make_plan(0, CorpusSizes.from_options(None, quick=True))
    >>> sorted(plan.gsc_splits), {label for label, _, _ in plan.trials}
    (['testing', 'training', 'validation'], {0, 1})
    """
    jobs = [
        Job("noise", "noise", tuple((name, kind) for kind, name in NOISE_FILES.items()))
    ]
    splits: dict[str, list[str]] = {"training": [], "validation": [], "testing": []}
    for spk, split in gsc_speakers(seed, sizes.gsc_speakers):
        items = tuple(
            (f"{word}/{spk}_nohash_{k}.wav", word)
            for word in GSC_WORDS
            for k in range(sizes.gsc_takes)
        )
        splits[split] += [path for path, _ in items]
        jobs.append(Job("gsc", spk, items))
    dev, test = vox_ids(sizes.vox_dev, sizes.vox_test)
    test_files: dict[str, dict[str, list[str]]] = {}
    for spk in dev + test:
        sessions: dict[str, list[str]] = {}
        for s in range(sizes.vox_sessions):
            video = video_id(seed, spk, s)
            sessions[video] = [
                f"{spk}/{video}/{u + 1:05d}.wav" for u in range(sizes.vox_utterances)
            ]
        items = tuple((p, v) for v in sessions for p in sessions[v])
        jobs.append(Job("voxceleb1", spk, items))
        if spk in test:
            test_files[spk] = sessions
    rng = item_rng(seed, "librispeech-ids")
    num_libri = sizes.libri_train + sizes.libri_dev
    speaker_ids = rng.choice(range(10, 10000), size=num_libri, replace=False)
    chapter_ids = rng.choice(
        range(1000, 400000), size=num_libri * sizes.libri_chapters, replace=False
    )
    for i, spk in enumerate(int(s) for s in speaker_ids):
        split = LIBRI_TRAIN_SPLIT if i < sizes.libri_train else LIBRI_DEV_SPLIT
        chapters = chapter_ids[
            i * sizes.libri_chapters : (i + 1) * sizes.libri_chapters
        ]
        items = librispeech_items(
            split, spk, [int(c) for c in chapters], sizes.libri_utterances
        )
        jobs.append(Job("librispeech", str(spk), items))
    for paths in splits.values():
        paths.sort()
    return Plan(
        jobs=tuple(jobs),
        gsc_splits=splits,
        trials=make_trials(seed, test_files),
        vox_dev_speakers=dev,
        vox_test_speakers=test,
    )

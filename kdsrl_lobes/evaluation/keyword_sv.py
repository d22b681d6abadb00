"""Keyword speaker verification: is the same keyword said by the same speaker?

On one-second clips an SV embedding can encode the word rather than the voice
(two speakers saying "yes" score higher than one speaker saying two words).
Trials that hold the word fixed measure the voice alone: every trial pairs two
clips of the same keyword, a target trial two clips of one speaker, a
non-target trial two speakers, as many of each per keyword. The result is
reported as ``sv_keyword_eer`` (with ``sv_keyword_min_dcf`` and their 95 %
intervals, bootstrap over enrolment speakers) beside the VoxCeleb1 EER.

- `keyword_trials`: the balanced trial list of GSC test rows.
- `keyword_verification`: its metrics from embeddings; `keyword_sv_of_rows`
  the same from rows and a function that embeds them (the recipe's).
- `evaluate_keyword_sv`: one call from an embedding function and a test folder
  (``MultiTaskSpeechModel.verify_keywords`` wraps it).

Trial entries are paths relative to the GSC folder, ``<word>/<speaker>_nohash_
<n>.wav``, as ``kdsrl_lobes.data.read_trials`` reads them.

Authors
 * kdsrl team 2026
"""

import itertools
import os
from collections.abc import Callable, Sequence

import speechbrain as sb
import torch

from kdsrl_lobes.data.gsc import GSC_KEYWORDS
from kdsrl_lobes.data.gsc_official_test import official_test_rows, official_test_speaker
from kdsrl_lobes.data.rng import item_rng
from kdsrl_lobes.data.trials import write_trials
from kdsrl_lobes.evaluation.metrics import score_trials
from kdsrl_lobes.evaluation.reports import verification_report
from kdsrl_lobes.training.crops import audio_pipeline

Trial = tuple[int, str, str]


def keyword_trials(rows: Sequence[dict], seed: int = 0) -> list[Trial]:
    """Balanced same-keyword trials over prepared GSC rows.

    For each keyword: every pair of two clips of one speaker is a target trial,
    and as many pairs of clips of two different speakers (drawn without
    repetition, seeded) are non-target trials; when a keyword has fewer
    different-speaker pairs than same-speaker ones, the targets are subsampled
    to as many. ``_unknown_`` and ``_silence_`` rows are ignored.

    Arguments
    ---------
    rows : sequence of dict
        Rows with ``ID`` (``<word>/<stem>``), ``spk_id`` and ``command``.
    seed : int
        Seed of the draws.

    Returns
    -------
    list[tuple[int, str, str]]
        ``(label, enrol, test)`` with paths ``<ID>.wav``, keyword by keyword.

    Example
    -------
    >>> rows = [{"ID": f"yes/{s}_nohash_{k}", "spk_id": s, "command": "yes"}
    ...         for s in ("a", "b") for k in (0, 1)]
    >>> trials = keyword_trials(rows)
    >>> [label for label, _, _ in trials]
    [1, 1, 0, 0]
    """
    by_keyword: dict[str, dict[str, list[str]]] = {}
    for row in rows:
        if row["command"] in GSC_KEYWORDS:
            speakers = by_keyword.setdefault(row["command"], {})
            speakers.setdefault(row["spk_id"], []).append(f"{row['ID']}.wav")
    trials: list[Trial] = []
    for keyword in GSC_KEYWORDS:
        speakers = by_keyword.get(keyword, {})
        names = sorted(speakers)
        targets = [
            (1, a, b)
            for spk in names
            for a, b in itertools.combinations(sorted(speakers[spk]), 2)
        ]
        others = [
            (0, a, b)
            for i, s in enumerate(names)
            for t in names[i + 1 :]
            for a in sorted(speakers[s])
            for b in sorted(speakers[t])
        ]
        count = min(len(targets), len(others))
        rng = item_rng(seed, "keyword-trials", keyword)
        if count < len(targets):
            targets = [
                targets[i] for i in sorted(rng.permutation(len(targets))[:count])
            ]
        pick = sorted(rng.permutation(len(others))[:count])
        trials += targets + [others[i] for i in pick]
    if not trials:
        raise ValueError(
            f"Expected a keyword said twice by a speaker and by another speaker, "
            f"found no such keyword in {len(rows)} rows"
        )
    return trials


def trial_speaker(path: str) -> str:
    """The speaker of a keyword trial entry ``<word>/<speaker>_nohash_<n>.wav``.

    Example
    -------
    >>> trial_speaker("yes/0a7c2a8d_nohash_1.wav")
    '0a7c2a8d'
    """
    parts = path.replace(os.sep, "/").split("/")
    if len(parts) < 2:
        raise ValueError(f"Expected a trial path '<word>/<file>.wav', found {path!r}")
    return official_test_speaker(parts[-2], parts[-1])


def keyword_verification(
    embeddings: dict, trials: Sequence[Trial], n_resamples: int = 1000, seed: int = 0
) -> dict:
    """``sv_keyword_*`` metrics of keyword trials (see `verification_report`).

    Arguments
    ---------
    embeddings : dict
        Trial path -> speaker embedding ``[dim]``.
    trials : sequence of (label, enrol, test)
        As made by `keyword_trials`.
    n_resamples : int
        Bootstrap resamples (groups: the enrolment speakers).
    seed : int
        Seed of the resampling.

    Returns
    -------
    dict
        ``sv_keyword_eer`` (%), ``sv_keyword_eer_ci95``, ``sv_keyword_min_dcf``,
        ``sv_keyword_min_dcf_ci95``, ``sv_keyword_threshold``,
        ``sv_keyword_num_trials``, ``sv_keyword_num_speakers``.

    Example
    -------
    >>> emb = {"yes/a_nohash_0.wav": torch.tensor([1.0, 0.0]),
    ...        "yes/a_nohash_1.wav": torch.tensor([1.0, 0.1]),
    ...        "yes/b_nohash_0.wav": torch.tensor([0.0, 1.0])}
    >>> trials = [(1, "yes/a_nohash_0.wav", "yes/a_nohash_1.wav"),
    ...           (0, "yes/a_nohash_0.wav", "yes/b_nohash_0.wav")]
    >>> keyword_verification(emb, trials, n_resamples=10)["sv_keyword_eer"]
    0.0
    """
    scores, labels = score_trials(embeddings, trials)
    groups = [trial_speaker(enrol) for _, enrol, _ in trials]
    return verification_report(
        scores, labels, groups, "sv_keyword", n_resamples=n_resamples, seed=seed
    )


def keyword_sv_of_rows(
    embed_dataset: Callable[[object], dict],
    rows: Sequence[dict],
    n_resamples: int = 1000,
    seed: int = 0,
    trials_file: str | None = None,
) -> dict:
    """`keyword_verification` of the `keyword_trials` of GSC test ``rows``.

    Arguments
    ---------
    embed_dataset : callable
        A SpeechBrain dataset (items ``id``, ``sig``: whole clips) of the rows
        the trials name -> ``{row ID: embedding [dim]}``.
    rows : sequence of dict
        Prepared GSC test rows (``ID``, ``wav``, ``start``, ``stop``,
        ``spk_id``, ``command``).
    n_resamples : int
        Bootstrap resamples.
    seed : int
        Seed of the trial draws and the resampling.
    trials_file : str, optional
        Where to write the trial list (`read_trials` format).

    Returns
    -------
    dict
        As `keyword_verification`.

    Example
    -------
    >>> rows = [{"ID": f"no/{s}_nohash_{k}", "spk_id": s, "command": "no"}
    ...         for s in ("a", "b") for k in (0, 1)]
    >>> def embed_dataset(data):  # the clips' speaker, not their audio
    ...     return {k: torch.tensor([1.0, float(r["spk_id"] == "a")])
    ...             for k, r in data.data.items()}
    >>> keyword_sv_of_rows(embed_dataset, rows, n_resamples=10)["sv_keyword_eer"]
    0.0
    """
    trials = keyword_trials(rows, seed)
    if trials_file is not None:
        write_trials(trials_file, trials)
    named = {name for _, a, b in trials for name in (a, b)}
    data = sb.dataio.dataset.DynamicItemDataset(
        {r["ID"]: r for r in rows if f"{r['ID']}.wav" in named}
    )
    data.add_dynamic_item(audio_pipeline())  # whole clips
    data.set_output_keys(["id", "sig"])
    embeddings = {f"{key}.wav": value for key, value in embed_dataset(data).items()}
    return keyword_verification(embeddings, trials, n_resamples, seed)


def evaluate_keyword_sv(
    embed: Callable[[str], torch.Tensor],
    folder: str,
    trials: Sequence[Trial] | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict:
    """Keyword SV metrics of a model, from its embedding function.

    Arguments
    ---------
    embed : callable
        Audio file path -> speaker embedding ``[dim]``.
    folder : str
        GSC V1's official test-set folder (``speech_commands_test_set_v0.01``);
        with ``trials``, any folder their paths are relative to.
    trials : sequence of (label, enrol, test), optional
        Default: `keyword_trials` of the folder's clips.
    n_resamples : int
        Bootstrap resamples.
    seed : int
        Seed of the trial draws and of the resampling.

    Returns
    -------
    dict
        As `keyword_verification`.

    Raises
    ------
    FileNotFoundError
        When a trial names a clip that is not under ``folder`` (the clip and
        the trial's number are named).

    Example
    -------
    >>> evaluate_keyword_sv(len, "/no/such", [(1, "yes/a_nohash_0.wav", "x.wav")])
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: Keyword trial 1 names yes/a_nohash_0.wav, not found under ...
    """
    if trials is None:
        trials = keyword_trials(official_test_rows(folder), seed)
    embeddings = {}
    for number, (_, enrol, test) in enumerate(trials, start=1):
        for name in (enrol, test):
            if name in embeddings:
                continue
            path = os.path.join(folder, name)
            if not os.path.isfile(path):
                raise FileNotFoundError(
                    f"Keyword trial {number} names {name}, not found under {folder}"
                )
            embeddings[name] = torch.as_tensor(embed(path)).reshape(-1).cpu()
    return keyword_verification(embeddings, trials, n_resamples, seed)

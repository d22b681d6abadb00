"""Generates the embedded offline corpus (GSC V1, VoxCeleb1, LibriSpeech, IEMOCAP).

Usage::

    python -m kdsrl_lobes.data.synth --output DIR [--num_speakers N] [--seed S]
                                     [--quick] [--num_workers W]

Speech comes from espeak-ng with one procedural voice per speaker (see
:mod:`kdsrl_lobes.data.synth.espeak`), recorded through synthetic rooms, devices and
noise (:mod:`kdsrl_lobes.data.synth.channel`). Jobs (one per speaker) run in a
multiprocessing pool over all cores; the output only depends on the options. A
manifest JSON written last records the options: a rerun with the same options does
nothing, a rerun with other options (or after an interrupted run) deletes the three
corpus folders and regenerates them from scratch.

The copy of GSC V1's official test set, ``speech_commands_test_set_v0.01/`` (see
:mod:`kdsrl_lobes.data.synth.official_test`), comes from a random stream of its
own and has its own entry in the manifest: a corpus generated before it existed
gets it on the next run, and nothing else of that corpus is touched. The SUPERB
extras (LibriSpeech ``test-clean`` and lexicon, VoxCeleb1 ``iden_split.txt``,
``IEMOCAP_full_release/``; see :mod:`kdsrl_lobes.data.synth.superb_extras`) are
added the same way.
"""

import argparse
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import asdict
from multiprocessing import Pool

from speechbrain.utils.logger import get_logger
from tqdm import tqdm

from kdsrl_lobes.data.gsc import TESTING_LIST, VALIDATION_LIST
from kdsrl_lobes.data.synth.espeak import find_espeak
from kdsrl_lobes.data.synth.iemocap import IEMOCAP_JOB
from kdsrl_lobes.data.synth.layout import (
    GSC_FOLDER,
    LIBRI_FOLDER,
    TRIALS_FILE,
    VOX_FOLDER,
    CorpusSizes,
    make_plan,
)
from kdsrl_lobes.data.synth.official_test import (
    TEST_SET_FOLDER,
    TEST_SILENCE,
    TEST_SPEECH,
    plan_official_test,
)
from kdsrl_lobes.data.synth.render import init_worker, render_job
from kdsrl_lobes.data.synth.superb_extras import (
    EXTRAS_OUTPUTS,
    LIBRI_TEST_JOB,
    ExtrasSizes,
    plan_extras,
    write_extras_lists,
)

logger = get_logger(__name__)

#: Bump when the generator's output changes, so old corpora are regenerated.
GENERATOR_VERSION = 1
MANIFEST_FILE = "kdsrl_synth_manifest.json"
CORPUS_FOLDERS = (GSC_FOLDER, VOX_FOLDER, LIBRI_FOLDER)
# Long jobs first, so the pool does not end waiting on one slow worker.
_JOB_ORDER = {
    "librispeech": 0, LIBRI_TEST_JOB: 0, "voxceleb1": 1, IEMOCAP_JOB: 1, "noise": 2,
    "gsc": 3, TEST_SPEECH: 4, TEST_SILENCE: 5,
}  # fmt: skip


def _write_lines(path: str, lines: list[str]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))


def read_manifest(output: str) -> dict | None:
    """Returns the manifest of a finished run in ``output``, or None."""
    path = os.path.join(output, MANIFEST_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, json.JSONDecodeError):
        return None
    return manifest if isinstance(manifest, dict) else None


def generate(
    output: str,
    num_speakers: int | None = None,
    seed: int = 1234,
    quick: bool = False,
    num_workers: int | None = None,
    progress: bool = True,
    sizes: CorpusSizes | None = None,
    extras_sizes: ExtrasSizes | None = None,
) -> dict:
    """Generates the corpus under ``output`` unless it is already there.

    Arguments
    ---------
    output : str
        Folder that receives ``speech_commands_v0.01/``, ``voxceleb1/``,
        ``LibriSpeech/``, ``speech_commands_test_set_v0.01/``,
        ``IEMOCAP_full_release/`` and the manifest.
    num_speakers : int, optional
        Number of GSC speakers (default 120, or 10 with ``quick``); VoxCeleb gets
        half as many, LibriSpeech a third.
    seed : int
        Seed of every random choice: same options, bit-identical files.
    quick : bool
        A tiny corpus for tests.
    num_workers : int, optional
        Worker processes (default ``os.cpu_count()``).
    progress : bool
        Show a tqdm progress bar.
    sizes : CorpusSizes, optional
        Explicit sizes, overriding ``num_speakers`` and ``quick`` (API only).
    extras_sizes : ExtrasSizes, optional
        Explicit sizes of the SUPERB extras' IEMOCAP, overriding ``quick``.

    Returns
    -------
    dict
        The manifest (options, file counts, hours, trials), plus ``"seconds"``
        taken and ``"skipped": True`` when nothing was done. The manifest file
        holds no timing, so two runs with the same options are bit-identical.
    """
    sizes = sizes or CorpusSizes.from_options(num_speakers, quick)
    options = {
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "quick": bool(quick),
        "sizes": asdict(sizes),
    }
    plan = make_plan(seed, sizes)
    used = {job.speaker for job in plan.jobs if job.corpus == "gsc"}
    test_plan = plan_official_test(seed, sizes.gsc_speakers, sizes.gsc_takes, used)
    extras_plan = plan_extras(
        seed, sizes, extras_sizes or ExtrasSizes.from_options(quick), plan
    )
    manifest = read_manifest(output)
    complete = all(os.path.isdir(os.path.join(output, d)) for d in CORPUS_FOLDERS)
    main_done = manifest is not None and manifest.get("options") == options and complete
    test_done = main_done and (
        manifest.get("official_test") == test_plan.summary()
        and os.path.isdir(os.path.join(output, TEST_SET_FOLDER))
    )
    extras_done = main_done and (
        manifest.get("superb_extras") == extras_plan.summary()
        and all(os.path.exists(os.path.join(output, p)) for p in EXTRAS_OUTPUTS)
    )
    if test_done and extras_done:
        logger.info("Corpus in %s already generated with these options", output)
        return {**manifest, "skipped": True, "seconds": 0.0}
    binary = find_espeak()
    os.makedirs(output, exist_ok=True)
    if main_done:  # a corpus from before the test set or the extras: add them only
        stale, jobs = (), []
        if not test_done:
            logger.info("Adding %s to the corpus in %s", TEST_SET_FOLDER, output)
            stale += (TEST_SET_FOLDER,)
            jobs += test_plan.jobs
        if not extras_done:
            logger.info("Adding the SUPERB extras to the corpus in %s", output)
            stale += EXTRAS_OUTPUTS
            jobs += extras_plan.jobs
    else:
        if manifest is not None:
            logger.info("Options changed: regenerating %s from scratch", output)
        stale = (MANIFEST_FILE,) + CORPUS_FOLDERS + (TEST_SET_FOLDER,) + EXTRAS_OUTPUTS
        jobs = list(plan.jobs) + list(test_plan.jobs) + list(extras_plan.jobs)
    for name in stale:
        path = os.path.join(output, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
    start = time.time()
    jobs.sort(key=lambda job: _JOB_ORDER[job.corpus])
    done = _render(jobs, output, seed, sizes, num_workers, progress, binary)
    corpora = sorted({corpus for corpus, _, _ in done})
    files = {c: sum(n for k, n, _ in done if k == c) for c in corpora}
    # fsum: the total does not depend on the order the jobs finished in
    hours = {
        c: round(math.fsum(s for k, _, s in done if k == c) / 3600, 4) for c in corpora
    }
    if main_done:
        files = {**manifest["files"], **files}
        hours = {**manifest["hours"], **hours}
    else:
        gsc = os.path.join(output, GSC_FOLDER)
        _write_lines(os.path.join(gsc, VALIDATION_LIST), plan.gsc_splits["validation"])
        _write_lines(os.path.join(gsc, TESTING_LIST), plan.gsc_splits["testing"])
        _write_lines(
            os.path.join(output, VOX_FOLDER, TRIALS_FILE),
            [f"{label} {a} {b}" for label, a, b in plan.trials],
        )
    if not extras_done:
        write_extras_lists(output, extras_plan, binary)
    manifest = {
        "options": options,
        "files": files,
        "hours": hours,
        "trials": len(plan.trials),
        "voxceleb1_dev_speakers": len(plan.vox_dev_speakers),
        "voxceleb1_test_speakers": len(plan.vox_test_speakers),
        "official_test": test_plan.summary(),
        "superb_extras": extras_plan.summary(),
    }
    tmp = os.path.join(output, MANIFEST_FILE + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
    os.replace(tmp, os.path.join(output, MANIFEST_FILE))
    return {**manifest, "seconds": round(time.time() - start, 1)}


def _render(jobs, output, seed, sizes, num_workers, progress, binary) -> list:
    """Renders ``jobs`` in a worker pool; ``(corpus, files, seconds)`` per job."""
    workers = num_workers or os.cpu_count() or 1
    tmp_root = tempfile.mkdtemp(prefix="kdsrl-espeak-")
    try:
        init_args = (tmp_root, os.path.abspath(output), seed, sizes.noise_seconds)
        with Pool(workers, initializer=init_worker, initargs=init_args) as pool:
            results = pool.imap_unordered(render_job, jobs)
            return list(
                tqdm(
                    results,
                    total=len(jobs),
                    desc=f"synth ({binary})",
                    disable=not progress,
                )
            )
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description="Generate the embedded synthetic GSC V1 / VoxCeleb1 / "
        "LibriSpeech corpus with espeak-ng."
    )
    parser.add_argument("--output", required=True, help="output folder")
    parser.add_argument("--num_speakers", type=int, default=None,
                        help="GSC speakers (default 120, 10 with --quick)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--quick", action="store_true", help="tiny corpus for tests")
    parser.add_argument("--num_workers", type=int, default=None,
                        help="worker processes (default: all cores)")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        manifest = generate(
            args.output, args.num_speakers, args.seed, args.quick, args.num_workers
        )
    except (FileNotFoundError, ValueError) as error:
        parser.exit(2, f"error: {error}\n")
    state = "already generated" if manifest.get("skipped") else "generated"
    print(  # the CLI's final summary
        f"Corpus {state} in {args.output}: files {manifest['files']}, "
        f"hours {manifest['hours']}, {manifest['trials']} trials, "
        f"{manifest['seconds']} s"
    )


if __name__ == "__main__":
    main()

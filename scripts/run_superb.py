#!/usr/bin/env python3
"""The SUPERB-style table of one or more frozen encoders: runs the downstream
recipes (``recipes/*/superb/``) for every encoder and task and writes
``OUT/superb.json``, ``superb.md`` and ``superb.png``.

    python scripts/run_superb.py --encoder [NAME=]DIR_OR_HUB_ID [--encoder ...] \
        --corpus ROOT [--tasks ks,sid,asv,pr,asr,er] [--debug] --output OUT

An encoder is a transformers directory or hub id, ``fbank`` (SUPERB's
filterbank baseline) or ``random:<dir or hub id>`` (that architecture with
random weights). ``ROOT`` holds the corpora in their real layouts:
``speech_commands_v0.01/`` (+ ``speech_commands_test_set_v0.01/``),
``voxceleb1/``, ``LibriSpeech/`` and ``IEMOCAP_full_release/``; only the
tasks' folders must exist. ``--override TASK:--KEY=VALUE`` passes an option to
one task's recipe (``all:`` to every task's).

Finished runs are reused (``OUT/stages.json``); a killed run resumes from its
checkpoint when the same command is rerun. ``superb.json`` is
``{encoder: {"ks_accuracy", "sid_accuracy", "asv_eer", "pr_per", "asr_wer",
"er_accuracy", ... each with "<key>_ci95", layer weights and seconds}}``.

Authors
 * kdsrl team 2026
"""

import argparse
import concurrent.futures
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_embedded  # noqa: E402  (Pipeline: stages recorded and reused)

from kdsrl_lobes.data.gsc import OFFICIAL_TEST_FOLDER  # noqa: E402
from kdsrl_lobes.downstream.table import TASKS, row_of, write_table  # noqa: E402

#: task -> (recipe folder under recipes/, YAML, {option: corpus sub-folder})
TASK_RECIPES: dict[str, tuple[tuple[str, str], str, dict[str, str]]] = {
    "ks": (("GSC", "superb"), "ks.yaml", {"gsc_folder": "speech_commands_v0.01"}),
    "sid": (("VoxCeleb1", "superb"), "sid.yaml", {"voxceleb_folder": "voxceleb1"}),
    "asv": (("VoxCeleb1", "superb"), "asv.yaml", {"voxceleb_folder": "voxceleb1"}),
    "pr": (("LibriSpeech", "superb"), "pr.yaml", {"data_folder": "LibriSpeech"}),
    "asr": (("LibriSpeech", "superb"), "asr.yaml", {"data_folder": "LibriSpeech"}),
    "er": (("IEMOCAP", "superb"), "er.yaml", {"data_folder": "IEMOCAP_full_release"}),
}


def parse_encoder(spec: str) -> tuple[str, str]:
    """``[NAME=]SOURCE`` -> (name, source); the default name is ``fbank``,
    ``random:<last folder>``, the hub id, or the last two folders of a path.

    Example
    -------
    >>> import tempfile
    >>> teacher = os.path.join(tempfile.mkdtemp(), "pretrain_hubert", "teacher")
    >>> os.makedirs(teacher)
    >>> parse_encoder(teacher)[0]
    'pretrain_hubert/teacher'
    >>> parse_encoder("random:" + teacher)[0]
    'random:pretrain_hubert/teacher'
    >>> parse_encoder("student=embedded/distill_hubert/student")
    ('student', 'embedded/distill_hubert/student')
    >>> parse_encoder("org/model")
    ('org/model', 'org/model')
    """
    name, sep, source = spec.partition("=")
    if sep:
        if not name or not source:
            raise ValueError(f"Expected [NAME=]SOURCE, found {spec!r}")
        return name, source
    source = spec
    prefix, path = (
        ("random:", source[7:]) if source.startswith("random:") else ("", source)
    )
    if os.path.exists(path):
        parts = os.path.normpath(os.path.abspath(path)).split(os.sep)
        return prefix + "/".join(parts[-2:]), source
    return source, source


def absolute_source(source: str) -> str:
    """A source that is a local path (also after ``random:``) made absolute:
    the recipes run in their own folders.

    Example
    -------
    >>> absolute_source("fbank"), absolute_source("org/model")
    ('fbank', 'org/model')
    """
    prefix, path = (
        ("random:", source[7:]) if source.startswith("random:") else ("", source)
    )
    return prefix + os.path.abspath(path) if os.path.exists(path) else source


def slug(name: str) -> str:
    """A folder name for an encoder name.

    Example
    -------
    >>> slug("random:pretrain_hubert/teacher")
    'random_pretrain_hubert_teacher'
    """
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")


def parse_tasks(text: str) -> list[str]:
    """``ks,sid`` -> ``["ks", "sid"]``, refusing unknown tasks.

    Example
    -------
    >>> parse_tasks("ks,xx")
    Traceback (most recent call last):
    ...
    ValueError: Unknown task(s) ['xx']: expected some of ks, sid, asv, pr, asr, er
    """
    tasks = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in TASK_RECIPES]
    if unknown or not tasks:
        raise ValueError(
            f"Unknown task(s) {unknown}: expected some of {', '.join(TASKS)}"
        )
    return tasks


def task_overrides(specs: list[str], task: str) -> list[str]:
    """The ``TASK:--KEY=VALUE`` overrides of ``task`` (and ``all:``).

    Example
    -------
    >>> task_overrides(["ks:--lr=0.1", "all:--seed=2", "pr:--lr=1"], "ks")
    ['--lr=0.1', '--seed=2']
    """
    out = []
    for spec in specs:
        target, sep, override = spec.partition(":")
        if not sep or not override.startswith("--"):
            raise ValueError(f"Expected TASK:--KEY=VALUE, found {spec!r}")
        if target in (task, "all"):
            out.append(override)
    return out


def task_command(python, task, source, corpus, output, debug, overrides):
    """The recipe command line of one (encoder, task) run; the corpus
    folder it needs is checked first, and named when it is missing."""
    folder, yaml, data = TASK_RECIPES[task]
    recipe = os.path.join(run_embedded.RECIPES, *folder)
    command = [
        python, os.path.join(recipe, "train.py"), os.path.join(recipe, "hparams", yaml),
        f"--encoder_source={source}", f"--output_folder={output}",
    ]  # fmt: skip
    for option, sub in data.items():
        path = os.path.join(corpus, sub)
        if not os.path.isdir(path):
            raise FileNotFoundError(
                f"Task {task} needs {path} (the corpus root {corpus} has no {sub}/)"
            )
        command.append(f"--{option}={path}")
    official = os.path.join(corpus, OFFICIAL_TEST_FOLDER)
    if task == "ks" and os.path.isdir(official):
        command.append(f"--test_folder={official}")
    if debug:
        command.append("--debug")
    return run_embedded.with_overrides(command, overrides), recipe


def main(argv=None):
    """Runs every (encoder, task) and writes the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", action="append", required=True)
    parser.add_argument("--corpus", required=True, help="root of the corpora")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--output", required=True)
    parser.add_argument("--debug", action="store_true", help="a few batches")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once")
    parser.add_argument(
        "--override", action="append", default=[], metavar="TASK:--KEY=VALUE"
    )
    args = parser.parse_args(argv)
    tasks = parse_tasks(args.tasks)
    encoders = {
        name: absolute_source(source)
        for name, source in (parse_encoder(spec) for spec in args.encoder)
    }
    corpus, output = os.path.abspath(args.corpus), os.path.abspath(args.output)
    pipe = run_embedded.Pipeline(output)
    runs = []
    for name, source in encoders.items():
        for task in tasks:
            run_dir = os.path.join(output, slug(name), task)
            command, cwd = task_command(
                pipe.python, task, source, corpus, run_dir, args.debug,
                task_overrides(args.override, task),
            )  # fmt: skip
            runs.append((name, task, command, cwd, run_dir))
    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        futures = [
            pool.submit(
                pipe.stage,
                f"{slug(name)}/{task}",
                command,
                os.path.join(run_dir, "metrics.json"),
                cwd,
            )  # fmt: skip
            for name, task, command, cwd, run_dir in runs
        ]
        for future in concurrent.futures.as_completed(futures):
            if future.exception() is not None:  # stop at the first failure
                pool.shutdown(cancel_futures=True)
                raise future.exception()
    results: dict[str, dict] = {name: {} for name in encoders}
    for name, task, _, _, run_dir in runs:
        with open(os.path.join(run_dir, "metrics.json"), encoding="utf-8") as f:
            results[name][task] = json.load(f)
    rows = {name: row_of(by_task) for name, by_task in results.items()}
    for name, source in encoders.items():
        rows[name]["source"] = source
    paths = write_table(rows, output, tasks)
    with open(paths["md"], encoding="utf-8") as f:
        print(f.read())
    print(f"Wrote {', '.join(paths.values())}")
    return rows


if __name__ == "__main__":
    main()

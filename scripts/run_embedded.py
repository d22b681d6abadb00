#!/usr/bin/env python3
"""The whole embedded pipeline in one command, each stage skipped when done:

    corpus -> self-supervised teacher -> layer-wise distillation
           -> multi-task fine-tuning (KWS + SV) -> evaluation

Every stage is one of the project's recipes, run as a user would run it; this
script only chains them and passes each stage's output to the next.

    python scripts/run_embedded.py                       # HuBERT-style teacher
    python scripts/run_embedded.py --arch wav2vec2 --workdir embedded

A stage is done when its output exists and its options are those recorded in
``<workdir>/stages.json``; a killed stage resumes from its recipe checkpoints.

Authors
 * kdsrl team 2026
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time

from kdsrl_lobes.data.gsc import OFFICIAL_TEST_FOLDER
from kdsrl_lobes.data.prepare_iemocap import IEMOCAP_FOLDER
from kdsrl_lobes.data.synth.layout import GSC_FOLDER

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = os.path.join(ROOT, "recipes")

# Fine-tuning sized for 2 CPU cores: an epoch is a fixed number of rounds (one
# KWS and one SV batch each) rather than a pass over all of GSC.
FINETUNE_OVERRIDES = [
    "--number_of_epochs=4",
    "--epoch_rounds=150",
    "--kws_batch_size=16",
    "--sv_batch_size=8",
    "--lr=0.0005",
    "--num_workers=1",
]


# The main job fine-tunes for 3 of these epochs, to keep within its 20-minute
# budget: the convergence sweep (docs/RESULTS.md) puts every metric at 2 and 4
# epochs inside each other's noise. The other scripts keep 4.
MAIN_FINETUNE_OVERRIDES = ["--number_of_epochs=3"]

# the teachers of recipes/LibriSpeech/pretrain/hparams/<arch>.yaml
ARCHES = ("hubert", "wav2vec2", "wavlm", "robust_hubert")


def with_overrides(command: list, overrides: list) -> list:
    """``command`` with ``--key=value`` overrides appended; an override of a key
    the command already sets, or that an earlier override sets, replaces it
    (SpeechBrain reads the overrides as YAML, where a repeated key is an
    error).

    Example
    -------
    >>> with_overrides(["train.py", "--lr=1", "--seed=3"], ["--lr=2"])
    ['train.py', '--seed=3', '--lr=2']
    >>> with_overrides(["train.py"], ["--epochs=4", "--seed=1", "--epochs=2"])
    ['train.py', '--seed=1', '--epochs=2']
    """
    last = {o.split("=", 1)[0]: i for i, o in enumerate(overrides)}
    overrides = [o for i, o in enumerate(overrides) if last[o.split("=", 1)[0]] == i]
    keys = set(last)
    return [c for c in command if c.split("=", 1)[0] not in keys] + overrides


def recipe(*parts):
    """Path of a recipe file."""
    return os.path.join(RECIPES, *parts)


class Pipeline:
    """Runs stages in order, recording each finished stage and its options."""

    def __init__(self, workdir, python=sys.executable):
        self.workdir = os.path.abspath(workdir)
        self.python = python
        os.makedirs(self.workdir, exist_ok=True)
        self.record_path = os.path.join(self.workdir, "stages.json")
        self.record = {}
        self._lock = threading.Lock()
        if os.path.isfile(self.record_path):
            with open(self.record_path, encoding="utf-8") as f:
                self.record = json.load(f)

    def path(self, *parts):
        """A path under the work folder."""
        return os.path.join(self.workdir, *parts)

    def stage(self, name, command, output, cwd=ROOT, env=None):
        """Runs ``command`` unless ``output`` exists with the same command
        (``env``: extra environment variables). Stages of one pipeline may run
        in threads at once: the record is written under a lock, merged with
        what other pipelines on the same folder recorded meanwhile."""
        done = self.record.get(name)
        if done and done["command"] == command and os.path.exists(output):
            print(f"[{name}] done already ({done['seconds']:.0f} s): {output}")
            return
        if done and done["command"] != command:
            self._set_aside(name, command)
        print(f"[{name}] {' '.join(command)}", flush=True)
        start = time.time()
        environment = {**os.environ, **env} if env else None
        subprocess.run(command, cwd=cwd, check=True, env=environment)
        seconds = time.time() - start
        with self._lock:
            # another pipeline (another script on the same workdir) may have
            # recorded stages since this one started: keep them
            if os.path.isfile(self.record_path):
                with open(self.record_path, encoding="utf-8") as f:
                    self.record = json.load(f)
            self.record[name] = {"command": command, "seconds": seconds}
            tmp = self.record_path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(self.record, f, indent=2)
            os.replace(tmp, self.record_path)
        print(f"[{name}] finished in {seconds:.0f} s", flush=True)

    @staticmethod
    def _set_aside(name, command):
        """A recipe stage whose options changed must not resume from the
        checkpoints of the old ones (a run of 4 epochs would pass for one of
        3): its ``--output_folder`` is renamed ``<folder>.superseded-<n>``,
        kept, not deleted."""
        folders = [
            c.split("=", 1)[1] for c in command if c.startswith("--output_folder=")
        ]
        if not folders or not os.path.isdir(folders[0]):
            return
        n = 1
        while os.path.exists(f"{folders[0]}.superseded-{n}"):
            n += 1
        os.rename(folders[0], f"{folders[0]}.superseded-{n}")
        print(
            f"[{name}] options changed: the old run is kept in "
            f"{folders[0]}.superseded-{n}",
            flush=True,
        )


def corpus_stage(pipe, quick=False):
    """Stages the embedded corpus; returns its folder."""
    corpus = pipe.path("corpus")
    synth = [pipe.python, "-m", "kdsrl_lobes.data.synth", "--output", corpus]
    synth += ["--seed", "1234"] + (["--quick"] if quick else [])
    # the SUPERB extras (IEMOCAP last) are the generator's latest addition: a
    # corpus made before them lacks the folder, and the generator then adds
    # only those
    pipe.stage("corpus", synth, os.path.join(corpus, IEMOCAP_FOLDER))
    return corpus


def teacher_stage(pipe, arch, corpus, overrides=()):
    """Stages the self-supervised pre-training of the ``arch`` teacher
    (``recipes/LibriSpeech/pretrain/hparams/<arch>.yaml``); returns its folder."""
    pretrain_out = pipe.path(f"pretrain_{arch}")
    pretrain = [
        pipe.python,
        recipe("LibriSpeech", "pretrain", "train.py"),
        recipe("LibriSpeech", "pretrain", "hparams", f"{arch}.yaml"),
        f"--data_folder={os.path.join(corpus, 'LibriSpeech')}",
        f"--output_folder={pretrain_out}",
    ]
    teacher = os.path.join(pretrain_out, "teacher")
    pipe.stage(
        f"teacher_{arch}",
        with_overrides(pretrain, list(overrides)),
        teacher,
        cwd=recipe("LibriSpeech", "pretrain"),
    )
    return teacher


def distill_stage(
    pipe, name, teachers, corpus, overrides=(), aggregation=None, env=None
):
    """Stages the distillation of one teacher (``teachers``: a folder) or an
    ensemble (a list of folders, with ``aggregation``) into ``distill_<name>``;
    returns the student's folder."""
    distill_out = pipe.path(f"distill_{name}")
    if isinstance(teachers, str):
        yaml, teacher_flags = "distill_embedded.yaml", [f"--teacher_source={teachers}"]
    else:
        yaml = "distill_ensemble_embedded.yaml"
        teacher_flags = [
            f"--teacher_sources=[{','.join(teachers)}]",
            f"--aggregation={aggregation}",
        ]
    distill = [
        pipe.python,
        recipe("LibriSpeech", "distill", "train.py"),
        recipe("LibriSpeech", "distill", "hparams", yaml),
        f"--data_folder={os.path.join(corpus, 'LibriSpeech')}",
        *teacher_flags,
        f"--output_folder={distill_out}",
    ]
    student = os.path.join(distill_out, "student")
    pipe.stage(
        f"distill_{name}",
        with_overrides(distill, list(overrides)),
        student,
        cwd=recipe("LibriSpeech", "distill"),
        env=env,
    )
    return student


def prepare_encoders(args):
    """Stages corpus, teacher pre-training and distillation for ``args.arch``;
    returns ``{"teacher_<arch>": dir, "distilled_<arch>": dir}``."""
    pipe = Pipeline(args.workdir)
    corpus = corpus_stage(pipe, args.quick)
    teacher = teacher_stage(pipe, args.arch, corpus, args.extra_pretrain)
    student = distill_stage(pipe, args.arch, teacher, corpus, args.extra_distill)
    return {f"teacher_{args.arch}": teacher, f"distilled_{args.arch}": student}


def finetune_command(python, yaml, encoder, corpus, output_folder, frozen=False):
    """The fine-tuning recipe's command line for one row (``yaml``: multitask,
    kws or sv) with the CPU-sized overrides."""
    command = [
        python,
        recipe("GSC_VoxCeleb1", "multitask", "train.py"),
        recipe("GSC_VoxCeleb1", "multitask", "hparams", f"{yaml}.yaml"),
        f"--encoder_source={encoder}",
        f"--output_folder={output_folder}",
        f"--freeze_encoder={frozen}",
    ]
    if yaml != "sv":
        command.append(f"--gsc_folder={os.path.join(corpus, GSC_FOLDER)}")
    # GSC V1's official balanced test set: the KWS test split, and the clips
    # of the keyword SV trials (sv_keyword_eer) of every row that trains SV
    command.append(f"--test_folder={os.path.join(corpus, OFFICIAL_TEST_FOLDER)}")
    if yaml != "kws":
        command.append(f"--voxceleb_folder={os.path.join(corpus, 'voxceleb1')}")
    other = {"kws": "--sv_", "sv": "--kws_"}.get(yaml)
    return command + [
        o for o in FINETUNE_OVERRIDES if not (other and o.startswith(other))
    ]


def run(args):
    """Runs the embedded pipeline; returns the final metrics."""
    encoders = prepare_encoders(args)
    pipe = Pipeline(args.workdir)
    finetune_out = pipe.path(f"multitask_{args.arch}")
    command = finetune_command(
        pipe.python,
        "multitask",
        encoders[f"distilled_{args.arch}"],
        pipe.path("corpus"),
        finetune_out,
    )
    metrics_file = os.path.join(finetune_out, "metrics.json")
    pipe.stage(
        f"multitask_{args.arch}",
        with_overrides(command, MAIN_FINETUNE_OVERRIDES + args.extra_finetune),
        metrics_file,
        cwd=recipe("GSC_VoxCeleb1", "multitask"),
    )

    with open(metrics_file, encoding="utf-8") as f:
        metrics = json.load(f)
    print("\n== Embedded pipeline results (95 % bootstrap intervals) ==")
    for key, name in (
        ("kws_accuracy", "KWS accuracy"),
        ("kws_balanced_accuracy", "KWS balanced"),
        ("sv_eer", "SV EER"),
        ("sv_keyword_eer", "keyword EER"),
    ):
        if key in metrics:
            low, high = metrics.get(f"{key}_ci95", (float("nan"),) * 2)
            print(f"{name:<13}: {metrics[key]:.2f} % [{low:.2f}, {high:.2f}]")
    print(f"SV minDCF    : {metrics['sv_min_dcf']:.3f} (p_target 0.01)")
    print(
        f"parameters   : {metrics['num_parameters'] / 1e6:.2f} M "
        f"(encoder {metrics['num_encoder_parameters'] / 1e6:.2f} M)"
    )
    # this pipeline's stages only: the tables runner records its own rows in
    # the same stages.json
    record = Pipeline(args.workdir).record
    steps = ("teacher", "distill", "multitask")
    names = ["corpus", *(f"{step}_{args.arch}" for step in steps)]
    stages = {name: record[name] for name in names if name in record}
    total = sum(stage["seconds"] for stage in stages.values())
    print(
        f"stage time   : {total / 60:.1f} min ("
        + ", ".join(f"{k} {v['seconds']:.0f} s" for k, v in stages.items())
        + ")"
    )
    print("plots        :")
    for png in (
        pipe.path(f"pretrain_{args.arch}", "loss.png"),
        pipe.path(f"distill_{args.arch}", "distill_curves.png"),
        os.path.join(finetune_out, "training_curves.png"),
        os.path.join(finetune_out, "kws_confusion.png"),
        os.path.join(finetune_out, "sv_det.png"),
    ):
        print(f"  {png}")
    return metrics


def pipeline_parser(description: str) -> argparse.ArgumentParser:
    """A parser with the options every embedded-pipeline script shares:
    ``--workdir``, ``--arch`` (the teacher) and ``--quick``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--workdir", default=os.path.join(ROOT, "embedded"))
    parser.add_argument("--arch", choices=ARCHES, default="hubert")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny corpus (a smoke run, not a benchmark)",
    )
    return parser


def main(argv=None):
    """Command line entry point."""
    parser = pipeline_parser(__doc__.splitlines()[0])
    for stage in ("pretrain", "distill", "finetune"):
        parser.add_argument(
            f"--{stage}_override",
            dest=f"extra_{stage}",
            action="append",
            default=[],
            metavar="--KEY=VALUE",
            help=f"an override for the {stage} recipe (repeatable), e.g. "
            f"--{stage}_override=--number_of_epochs=1",
        )
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()

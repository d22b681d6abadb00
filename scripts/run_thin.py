#!/usr/bin/env python3
"""The thin-front-end student on a corpus, against the copy-initialised one.

The main job's teacher is distilled into a 2-layer student whose CNN is thin
(``--student_front_end=thin``, `kdsrl_lobes.models.front_end`), once per place
its front end is matched to the teacher's (``--variants TARGET:INIT``: the
CNN features through a projection, ``cnn``; the feature projection's output,
``projection``; ``none``, the layer-wise loss alone) and each way to
initialise it (``slice``: the teacher's largest filters; ``random``),
optionally with ``--warmup`` epochs of the front-end loss alone. The variant
with the lowest held-out layer-wise loss at the end (the sum of its per-layer
L1 and cosine terms: the same criterion for every variant, front-end terms
left out) is
fine-tuned on KWS + SV with the main job's settings and compared with the main
job's (copy-initialised) student, each metric with its 95 % interval.

    python scripts/run_thin.py --workdir embedded --jobs 2

Stages already run are reused (``stages.json``). Writes
``<workdir>/thin/{thin.md,thin.json,distill_curves.png}``.

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
import run_embedded  # noqa: E402  (the stages of the embedded pipeline)
from run_convergence import (  # noqa: E402
    METRICS,
    cell,
    slim,
    verdict,
    write_report,
)

from kdsrl_lobes.evaluation.plotting import save_figure  # noqa: E402

TARGETS = ("cnn", "projection", "none")
INITS = ("slice", "random")
# the front-end target of the thin student of the main tables (run_tables.py):
# the measurements that chose it are in recipes/LibriSpeech/distill/README.md
DEFAULT_TARGET, DEFAULT_INIT = "projection", "slice"


def thin_overrides(target: str, init: str = "slice", warmup: int = 0) -> list[str]:
    """Distillation overrides of one thin variant.

    Example
    -------
    >>> thin_overrides("cnn", "random", 1)[1:]
    ['--front_end_init=random', '--front_end_target=cnn', '--front_end_warmup_epochs=1']
    """  # noqa: E501
    overrides = ["--student_front_end=thin", f"--front_end_init={init}"]
    if target != "none":
        overrides.append(f"--front_end_target={target}")
    if warmup:
        overrides.append(f"--front_end_warmup_epochs={warmup}")
    return overrides


def parse_variant(spec: str) -> tuple[str, str]:
    """``TARGET:INIT`` -> (target, init).

    Example
    -------
    >>> parse_variant("projection:slice")
    ('projection', 'slice')
    """
    target, _, init = spec.partition(":")
    if target not in TARGETS or init not in INITS:
        raise argparse.ArgumentTypeError(
            f"Expected TARGET:INIT with TARGET in {TARGETS} and INIT in {INITS}, "
            f"found {spec!r}"
        )
    return target, init


def read_curves(train_log: str) -> list[dict]:
    """Per epoch, the held-out (``valid``) values of a distillation's
    ``train_log.txt``.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "log.txt")
    >>> _ = open(path, "w").write("epoch: 1, lr: 1e-3 - train loss: 3.0 - "
    ...     "valid loss: 2.5, valid l1_layer4: 1.0, valid cos_layer4: 5e-01\\n")
    >>> read_curves(path)
    [{'loss': 2.5, 'l1_layer4': 1.0, 'cos_layer4': 0.5}]
    """
    curves = []
    with open(train_log, encoding="utf-8") as f:
        for line in f:
            found = re.findall(r"valid (\S+): ([-+.e0-9]+)", line)
            if found:
                curves.append({key: float(value) for key, value in found})
    return curves


def layer_loss(entry: dict) -> float:
    """The layer-wise part of a logged loss: its per-layer terms summed.

    Example
    -------
    >>> layer_loss({"loss": 9.0, "l1_layer4": 1.0, "cos_layer4": 0.5,
    ...             "l1_front_end": 7.0})
    1.5
    """
    return sum(v for k, v in entry.items() if re.fullmatch(r"(l1|cos)_layer\d+", k))


def plot_curves(curves: dict, path: str) -> str:
    """Held-out layer-wise loss and front-end cosine term per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for i, (name, entries) in enumerate(curves.items()):
        epochs = range(1, len(entries) + 1)
        style = {"marker": "o", "label": name, "color": f"C{i}"}  # same in both
        left.plot(epochs, [layer_loss(e) for e in entries], **style)
        if "cos_front_end" in entries[0]:
            right.plot(epochs, [e["cos_front_end"] for e in entries], **style)
    left.set_title("held-out layer-wise loss (L1 + cosine, layers summed)")
    right.set_title("held-out front-end cosine term")
    return save_figure(fig, (left, right), path, xlabel="distillation epoch")


def format_report(curves: dict, chosen: str, thins: dict, copy: dict) -> str:
    """Markdown: the distillation variants, then the fine-tuned comparison of
    each fine-tuned thin variant (``thins``) with the copy student."""
    lines = [
        "| student | held-out layer-wise loss | front-end cosine term |",
        "|---|---:|---:|",
    ]
    for name, entries in curves.items():
        front = entries[-1].get("cos_front_end")
        shown = "" if front is None else f"{front:.4f}"
        lines.append(f"| {name} | {layer_loss(entries[-1]):.4f} | {shown} |")
    keys = [k for k, _ in METRICS]
    lines += [
        "",
        f"Fine-tuned (multi-task, the main job's settings); lowest layer loss: "
        f"`{chosen}`:",
        "",
        "| student | " + " | ".join(label for _, label in METRICS) + " |",
        "|---|" + "---|" * len(METRICS),
        "| copy | " + " | ".join(cell(copy, k) for k in keys) + " |",
    ]
    for name, thin in thins.items():
        lines.append(f"| {name} | " + " | ".join(cell(thin, k) for k in keys) + " |")
        lines.append(
            f"| {name} - copy | "
            + " | ".join(verdict(thin, copy, k) for k in keys)
            + " |"
        )
    return "\n".join(lines)


def main(argv=None):
    """Runs the missing stages and writes the report."""
    parser = run_embedded.pipeline_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--variants", nargs="+", type=parse_variant, metavar="TARGET:INIT",
        default=[("cnn", "random"), ("projection", "random"), ("projection", "slice")],
        help=f"front-end targets {TARGETS} and initialisations {INITS}",
    )  # fmt: skip
    parser.add_argument(
        "--finetune", nargs="*", type=parse_variant, metavar="TARGET:INIT",
        help="variants to fine-tune (default: the one of lowest layer loss)",
    )  # fmt: skip
    parser.add_argument("--warmup", type=int, default=0, help="front-end-only epochs")
    parser.add_argument("--jobs", type=int, default=1, help="distillations at once")
    for stage in ("pretrain", "distill", "finetune"):
        parser.add_argument(
            f"--{stage}_override", dest=f"extra_{stage}", action="append",
            default=[], metavar="--KEY=VALUE", help=f"an override for {stage}",
        )  # fmt: skip
    args = parser.parse_args(argv)
    encoders = run_embedded.prepare_encoders(args)  # the main job's stages
    teacher = encoders[f"teacher_{args.arch}"]
    pipe = run_embedded.Pipeline(args.workdir)
    corpus = pipe.path("corpus")
    env = None
    if args.jobs > 1:
        env = {"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // args.jobs))}
    suffix = f"_warmup{args.warmup}" if args.warmup else ""

    def name_of(target, init):
        return f"thin_{target}_{init}{suffix}"

    variants = {
        name_of(target, init): thin_overrides(target, init, args.warmup)
        for target, init in args.variants
    }

    def distill(name):
        return run_embedded.distill_stage(
            pipe, f"thin/{args.arch}_{name}", teacher, corpus,
            variants[name] + args.extra_distill, env=env,
        )  # fmt: skip

    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        students = dict(zip(variants, pool.map(distill, variants), strict=True))
    curves = {"copy": read_curves(pipe.path(f"distill_{args.arch}", "train_log.txt"))}
    for name, student in students.items():
        log = os.path.join(os.path.dirname(student), "train_log.txt")
        curves[name] = read_curves(log)
    chosen = min(students, key=lambda name: layer_loss(curves[name][-1]))

    def finetune(stage, student, out):
        command = run_embedded.finetune_command(
            pipe.python, "multitask", student, corpus, out
        )
        pipe.stage(
            stage,
            run_embedded.with_overrides(command, args.extra_finetune),
            os.path.join(out, "metrics.json"),
            cwd=run_embedded.recipe("GSC_VoxCeleb1", "multitask"),
        )
        with open(os.path.join(out, "metrics.json"), encoding="utf-8") as f:
            return json.load(f)

    # the main job's fine-tuning (the same stage and command: reused when run)
    copy = finetune(
        f"multitask_{args.arch}",
        encoders[f"distilled_{args.arch}"],
        pipe.path(f"multitask_{args.arch}"),
    )
    tuned = [name_of(*v) for v in args.finetune] if args.finetune else [chosen]
    unknown = sorted(set(tuned) - set(students))
    if unknown:
        raise ValueError(f"--finetune names variants not in --variants: {unknown}")
    thins = {
        name: finetune(
            f"multitask_{args.arch}_{name}",
            students[name],
            pipe.path(f"multitask_{args.arch}_{name}"),
        )
        for name in tuned
    }
    folder = pipe.path("thin")
    data = {
        "chosen": chosen,
        "students": students,
        "distill_curves": curves,
        "copy": slim(copy),
        "thin": {name: slim(m) for name, m in thins.items()},
    }
    write_report(folder, "thin", format_report(curves, chosen, thins, copy), data)
    plot_curves(curves, os.path.join(folder, "distill_curves.png"))
    print(f"written: {folder}/thin.{{md,json}}, distill_curves.png")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The ensemble paper's comparison on a corpus: single-teacher students against
ensemble (EKD) students, each aggregation, the same budget each, over seeds.

Huang et al. (ICASSP 2023) distil HuBERT, RobustHuBERT and WavLM into one
DistilHuBERT-style student, aggregating the teachers layer by layer by the
average or the concatenation, or predicting each teacher with heads of its own
(``per_teacher``). Here every row is

    teacher(s) -> layer-wise distillation (distill[_ensemble]_embedded.yaml)
               -> multi-task fine-tuning (KWS + SV, the main job's settings)

with the same distillation and fine-tuning options for every row; only the
teachers and the aggregation differ. Each row runs once per ``--seeds`` entry
(the seed of both its distillation and its fine-tuning), and the table gives
the mean and the spread over seeds, so that a difference smaller than the
noise is called that. Stages already run are reused (``run_embedded.py``'s
``stages.json``); the corpus and the HuBERT-style teacher are the main job's.

    python scripts/run_ekd.py --workdir embedded --seeds 1 2

Writes ``<workdir>/ekd/{table.md,table.json,table.png}``.

Authors
 * kdsrl team 2026
"""

import argparse
import concurrent.futures
import json
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_embedded  # noqa: E402  (the stages of the embedded pipeline)

TEACHERS = ("hubert", "robust_hubert", "wavlm")  # the paper's three families
AGGREGATIONS = ("average", "concat", "per_teacher")
NAMES = {
    "hubert": "HuBERT-style",
    "robust_hubert": "RobustHuBERT-style",
    "wavlm": "WavLM-style",
    "wav2vec2": "wav2vec 2.0-style",
    "average": "EKD, layer average",
    "concat": "EKD, layer concatenation",
    "per_teacher": "EKD, per-teacher heads",
}
# (metrics.json key, label, higher is better)
METRICS = (
    ("kws_accuracy", "KWS acc. (%)", True),
    ("sv_eer", "SV EER (%)", False),
)


def row_name(row: str) -> str:
    """Table label of a row: ``single_<teacher>`` or ``ekd_<aggregation>``.

    Example
    -------
    >>> row_name("single_wavlm"), row_name("ekd_average")
    ('student of WavLM-style', 'EKD, layer average')
    """
    kind, key = row.split("_", 1)
    return f"student of {NAMES[key]}" if kind == "single" else NAMES[key]


def summarise(runs: dict) -> dict:
    """Per row and metric: the seeds' values, their mean and sample standard
    deviation (0 with one seed) from ``{row: {seed: metrics}}``.

    Example
    -------
    >>> s = summarise({"ekd_average": {1: {"kws_accuracy": 80.0, "sv_eer": 20.0},
    ...                                2: {"kws_accuracy": 84.0, "sv_eer": 18.0}}})
    >>> s["ekd_average"]["kws_accuracy"]["mean"], s["ekd_average"]["sv_eer"]["std"]
    (82.0, 1.4142135623730951)
    """
    table = {}
    for row, seeds in runs.items():
        table[row] = {}
        for key, _, _ in METRICS:
            values = [seeds[s][key] for s in sorted(seeds)]
            table[row][key] = {
                "values": values,
                "seeds": sorted(seeds),
                "mean": statistics.fmean(values),
                "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            }
    return table


def noise(a: dict, b: dict) -> float:
    """The difference of two rows' means that counts as noise: twice its
    standard error over seeds, ``2 sqrt(sd_a^2 / n_a + sd_b^2 / n_b)``.

    Example
    -------
    >>> noise({"std": 3.0, "values": [1, 2]}, {"std": 4.0, "values": [1, 2]})
    7.0710678118654755
    """
    return 2 * math.sqrt(
        a["std"] ** 2 / len(a["values"]) + b["std"] ** 2 / len(b["values"])
    )


def compare(table: dict, row: str, reference: str) -> dict:
    """``row`` against ``reference`` for each metric: the difference of means
    (positive: ``row`` is better), the noise level and a verdict."""
    out = {}
    for key, _, higher in METRICS:
        a, b = table[row][key], table[reference][key]
        diff = (a["mean"] - b["mean"]) * (1 if higher else -1) + 0.0  # no -0.00
        level = noise(a, b)
        if len(a["values"]) < 2 or len(b["values"]) < 2:
            verdict = "one seed: no spread to judge by"
        elif abs(diff) <= level:
            verdict = "inside the noise"
        else:
            verdict = "better" if diff > 0 else "worse"
        out[key] = {"difference": diff, "noise": level, "verdict": verdict}
    return out


def format_table(table: dict, reference: str) -> str:
    """Markdown: mean ± standard deviation over seeds, the seeds' values, and
    each row against ``reference``.

    Example
    -------
    >>> runs = {r: {1: {"kws_accuracy": 80.0 + i, "sv_eer": 20.0},
    ...             2: {"kws_accuracy": 82.0 + i, "sv_eer": 19.0}}
    ...         for i, r in enumerate(["single_hubert", "ekd_average"])}
    >>> row = format_table(summarise(runs), "single_hubert").splitlines()[3]
    >>> print(*row.split(" | "), sep=chr(10))
    | EKD, layer average
    82.00 ± 1.41 (81.00, 83.00)
    19.50 ± 0.71 (20.00, 19.00)
    +1.00 (noise 2.83): inside the noise
    +0.00 (noise 1.41): inside the noise |
    """
    header = " | ".join(label for _, label, _ in METRICS)
    versus = " | ".join(f"{label} vs {row_name(reference)}" for _, label, _ in METRICS)
    lines = [
        f"| Student | {header} | {versus} |",
        "|---|" + "---:|" * len(METRICS) + "---|" * len(METRICS),
    ]
    for row, metrics in table.items():
        cells = []
        for key, _, _ in METRICS:
            m = metrics[key]
            values = ", ".join(f"{v:.2f}" for v in m["values"])
            cells.append(f"{m['mean']:.2f} ± {m['std']:.2f} ({values})")
        if row == reference:
            cells += ["reference"] * len(METRICS)
        else:
            for c in compare(table, row, reference).values():
                cells.append(
                    f"{c['difference']:+.2f} (noise {c['noise']:.2f}): {c['verdict']}"
                )
        lines.append(f"| {row_name(row)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_table(table: dict, path: str) -> str:
    """Bars of each row's mean with its seeds as dots, KWS and SV side by side.
    Returns ``path``.

    Example
    -------
    >>> import tempfile
    >>> runs = {"ekd_concat": {1: {"kws_accuracy": 80.0, "sv_eer": 20.0}}}
    >>> path = os.path.join(tempfile.mkdtemp(), "t.png")
    >>> plot_table(summarise(runs), path) == path
    True
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(table)
    fig, axes = plt.subplots(1, len(METRICS), figsize=(11, 4.5))
    for ax, (key, label, higher) in zip(axes, METRICS, strict=True):
        means = [table[r][key]["mean"] for r in rows]
        stds = [table[r][key]["std"] for r in rows]
        colors = ["tab:gray" if r.startswith("single") else "tab:blue" for r in rows]
        bars = ax.bar(range(len(rows)), means, yerr=stds, capsize=4, color=colors)
        ax.bar_label(bars, labels=[f"{m:.1f}" for m in means], padding=3)
        for i, r in enumerate(rows):
            values = table[r][key]["values"]
            ax.plot([i] * len(values), values, "k.", zorder=3)
        ax.set_xticks(range(len(rows)), [row_name(r) for r in rows], rotation=25)
        ax.tick_params(axis="x", labelsize=8)
        ax.set_title(f"{label}, {'higher' if higher else 'lower'} is better")
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Single-teacher vs ensemble distillation (mean ± sd over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def run_rows(args) -> dict:
    """Stages every row for every seed; returns ``{row: {seed: metrics}}``.
    With ``args.jobs`` > 1, that many (row, seed) chains run at once, each on
    its share of the CPU threads."""
    pipe = run_embedded.Pipeline(args.workdir)
    corpus = run_embedded.corpus_stage(pipe, args.quick)
    teachers = {
        arch: run_embedded.teacher_stage(pipe, arch, corpus, args.extra_pretrain)
        for arch in args.teachers
    }
    rows = {f"single_{arch}": teachers[arch] for arch in args.singles}
    if len(args.teachers) > 1:
        rows.update({f"ekd_{agg}": agg for agg in args.aggregations})
    env = None
    if args.jobs > 1:
        env = {"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // args.jobs))}

    def chain(row, seed):
        """Distils the row's student with ``seed``, fine-tunes it; returns the
        test metrics."""
        seeded = [f"--seed={seed}"]
        source = rows[row]
        if row.startswith("single"):
            sources, aggregation = source, None
        else:
            sources, aggregation = [teachers[a] for a in args.teachers], source
        student = run_embedded.distill_stage(
            pipe,
            f"ekd/{row}_s{seed}",
            sources,
            corpus,
            seeded + args.extra_distill,
            aggregation=aggregation,
            env=env,
        )
        out = pipe.path("ekd", f"multitask_{row}_s{seed}")
        command = run_embedded.finetune_command(
            pipe.python, "multitask", student, corpus, out
        )
        overrides = run_embedded.FINETUNE_OVERRIDES + seeded + args.extra_finetune
        pipe.stage(
            f"ekd_multitask_{row}_s{seed}",
            run_embedded.with_overrides(command, overrides),
            os.path.join(out, "metrics.json"),
            cwd=run_embedded.recipe("GSC_VoxCeleb1", "multitask"),
            env=env,
        )
        with open(os.path.join(out, "metrics.json"), encoding="utf-8") as f:
            return json.load(f)

    jobs = [(row, seed) for seed in args.seeds for row in rows]
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = dict(zip(jobs, pool.map(lambda job: chain(*job), jobs), strict=True))
    return {row: {seed: results[(row, seed)] for seed in args.seeds} for row in rows}


def write_outputs(runs: dict, folder: str, reference: str) -> dict:
    """Writes ``table.md``, ``table.json`` and ``table.png`` under ``folder``;
    returns the summary."""
    os.makedirs(folder, exist_ok=True)
    table = summarise(runs)
    comparisons = {
        row: compare(table, row, reference) for row in table if row != reference
    }
    with open(os.path.join(folder, "table.md"), "w", encoding="utf-8") as f:
        f.write(format_table(table, reference) + "\n")
    with open(os.path.join(folder, "table.json"), "w", encoding="utf-8") as f:
        json.dump(
            {"reference": reference, "rows": table, "comparisons": comparisons},
            f,
            indent=2,
        )
    plot_table(table, os.path.join(folder, "table.png"))
    return table


def main(argv=None):
    """Runs the missing rows and writes the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workdir", default=os.path.join(run_embedded.ROOT, "embedded")
    )
    parser.add_argument("--quick", action="store_true", help="tiny corpus (smoke run)")
    parser.add_argument(
        "--teachers",
        nargs="+",
        choices=run_embedded.ARCHES,
        default=list(TEACHERS),
        help="the ensemble, in order; the EKD students start from the first",
    )
    parser.add_argument(
        "--singles",
        nargs="+",
        choices=run_embedded.ARCHES,
        default=None,
        help="teachers that get a single-teacher row (default: --teachers)",
    )
    parser.add_argument(
        "--aggregations", nargs="+", choices=AGGREGATIONS, default=list(AGGREGATIONS)
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="(row, seed) chains run at once, each with cores / jobs threads",
    )
    for stage in ("pretrain", "distill", "finetune"):
        parser.add_argument(
            f"--{stage}_override",
            dest=f"extra_{stage}",
            action="append",
            default=[],
            metavar="--KEY=VALUE",
            help=f"an override for every row's {stage} recipe (repeatable)",
        )
    args = parser.parse_args(argv)
    if args.singles is None:
        args.singles = list(args.teachers)
    if not set(args.singles) <= set(args.teachers):
        parser.error("--singles must be among --teachers (their teachers are staged)")
    runs = run_rows(args)
    reference = f"single_{args.teachers[0]}"
    if reference not in runs:
        reference = next(iter(runs))
    folder = os.path.join(os.path.abspath(args.workdir), "ekd")
    write_outputs(runs, folder, reference)
    with open(os.path.join(folder, "table.md"), encoding="utf-8") as f:
        print(f.read())
    print(f"written: {folder}/table.{{md,json,png}}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Multi-task against single-task fine-tuning as training grows: does the
multi-task student's SV EER gap close at convergence?

The paper (table 2 against table 3) finds a student fine-tuned on KWS and SV
together as good on each task as one fine-tuned on that task alone. Here the
main job's DistilledHuBERT student is fine-tuned with ``hparams/multitask.yaml``
and with ``hparams/sv.yaml`` (``--rows``) for each of ``--epochs`` (the main
job's epoch of 150 rounds and its other settings), and each run is tested on
the embedded test sets (95 % bootstrap intervals in every ``metrics.json``).
Each ``--variant NAME=--KEY=VALUE[,--KEY=VALUE]`` is a multi-task run at
``--variant_epochs`` with those options (``--schedule=sum``,
``--sv_loss_weight=2``, ``--sv_lr_scale=2``...), beside the plain multi-task run
of the same length.

    python scripts/run_convergence.py --workdir embedded --jobs 2

Runs already done are reused (``stages.json``). Writes
``<workdir>/convergence/{convergence.md,convergence.json,convergence.png}``.
A difference whose two 95 % intervals overlap is called inside the noise.

Authors
 * kdsrl team 2026
"""

import argparse
import concurrent.futures
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_embedded  # noqa: E402  (the stages of the embedded pipeline)

from kdsrl_lobes.evaluation.plotting import save_figure  # noqa: E402

ROWS = ("multitask", "sv", "kws")
# (metrics.json key, label)
METRICS = (
    ("kws_accuracy", "KWS acc. (%)"),
    ("kws_balanced_accuracy", "KWS balanced acc. (%)"),
    ("sv_eer", "SV EER (%)"),
    ("sv_keyword_eer", "keyword SV EER (%)"),
)


def parse_variant(spec: str) -> tuple[str, list[str]]:
    """``NAME=--KEY=VALUE[,--KEY=VALUE]`` -> (name, overrides).

    Example
    -------
    >>> parse_variant("sum=--schedule=sum,--sv_loss_weight=2")
    ('sum', ['--schedule=sum', '--sv_loss_weight=2'])
    """
    name, sep, overrides = spec.partition("=")
    if not sep or not name or not overrides.startswith("--"):
        raise ValueError(f"Expected NAME=--KEY=VALUE[,--KEY=VALUE], found {spec!r}")
    return name, overrides.split(",")


def cell(metrics: dict, key: str) -> str:
    """``value [low, high]`` of one metric, or blank when the run lacks it.

    Example
    -------
    >>> cell({"sv_eer": 20.0, "sv_eer_ci95": [17.5, 23.0]}, "sv_eer")
    '20.00 [17.50, 23.00]'
    """
    if key not in metrics:
        return ""
    low, high = metrics[f"{key}_ci95"]
    return f"{metrics[key]:.2f} [{low:.2f}, {high:.2f}]"


def verdict(a: dict, b: dict, key: str) -> str:
    """``a`` against ``b`` on ``key``: the difference and whether their 95 %
    intervals overlap (then it is inside the noise).

    Example
    -------
    >>> verdict({"m": 20.0, "m_ci95": [18, 22]}, {"m": 25.0, "m_ci95": [23, 27]}, "m")
    '-5.00 (outside the noise)'
    """
    if key not in a or key not in b:
        return ""
    (a_low, a_high), (b_low, b_high) = a[f"{key}_ci95"], b[f"{key}_ci95"]
    overlap = a_low <= b_high and b_low <= a_high
    noise = "inside the noise" if overlap else "outside the noise"
    return f"{a[key] - b[key]:+.2f} ({noise})"


def slim(metrics: dict) -> dict:
    """The `METRICS` of a run and their intervals, for the JSON reports.

    Example
    -------
    >>> slim({"sv_eer": 20.0, "sv_eer_ci95": [18, 22], "sv_threshold": 0.5})
    {'sv_eer': 20.0, 'sv_eer_ci95': [18, 22]}
    """
    keep = [k for key, _ in METRICS for k in (key, f"{key}_ci95")]
    return {k: metrics[k] for k in keep if k in metrics}


def write_report(folder: str, stem: str, text: str, data: dict) -> None:
    """Writes ``<stem>.md`` (``text``) and ``<stem>.json`` (``data``) under
    ``folder`` and prints the text."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"{stem}.md"), "w", encoding="utf-8") as f:
        f.write(text + "\n")
    with open(os.path.join(folder, f"{stem}.json"), "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
    print(text)


def format_tables(runs: dict, variants: dict, variant_epochs: int) -> str:
    """Markdown: every row at every length, the multi-task minus single-task
    gaps, and the variants against the plain multi-task run."""
    keys = [k for k, _ in METRICS]
    lines = [
        "| row | epochs | " + " | ".join(label for _, label in METRICS) + " |",
        "|---|---:|" + "---:|" * len(METRICS),
    ]
    for row, by_epochs in runs.items():
        for epochs, m in sorted(by_epochs.items()):
            cells = " | ".join(cell(m, k) for k in keys)
            lines.append(f"| {row} | {epochs} | {cells} |")
    for name, m in variants.items():
        cells = " | ".join(cell(m, k) for k in keys)
        lines.append(f"| multitask, {name} | {variant_epochs} | {cells} |")
    lines += ["", "Multi-task minus single task (SV rows: EER, lower is better):", ""]
    lines += ["| epochs | SV EER | keyword SV EER | KWS acc. |", "|---:|---|---|---|"]
    for epochs, m in sorted(runs.get("multitask", {}).items()):
        sv = runs.get("sv", {}).get(epochs, {})
        kws = runs.get("kws", {}).get(epochs, {})
        lines.append(
            f"| {epochs} | {verdict(m, sv, 'sv_eer')} | "
            f"{verdict(m, sv, 'sv_keyword_eer')} | {verdict(m, kws, 'kws_accuracy')} |"
        )
    if variants:
        plain = runs.get("multitask", {}).get(variant_epochs, {})
        lines += ["", f"Variants minus the plain multi-task run ({variant_epochs} "
                  "epochs):", "", "| variant | KWS acc. | SV EER | keyword SV EER |",
                  "|---|---|---|---|"]  # fmt: skip
        for name, m in variants.items():
            cells = [verdict(m, plain, k) for k in ("kws_accuracy", "sv_eer")]
            cells.append(verdict(m, plain, "sv_keyword_eer"))
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(runs: dict, path: str) -> str:
    """Each metric against the number of epochs, one line per row, with the
    95 % intervals as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(METRICS), figsize=(4.2 * len(METRICS), 3.8))
    for ax, (key, label) in zip(axes, METRICS, strict=True):
        for row, by_epochs in runs.items():
            points = [(e, m) for e, m in sorted(by_epochs.items()) if key in m]
            if not points:
                continue
            xs = [e for e, _ in points]
            ys = [m[key] for _, m in points]
            low = [m[key] - m[f"{key}_ci95"][0] for _, m in points]
            high = [m[f"{key}_ci95"][1] - m[key] for _, m in points]
            ax.errorbar(xs, ys, yerr=[low, high], marker="o", capsize=3, label=row)
        ax.set_xscale("log", base=2)
        ax.set_title(label)
    return save_figure(fig, axes, path, "fine-tuning epochs (150 rounds each)")


def main(argv=None):
    """Runs the missing fine-tunings and writes the tables and the plot."""
    parser = run_embedded.pipeline_parser(__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", choices=ROWS, default=["multitask", "sv"])
    parser.add_argument("--epochs", nargs="+", type=int, default=[2, 4, 8, 16])
    parser.add_argument("--variant", action="append", default=[], type=parse_variant,
                        metavar="NAME=--KEY=VALUE[,--KEY=VALUE]")  # fmt: skip
    parser.add_argument("--variant_epochs", type=int, default=8)
    parser.add_argument(
        "--jobs", type=int, default=1, help="runs at once, each on cores / jobs threads"
    )
    parser.add_argument("--extra_pretrain", default=[], help=argparse.SUPPRESS)
    parser.add_argument("--extra_distill", default=[], help=argparse.SUPPRESS)
    parser.add_argument(
        "--finetune_override", dest="extra_finetune", action="append", default=[],
        metavar="--KEY=VALUE", help="an override for every run (repeatable)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    encoder = run_embedded.prepare_encoders(args)[f"distilled_{args.arch}"]
    pipe = run_embedded.Pipeline(args.workdir)
    corpus = pipe.path("corpus")
    env = None
    if args.jobs > 1:
        env = {"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // args.jobs))}

    def finetune(name, yaml, overrides):
        out = pipe.path("convergence", name)
        command = run_embedded.finetune_command(pipe.python, yaml, encoder, corpus, out)
        pipe.stage(
            f"convergence_{name}",
            run_embedded.with_overrides(command, overrides + args.extra_finetune),
            os.path.join(out, "metrics.json"),
            cwd=run_embedded.recipe("GSC_VoxCeleb1", "multitask"),
            env=env,
        )
        with open(os.path.join(out, "metrics.json"), encoding="utf-8") as f:
            return json.load(f)

    jobs = {
        (row, epochs): (f"{row}_{epochs}ep", row, [f"--number_of_epochs={epochs}"])
        for row in args.rows
        for epochs in args.epochs
    }
    for name, overrides in args.variant:
        jobs[("variant", name)] = (
            f"multitask_{args.variant_epochs}ep_{name}",
            "multitask",
            [f"--number_of_epochs={args.variant_epochs}", *overrides],
        )
    # longest first, so that the pool does not end waiting on one long run
    order = sorted(jobs, key=lambda k: -int(jobs[k][2][0].split("=")[1]))
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        done = dict(
            zip(order, pool.map(lambda k: finetune(*jobs[k]), order), strict=True)
        )
    runs = {row: {e: done[(row, e)] for e in args.epochs} for row in args.rows}
    variants = {name: done[("variant", name)] for name, _ in args.variant}
    folder = pipe.path("convergence")
    text = format_tables(runs, variants, args.variant_epochs)
    data = {
        "runs": {r: {e: slim(m) for e, m in b.items()} for r, b in runs.items()},
        "variants": {n: slim(m) for n, m in variants.items()},
        "variant_epochs": args.variant_epochs,
    }
    write_report(folder, "convergence", text, data)
    plot(runs, os.path.join(folder, "convergence.png"))
    print(f"written: {folder}/convergence.{{md,json,png}}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Trains and evaluates every row of the paper's tables 2 and 3 on a corpus and
writes ``table2.md``, ``table3.md``, ``tables.json`` and ``tables.png`` beside the
paper's numbers.

Table 2 (single task): the wav2vec 2.0 teacher, DistilledWav2vec and
DistilledHuBERT, each fine-tuned on KWS alone and on SV alone. Table 3
(multi-task): the same three encoders fine-tuned on both tasks at once, fully
and with the encoder frozen. Rows already computed (their metrics.json exists)
are reused; teachers and students come from `run_embedded.py`'s stages (the
HuBERT ones are the main pipeline's, so run it first or let this run them). Each
row is fine-tuned with the main pipeline's settings for 2 epochs instead of 4.

    python scripts/run_tables.py --workdir embedded

Authors
 * kdsrl team 2026
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_embedded  # noqa: E402  (the stages of the embedded pipeline)
import run_thin  # noqa: E402  (the thin-front-end student's distillation)

# The paper's results (Kerpicci et al. 2022, tables 2 and 3).
PAPER_TABLE2 = {
    ("teacher_wav2vec2", "kws"): 98.10,
    ("teacher_wav2vec2", "sv"): 3.35,
    ("distilled_wav2vec2", "kws"): 98.01,
    ("distilled_wav2vec2", "sv"): 4.48,
    ("distilled_hubert", "kws"): 97.82,
    ("distilled_hubert", "sv"): 4.26,
}
PAPER_TABLE3 = {
    ("teacher_wav2vec2", False): (98.19, 3.15),
    ("teacher_wav2vec2", True): (90.33, 20.5),
    ("distilled_wav2vec2", False): (97.70, 4.59),
    ("distilled_wav2vec2", True): (89.29, 15.01),
    ("distilled_hubert", False): (97.90, 4.27),
    ("distilled_hubert", True): (91.27, 12.67),
}
# Each table row is fine-tuned for half the main pipeline's epochs (2 x 150
# rounds) so that the 11 rows fit a session on 2 CPU cores.
TABLE_OVERRIDES = ["--number_of_epochs=2"]

NAMES = {
    "teacher_wav2vec2": "wav2vec 2.0 (teacher)",
    "distilled_wav2vec2": "DistilledWav2vec",
    "distilled_hubert": "DistilledHuBERT",
}
# beyond the paper: the thin-CNN student (issue 20), table 3 fully fine-tuned
THIN = "distilled_hubert_thin"
NAMES_EXTRA = {THIN: "DistilledHuBERT, thin CNN"}


def _cell(metrics, key, digits=2):
    """``value [low, high]`` (the 95 % interval when the run has one)."""
    value = f"{metrics[key]:.{digits}f}"
    if f"{key}_ci95" not in metrics:
        return value
    low, high = metrics[f"{key}_ci95"]
    return f"{value} [{low:.{digits}f}, {high:.{digits}f}]"


def _paper(value):
    return "" if value is None else f"{value:.2f}"


def _params(metrics):
    return f"{metrics['num_parameters'] / 1e6:.2f} M"


def format_table2(rows: dict) -> str:
    """Markdown of table 2 from ``{(model, task): metrics}``.

    Example
    -------
    >>> m = {"num_parameters": 2.5e6, "kws_accuracy": 91.234, "sv_eer": 7.5,
    ...      "kws_accuracy_ci95": [90.0, 92.5], "sv_keyword_eer": 20.0}
    >>> print(format_table2({("distilled_hubert", "kws"): m}).splitlines()[2])
    | DistilledHuBERT | 2.50 M | KWS | 91.23 [90.00, 92.50] |  |  | 97.82 |  |
    >>> print(format_table2({("distilled_hubert", "sv"): m}).splitlines()[2])
    | DistilledHuBERT | 2.50 M | SV |  | 7.50 | 20.00 |  | 4.26 |
    """
    lines = [
        "| Model | # Parameters | Training task | KWS acc. (%) [95 % CI] "
        "| SV EER (%) [95 % CI] | keyword SV EER (%) [95 % CI] "
        "| paper KWS acc. | paper SV EER |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for (model, task), metrics in rows.items():
        paper = PAPER_TABLE2.get((model, task))
        if task == "kws":
            cells = [_cell(metrics, "kws_accuracy"), "", "", _paper(paper), ""]
        else:
            cells = [
                "",
                _cell(metrics, "sv_eer"),
                _cell(metrics, "sv_keyword_eer"),
                "",
                _paper(paper),
            ]
        row = [NAMES[model], _params(metrics), task.upper(), *cells]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def format_table3(rows: dict) -> str:
    """Markdown of table 3 from ``{(model, frozen): metrics}``.

    Example
    -------
    >>> m = {"num_parameters": 2.5e6, "kws_accuracy": 90.0, "sv_eer": 10.0,
    ...      "sv_min_dcf": 0.5, "sv_eer_ci95": [8.0, 12.5], "sv_keyword_eer": 20.0}
    >>> print(format_table3({("distilled_hubert", True): m}).splitlines()[2])
    | DistilledHuBERT (frozen) | 2.50 M | 90.00 | 10.00 [8.00, 12.50] | 0.500 | 20.00 | 91.27 | 12.67 |
    """  # noqa: E501
    lines = [
        "| Model | # Parameters | KWS acc. (%) [95 % CI] | SV EER (%) [95 % CI] "
        "| SV minDCF | keyword SV EER (%) [95 % CI] | paper KWS acc. | paper SV EER |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (model, frozen), metrics in rows.items():
        paper_kws, paper_eer = PAPER_TABLE3.get((model, frozen), (None, None))
        name = {**NAMES, **NAMES_EXTRA}[model] + (" (frozen)" if frozen else "")
        lines.append(
            f"| {name} | {_params(metrics)} | {_cell(metrics, 'kws_accuracy')} | "
            f"{_cell(metrics, 'sv_eer')} | {metrics['sv_min_dcf']:.3f} | "
            f"{_cell(metrics, 'sv_keyword_eer')} | "
            f"{_paper(paper_kws)} | {_paper(paper_eer)} |"
        )
    return "\n".join(lines)


def plot_tables(table2: dict, table3: dict, path: str) -> str:
    """Bar charts of KWS accuracy and SV EER per encoder: multi-task fully
    fine-tuned, multi-task frozen and single-task, so the paper's three
    comparisons (full vs frozen, multi vs single task, student vs teacher) can
    be seen at a glance. Returns ``path``.

    Example
    -------
    >>> import tempfile
    >>> m = {"kws_accuracy": 90.0, "sv_eer": 10.0}
    >>> path = os.path.join(tempfile.mkdtemp(), "t.png")
    >>> plot_tables({("distilled_hubert", "kws"): m, ("distilled_hubert", "sv"): m},
    ...             {("distilled_hubert", False): m, ("distilled_hubert", True): m},
    ...             path) == path
    True
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = {**NAMES, **NAMES_EXTRA}
    models = [m for m in names if (m, False) in table3 or (m, "kws") in table2]
    variants = {
        "multi-task, full": lambda m, key: table3.get((m, False), {}).get(key),
        "multi-task, frozen": lambda m, key: table3.get((m, True), {}).get(key),
        "single task": lambda m, key: table2.get(
            (m, "kws" if key == "kws_accuracy" else "sv"), {}
        ).get(key),
    }
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / len(variants)
    for ax, key, label in (
        (axes[0], "kws_accuracy", "KWS accuracy (%), higher is better"),
        (axes[1], "sv_eer", "SV EER (%), lower is better"),
    ):
        for i, (variant, get) in enumerate(variants.items()):
            values = [get(m, key) for m in models]
            intervals = [get(m, f"{key}_ci95") for m in models]
            xs = [j + (i - 1) * width for j in range(len(models))]
            heights = [v if v is not None else 0.0 for v in values]
            pairs = list(zip(heights, intervals, strict=True))
            errors = [  # 95 % intervals, where the run has them
                [h - ci[0] if ci else 0.0 for h, ci in pairs],
                [ci[1] - h if ci else 0.0 for h, ci in pairs],
            ]
            bars = ax.bar(xs, heights, width, label=variant, yerr=errors, capsize=2)
            ax.bar_label(
                bars, labels=[f"{v:.1f}" if v is not None else "" for v in values]
            )
        ax.set_xticks(range(len(models)), [names[m] for m in models], fontsize=8)
        ax.set_title(label)
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(variants), fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv=None):
    """Runs the missing rows and writes the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workdir", default=os.path.join(run_embedded.ROOT, "embedded")
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--finetune_override",
        dest="extra_finetune",
        action="append",
        default=[],
        metavar="--KEY=VALUE",
    )
    parser.add_argument(
        "--pretrain_override",
        dest="extra_pretrain",
        action="append",
        default=[],
        metavar="--KEY=VALUE",
    )
    parser.add_argument(
        "--distill_override",
        dest="extra_distill",
        action="append",
        default=[],
        metavar="--KEY=VALUE",
    )
    args = parser.parse_args(argv)
    encoders = {}
    for arch in ("hubert", "wav2vec2"):
        stage_args = argparse.Namespace(**vars(args), arch=arch)
        encoders.update(run_embedded.prepare_encoders(stage_args))
    pipe = run_embedded.Pipeline(args.workdir)
    corpus = pipe.path("corpus")
    encoders[THIN] = run_embedded.distill_stage(
        pipe,
        f"thin/hubert_thin_{run_thin.DEFAULT_TARGET}_{run_thin.DEFAULT_INIT}",
        encoders["teacher_hubert"],
        corpus,
        run_thin.thin_overrides(run_thin.DEFAULT_TARGET, run_thin.DEFAULT_INIT)
        + args.extra_distill,
    )

    def finetune(name, yaml, encoder, frozen):
        out = pipe.path("tables", name)
        command = run_embedded.finetune_command(
            pipe.python, yaml, encoders[encoder], corpus, out, frozen
        )
        pipe.stage(
            f"table_{name}",
            run_embedded.with_overrides(command, TABLE_OVERRIDES + args.extra_finetune),
            os.path.join(out, "metrics.json"),
            cwd=run_embedded.recipe("GSC_VoxCeleb1", "multitask"),
        )
        with open(os.path.join(out, "metrics.json"), encoding="utf-8") as f:
            return json.load(f)

    table2 = {}
    for model in NAMES:
        for task in ("kws", "sv"):
            table2[(model, task)] = finetune(f"t2_{model}_{task}", task, model, False)
    table3 = {}
    for model in NAMES:
        for frozen in (False, True):
            name = f"t3_{model}" + ("_frozen" if frozen else "")
            table3[(model, frozen)] = finetune(name, "multitask", model, frozen)
    table3[(THIN, False)] = finetune(f"t3_{THIN}", "multitask", THIN, False)

    out = pipe.path("tables")
    with open(os.path.join(out, "table2.md"), "w", encoding="utf-8") as f:
        f.write(format_table2(table2) + "\n")
    with open(os.path.join(out, "table3.md"), "w", encoding="utf-8") as f:
        f.write(format_table3(table3) + "\n")
    with open(os.path.join(out, "tables.json"), "w", encoding="utf-8") as f:
        json.dump(
            {
                "table2": {f"{m}/{t}": v for (m, t), v in table2.items()},
                "table3": {
                    f"{m}/{'frozen' if z else 'full'}": v
                    for (m, z), v in table3.items()
                },
            },
            f,
            indent=2,
        )
    plot_tables(table2, table3, os.path.join(out, "tables.png"))
    print(format_table2(table2))
    print()
    print(format_table3(table3))
    print(f"\nWritten to {out}")


if __name__ == "__main__":
    main()

"""Parameter accounting: teacher, student encoder, distillation and task heads.

``python -m kdsrl_lobes.params --arch hubert`` builds the BASE config with random
weights (nothing is downloaded) and prints the table; ``--source DIR`` counts a
saved teacher instead.

Authors
 * kdsrl team 2026
"""

import argparse
import json
from collections.abc import Sequence

import torch
import transformers
from speechbrain.lobes.models.ECAPA_TDNN import Classifier

from kdsrl_lobes.models.configs import ARCHITECTURES, SIZES, random_speech_model
from kdsrl_lobes.models.encoder import load_hf_speech_model
from kdsrl_lobes.models.heads import KWSHead, PredictionHeads, SVHead
from kdsrl_lobes.models.student import build_student
from kdsrl_lobes.models.teacher import DEFAULT_TARGET_LAYERS


def count_parameters(module: torch.nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (optionally only those that require gradients).

    Example
    -------
    >>> count_parameters(torch.nn.Linear(3, 2))
    8
    """
    return sum(
        p.numel() for p in module.parameters() if p.requires_grad or not trainable_only
    )


def parameter_table(
    teacher: transformers.PreTrainedModel,
    num_layers: int = 2,
    target_layers: Sequence[int] = DEFAULT_TARGET_LAYERS,
    n_kws_classes: int = 12,
    n_speakers: int = 1211,
    embedding_size: int = 256,
) -> dict[str, int]:
    """Counts the parameters of a teacher, its student and the heads.

    Returns a dict with ``teacher``, ``student_encoder``, ``prediction_heads``,
    ``kws_head``, ``sv_head`` (embedding layer + AAM classifier),
    ``sv_head_inference`` (embedding layer only) and ``student_multitask``
    (encoder + both inference heads, what is deployed).

    Example
    -------
    >>> from kdsrl_lobes.models.configs import speech_config
    >>> cfg = speech_config("hubert", "tiny", num_hidden_layers=4)
    >>> table = parameter_table(transformers.HubertModel(cfg), target_layers=[2, 4])
    >>> table["student_encoder"] < table["teacher"]
    True
    """
    hidden = teacher.config.hidden_size
    student = build_student(teacher, num_layers=num_layers)
    heads = PredictionHeads(hidden, hidden, target_layers)
    heads.check_teacher(teacher.config.num_hidden_layers, hidden)
    kws = KWSHead(hidden, n_kws_classes)
    sv = SVHead(hidden, embedding_size)
    # the recipe's training classifier (multitask.yaml: speaker_classifier)
    classifier = Classifier(embedding_size, lin_blocks=0, out_neurons=n_speakers)
    table = {
        "teacher": count_parameters(teacher),
        "student_encoder": count_parameters(student),
        "prediction_heads": count_parameters(heads),
        "kws_head": count_parameters(kws),
        "sv_head": count_parameters(sv) + count_parameters(classifier),
        "sv_head_inference": count_parameters(sv),
    }
    table["student_multitask"] = (
        table["student_encoder"] + table["kws_head"] + table["sv_head_inference"]
    )
    return table


def format_table(table: dict[str, int], title: str) -> str:
    """Markdown table of a `parameter_table`, with ratios to the teacher."""
    teacher = table["teacher"]
    lines = [
        f"| {title} | parameters | / teacher |",
        "|---|---:|---:|",
    ]
    for name, count in table.items():
        lines.append(f"| {name} | {count / 1e6:.2f} M | {count / teacher:.3f} |")
    return "\n".join(lines)


def main(argv=None) -> dict[str, int]:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=sorted(ARCHITECTURES), default="hubert")
    parser.add_argument(
        "--size", choices=sorted(SIZES), default="base", help="named config to build"
    )
    parser.add_argument(
        "--source", default=None, help="count a saved teacher (directory or hub id)"
    )
    parser.add_argument("--num_layers", type=int, default=2)
    parser.add_argument(
        "--target_layers", type=int, nargs="+", default=list(DEFAULT_TARGET_LAYERS)
    )
    parser.add_argument("--n_kws_classes", type=int, default=12)
    parser.add_argument("--n_speakers", type=int, default=1211)
    parser.add_argument("--embedding_size", type=int, default=256)
    parser.add_argument("--json", action="store_true", help="print JSON instead")
    args = parser.parse_args(argv)
    if args.source:
        teacher = load_hf_speech_model(args.source)
        title = args.source
    else:
        teacher = random_speech_model(args.arch, args.size)  # random weights
        title = f"{args.arch} {args.size}"
    table = parameter_table(
        teacher,
        num_layers=args.num_layers,
        target_layers=args.target_layers,
        n_kws_classes=args.n_kws_classes,
        n_speakers=args.n_speakers,
        embedding_size=args.embedding_size,
    )
    if args.json:
        print(json.dumps(table, indent=2))
    else:
        print(format_table(table, title))
    return table


if __name__ == "__main__":
    main()

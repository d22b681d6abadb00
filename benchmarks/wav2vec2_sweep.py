"""Does a wav2vec 2.0 pre-training configuration leave chance, and how fast? A
short run of `Wav2Vec2Pretrainer` that logs, every ``--log_every`` steps, the
masked contrastive loss and what the quantiser makes of held-out audio.

Usage::

    python benchmarks/wav2vec2_sweep.py --data_folder <LibriSpeech folder> \
        [--steps 800] [--mask_length 1 --mask_prob 0.5 --conv_bias] \
        [--num_negatives 100 --cross_sample_negatives 0] [--batch_size 4 \
        --crop_seconds 2.0] [--output <folder>]

Each log line is JSON: the step, seconds so far, the means over the last
``--log_every`` steps of the loss, the masked contrastive loss (chance is about
ln(1 + distractors)), the diversity loss and the codebook perplexity, then
`Wav2Vec2Pretrainer.code_statistics` of held-out clips (``--split``,
``--utterances``, ``--seconds``: 8 dev-clean clips of 2 s). With
``--output`` the pre-trained encoder is saved as a transformers folder for
``benchmarks/linear_probe.py``.

This is a plain loop over the recipe's lobe, not the recipe: it tracks the code
statistics during training (the recipe does not) and runs a configuration in a
few minutes on one thread, so that two compare side by side on 2 cores. The
embedded defaults in ``recipes/LibriSpeech/pretrain/hparams/wav2vec2.yaml``
were chosen with it; ``recipes/LibriSpeech/pretrain/README.md`` has the sweep.
"""

import argparse
import json
import os
import random
import sys
import tempfile
import time

import torch
from speechbrain.nnet.schedulers import LinearWarmupScheduler
from speechbrain.utils.data_utils import batch_pad_right

from kdsrl_lobes.configs import speech_config
from kdsrl_lobes.data import load_audio, prepare_librispeech, read_csv_rows
from kdsrl_lobes.pretrain import Wav2Vec2Pretrainer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wav2vec2_codes import load_clips  # noqa: E402  (the held-out clips)


def training_audio(data_folder: str, split: str) -> list[torch.Tensor]:
    """Every utterance of ``split``, whole."""
    with tempfile.TemporaryDirectory() as tmp:  # not a run's own CSVs
        rows = read_csv_rows(prepare_librispeech(data_folder, tmp, [split])[split])
    return [load_audio(r["wav"], int(r["start"]), int(r["stop"])) for r in rows]


def random_batch(audio, batch_size, crop) -> tuple[torch.Tensor, torch.Tensor]:
    """Random crops of ``crop`` samples of ``batch_size`` random utterances,
    zero-padded: ``[batch, time]`` and SpeechBrain relative lengths."""
    clips = []
    for wav in random.sample(audio, batch_size):
        start = random.randint(0, max(len(wav) - crop, 0))
        clips.append(wav[start : start + crop])
    return batch_pad_right(clips)


def build_model(args) -> Wav2Vec2Pretrainer:
    """A teacher of ``--teacher_size`` with the sweep's objective settings."""
    config = speech_config(
        "wav2vec2",
        args.teacher_size,
        conv_bias=args.conv_bias,
        num_negatives=args.num_negatives,
        codevector_dim=128,
        proj_codevector_dim=128,
        num_codevector_groups=args.num_codevector_groups,
        num_codevectors_per_group=args.num_codevectors_per_group,
        diversity_loss_weight=args.diversity_loss_weight,
    )
    return Wav2Vec2Pretrainer(
        config,
        mask_prob=args.mask_prob,
        mask_length=args.mask_length,
        gumbel_decay=args.gumbel_decay,
        unmasked_weight=args.unmasked_weight,
        cross_sample_negatives=args.cross_sample_negatives,
    )


def main(argv: list[str] | None = None) -> list[dict]:
    """Runs the sweep point; prints (and returns) its log lines."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_folder", required=True, help="LibriSpeech folder")
    parser.add_argument("--train_split", default="train-clean-100")
    parser.add_argument("--split", default="dev-clean", help="held-out clips")
    parser.add_argument("--utterances", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--teacher_size", default="embedded")
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--log_every", type=int, default=50)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--warmup_steps", type=int, default=40)
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--crop_seconds", type=float, default=2.0)
    parser.add_argument("--conv_bias", action="store_true")
    parser.add_argument("--mask_prob", type=float, default=0.5)
    parser.add_argument("--mask_length", type=int, default=1)
    parser.add_argument("--num_negatives", type=int, default=100)
    parser.add_argument("--cross_sample_negatives", type=int, default=0)
    parser.add_argument("--num_codevector_groups", type=int, default=2)
    parser.add_argument("--num_codevectors_per_group", type=int, default=64)
    parser.add_argument("--diversity_loss_weight", type=float, default=0.1)
    parser.add_argument("--gumbel_decay", type=float, default=0.995)
    parser.add_argument("--unmasked_weight", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1986)
    parser.add_argument("--output", help="folder for the pre-trained encoder")
    args = parser.parse_args(argv)
    if args.steps <= args.warmup_steps:
        parser.error("--steps must be more than --warmup_steps")

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    audio = training_audio(args.data_folder, args.train_split)
    held_out = load_clips(args.data_folder, args.split, args.utterances, args.seconds)
    model = build_model(args)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=args.lr, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.01
    )
    # The recipe's schedule: linear warm-up, then linear decay to 0 at the end.
    schedule = LinearWarmupScheduler(args.lr, args.warmup_steps, args.steps)
    crop = int(args.crop_seconds * 16000)
    keys = ("loss", "contrastive_loss", "diversity_loss", "perplexity")
    totals = dict.fromkeys(keys, 0.0)
    lines, start = [], time.time()

    def log(step):
        model.eval()
        codes = model.code_statistics(held_out)
        model.train()
        line = dict(step=step, seconds=round(time.time() - start))
        line.update({k: round(v / args.log_every, 3) for k, v in totals.items()})
        line.update(codes)
        lines.append(line)
        print(json.dumps(line), flush=True)

    model.train()
    for step in range(1, args.steps + 1):
        schedule(optimizer)
        out = model(*random_batch(audio, args.batch_size, crop))
        optimizer.zero_grad()
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
        for key in keys:
            totals[key] += float(out[key].detach())
        if step % args.log_every == 0:
            log(step)
            totals = dict.fromkeys(keys, 0.0)
    if args.output:
        model.save_teacher(args.output)
    return lines


if __name__ == "__main__":
    main()

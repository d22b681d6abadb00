"""Does a wav2vec 2.0 pre-training configuration leave chance, and how fast? A
short run of `Wav2Vec2Pretrainer` that logs, every ``--log_every`` steps, the
masked contrastive loss and what the quantiser makes of held-out audio.

Usage::

    python benchmarks/wav2vec2_sweep.py --data_folder <LibriSpeech folder> \
        [--steps 800] [--output <folder>] [--KEY=VALUE ...]

The model, optimiser, LR, batch size and crop length are the recipe's own:
``recipes/LibriSpeech/pretrain/hparams/wav2vec2.yaml`` (or ``--hparams``), with
any ``--KEY=VALUE`` applied as an override, as on the recipe's command line
(``--mask_length=3 --num_negatives=5 --cross_sample_negatives=40``). The LR
schedule spans ``--steps``.

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
embedded defaults in ``wav2vec2.yaml`` were chosen with it;
``recipes/LibriSpeech/pretrain/README.md`` has the sweep.
"""

import argparse
import json
import os
import random
import sys
import tempfile
import time

import torch
import yaml
from hyperpyyaml import load_hyperpyyaml
from speechbrain.utils.data_utils import batch_pad_right

from kdsrl_lobes.data import load_audio, prepare_librispeech, read_csv_rows

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wav2vec2_codes import load_clips  # noqa: E402  (the held-out clips)

DEFAULT_HPARAMS = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    *("..", "recipes", "LibriSpeech", "pretrain", "hparams", "wav2vec2.yaml"),
)


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


def recipe_hparams(hparams_file: str, overrides: dict, folder: str) -> dict:
    """The recipe's hparams with ``overrides``; its output goes to ``folder``."""
    overrides = {**overrides, "output_folder": folder}
    with open(hparams_file, encoding="utf-8") as fin:
        return load_hyperpyyaml(fin, overrides)


def parse_overrides(args: list[str]) -> dict:
    """``--KEY=VALUE`` arguments as hyperpyyaml overrides (values read as YAML)."""
    overrides = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not key.startswith("--") or not sep:
            raise ValueError(f"Expected --KEY=VALUE, found '{arg}'")
        overrides[key[2:]] = yaml.safe_load(value)
    return overrides


def main(argv: list[str] | None = None) -> list[dict]:
    """Runs the sweep point; prints (and returns) its log lines."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_folder", required=True, help="LibriSpeech folder")
    parser.add_argument("--train_split", default="train-clean-100")
    parser.add_argument("--split", default="dev-clean", help="held-out clips")
    parser.add_argument("--utterances", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--log_every", type=int, default=50)
    parser.add_argument("--hparams", default=DEFAULT_HPARAMS)
    parser.add_argument("--output", help="folder for the pre-trained encoder")
    args, rest = parser.parse_known_args(argv)
    overrides = parse_overrides(rest)
    overrides["data_folder"] = args.data_folder
    with tempfile.TemporaryDirectory() as folder:  # the recipe's unused outputs
        hparams = recipe_hparams(args.hparams, overrides, folder)  # seeds too
    if args.steps <= hparams["warmup_steps"]:
        parser.error(
            f"--steps must be more than warmup_steps={hparams['warmup_steps']}"
        )

    audio = training_audio(args.data_folder, args.train_split)
    held_out = load_clips(args.data_folder, args.split, args.utterances, args.seconds)
    model = hparams["model"]
    optimizer = hparams["opt_class"](model.parameters())
    # The recipe's schedule (linear warm-up, linear decay to 0), over --steps.
    schedule = hparams["lr_scheduler"]
    schedule.num_training_steps = args.steps
    crop = int(hparams["crop_seconds"] * 16000)
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
        out = model(*random_batch(audio, hparams["batch_size"], crop))
        optimizer.zero_grad()
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), hparams["max_grad_norm"])
        optimizer.step()
        model.on_optimizer_step()
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

"""Are a pre-training run's targets learnable? How smooth a model's CNN features
are over time, and how a wav2vec 2.0 run's quantiser codes them.

Usage::

    python benchmarks/wav2vec2_codes.py --run <wav2vec2 pretrain output_folder>
    python benchmarks/wav2vec2_codes.py --model <transformers folder> [--random_init]
        --data_folder <LibriSpeech folder>
    [--split dev-clean] [--utterances 8] [--seconds 2.0]

``--run`` loads the run's ``hyperparams.yaml`` and latest checkpoint (the saved
``teacher/`` has no quantiser) and prints `Wav2Vec2Pretrainer.code_statistics`:
the mean top-code probability, the share of consecutive 20 ms frames with the
same code, the codes in use per group and the features' similarity between
consecutive frames. ``--model`` prints `cnn_feature_similarity` of any wav2vec
2.0 / HuBERT / WavLM model (with ``--random_init``, of a random-init model of
its config). Both use the first
``--utterances`` utterances of ``--split`` with at least ``--seconds`` of audio,
normalised per utterance as in pre-training.
"""

import argparse
import json
import os
import tempfile

import torch
import transformers
from hyperpyyaml import load_hyperpyyaml

from kdsrl_lobes.data import load_audio, prepare_librispeech, read_csv_rows
from kdsrl_lobes.models.encoder import (
    load_hf_speech_config,
    load_hf_speech_model,
    normalize_waveform,
)
from kdsrl_lobes.pretrain.diagnostics import cnn_feature_similarity


def load_clips(data_folder, split, utterances, seconds) -> torch.Tensor:
    """The first ``utterances`` clips of ``seconds`` of ``split``: ``[n, time]``."""
    samples = int(seconds * 16000)
    with tempfile.TemporaryDirectory() as tmp:  # not a run's own CSVs
        csvs = prepare_librispeech(data_folder, tmp, [split])
        rows = read_csv_rows(csvs[split])
    rows = [r for r in rows if int(r["stop"]) - int(r["start"]) >= samples]
    if len(rows) < utterances:
        raise ValueError(
            f"{split} has {len(rows)} utterances of {seconds} s or more, "
            f"{utterances} asked"
        )
    return torch.stack(
        [
            load_audio(r["wav"], int(r["start"]), int(r["start"]) + samples)
            for r in rows[:utterances]
        ]
    )


def run_statistics(run, split, utterances, seconds) -> dict:
    """`Wav2Vec2Pretrainer.code_statistics` at a run's latest checkpoint."""
    hparams_file = os.path.join(run, "hyperparams.yaml")
    if not os.path.isfile(hparams_file):
        raise FileNotFoundError(f"No hyperparams.yaml in {run}: not a recipe run")
    with open(hparams_file, encoding="utf-8") as f:
        hparams = load_hyperpyyaml(f)
    if not hasattr(hparams["model"], "code_statistics"):
        raise ValueError(f"{run} is not a wav2vec 2.0 pre-training run")
    if hparams["checkpointer"].recover_if_possible() is None:
        raise FileNotFoundError(f"No checkpoint in {hparams['save_folder']}")
    wav = load_clips(hparams["data_folder"], split, utterances, seconds)
    return hparams["model"].eval().code_statistics(wav)


def model_statistics(source, random_init, data_folder, split, utterances, seconds):
    """`cnn_feature_similarity` of a model folder (or its random-init twin)."""
    if random_init:
        torch.manual_seed(0)
        model = transformers.AutoModel.from_config(load_hf_speech_config(source))
    else:
        model = load_hf_speech_model(source)
    wav = load_clips(data_folder, split, utterances, seconds)
    wav = normalize_waveform(wav)  # as the pre-training objectives do
    frames = int(model._get_feat_extract_output_lengths(torch.tensor(wav.shape[1])))
    valid = torch.ones(wav.shape[0], frames, dtype=torch.bool)
    return dict(feature_similarity=cnn_feature_similarity(model.eval(), wav, valid))


def main(argv: list[str] | None = None) -> dict:
    """Prints (and returns) the statistics as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", help="wav2vec 2.0 pre-training output_folder")
    which.add_argument("--model", help="transformers model folder")
    parser.add_argument("--random_init", action="store_true")
    parser.add_argument("--data_folder", help="LibriSpeech folder (with --model)")
    parser.add_argument("--split", default="dev-clean")
    parser.add_argument("--utterances", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args(argv)
    clips = (args.split, args.utterances, args.seconds)
    if args.run:
        stats = run_statistics(args.run, *clips)
    else:
        if not args.data_folder:
            parser.error("--model needs --data_folder")
        stats = model_statistics(args.model, args.random_init, args.data_folder, *clips)
    stats.update(source=os.path.abspath(args.run or args.model))
    stats.update(random_init=args.random_init, utterances=args.utterances)
    print(json.dumps(stats, indent=2))
    return stats


if __name__ == "__main__":
    main()

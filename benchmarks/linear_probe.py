"""Frozen-encoder linear probes: how much KWS and speaker information a layer holds.

Usage::

    python benchmarks/linear_probe.py --model DIR --corpus DIR [--random_init]
        [--undistilled_layers 2] [--layers 4 8 12] [--concat] [--max_per_class 60]
        [--output FILE.json]

``--model`` is any transformers wav2vec 2.0 / HuBERT / WavLM directory (a
pre-trained teacher, a distilled student); ``--random_init`` probes a randomly
initialised model of the same config instead, the baseline that shows whether
pre-training taught the encoder anything; ``--undistilled_layers 2`` with a
teacher as ``--model`` probes the 2-layer student that distillation starts from
(the teacher's CNN and first 2 layers), the baseline that shows whether
distillation taught the student anything. For each requested layer
(``hidden_states`` index), each utterance becomes the mean over its frames of
that layer, standardised with the training statistics, and a multinomial
logistic regression (L-BFGS, L2) is fitted on it (``--concat``: also on the
layers side by side, what they hold together):

- KWS: GSC V1 12 classes (``prepare_gsc``), at most ``--max_per_class`` training
  and half as many test clips per class; accuracy on the test clips.
- Speaker identification: the VoxCeleb1 dev speakers (``prepare_voxceleb1``'s
  ``train.csv``), ``--sid_test_per_speaker`` utterances of each speaker held out
  for testing, at most ``--max_seconds`` of each; accuracy on them.
"""

import argparse
import json
import os
import random
import time
from collections import defaultdict

import torch
import transformers

from kdsrl_lobes.data import (
    GSC_CLASSES,
    load_audio,
    prepare_gsc,
    prepare_voxceleb1,
    read_csv_rows,
)
from kdsrl_lobes.encoder import (
    SSLEncoder,
    load_encoder,
    load_hf_speech_config,
    load_hf_speech_model,
)
from kdsrl_lobes.probe import probe_accuracy
from kdsrl_lobes.student import build_student


def load_probed_encoder(
    source: str,
    layers,
    random_init: bool,
    seed: int = 0,
    undistilled_layers: int | None = None,
):
    """The frozen encoder returning ``layers``; random weights if asked, with the
    same config and preprocessing as ``source``. With ``undistilled_layers``,
    ``source`` is a teacher and the probed encoder is its student *before*
    distillation: the copy of its CNN and first ``undistilled_layers`` layers
    that distillation starts from (`kdsrl_lobes.build_student`)."""
    if undistilled_layers is not None:
        teacher = load_hf_speech_model(source)
        student = build_student(teacher, num_layers=undistilled_layers)
        return SSLEncoder(student, layers=layers, freeze=True, source=source)
    if not random_init:
        return load_encoder(source, layers=layers, freeze=True)
    config = load_hf_speech_config(source)
    torch.manual_seed(seed)
    model = transformers.AutoModel.from_config(config)
    return SSLEncoder(model, layers=layers, freeze=True, source=source)


@torch.no_grad()
def embed(rows: list[dict], encoder, max_seconds: float, batch_size: int = 16):
    """Mean-pooled layers of each row: ``[rows, layers, hidden]``."""
    vectors = []
    for i in range(0, len(rows), batch_size):
        wavs = []
        for row in rows[i : i + batch_size]:
            start, stop = int(row["start"]), int(row["stop"])
            stop = min(stop, start + int(max_seconds * 16000))
            wavs.append(load_audio(row["wav"], start, stop))
        lengths = torch.tensor([w.numel() for w in wavs])
        batch = torch.zeros(len(wavs), int(lengths.max()))
        for j, wav in enumerate(wavs):
            batch[j, : wav.numel()] = wav
        rel = lengths.float() / lengths.max()
        feats = encoder(batch, rel)  # B x L x T x D
        frames = torch.arange(feats.shape[2])
        valid = frames[None, :] < torch.round(rel * feats.shape[2])[:, None]
        valid = valid[:, None, :, None].float()
        vectors.append((feats * valid).sum(2) / valid.sum(2).clamp(min=1))
    return torch.cat(vectors)


def balanced(rows, key, per_class, seed):
    """At most ``per_class`` rows of each ``key`` value, drawn with ``seed``."""
    groups = defaultdict(list)
    for row in rows:
        groups[row[key]].append(row)
    picked = []
    rng = random.Random(seed)
    for value in sorted(groups):
        group = groups[value]
        picked += rng.sample(group, min(per_class, len(group)))
    return picked


def kws_data(corpus, save_folder, max_per_class, seed):
    """GSC train/test rows and labels."""
    csvs = prepare_gsc(
        os.path.join(corpus, "speech_commands_v0.01"), os.path.join(save_folder, "gsc")
    )
    train = balanced(read_csv_rows(csvs["train"]), "command", max_per_class, seed)
    test = balanced(
        read_csv_rows(csvs["test"]), "command", max(1, max_per_class // 2), seed
    )
    index = {c: i for i, c in enumerate(GSC_CLASSES)}
    return (
        train,
        torch.tensor([index[r["command"]] for r in train]),
        test,
        torch.tensor([index[r["command"]] for r in test]),
    )


def sid_data(corpus, save_folder, test_per_speaker, seed):
    """Speaker-identification split of the VoxCeleb1 dev speakers."""
    csvs = prepare_voxceleb1(
        os.path.join(corpus, "voxceleb1"), os.path.join(save_folder, "voxceleb1")
    )
    by_speaker = defaultdict(list)
    for row in read_csv_rows(csvs["train"]):
        by_speaker[row["spk_id"]].append(row)
    rng = random.Random(seed)
    train, test = [], []
    speakers = sorted(s for s, r in by_speaker.items() if len(r) > test_per_speaker)
    for spk in speakers:
        rows = sorted(by_speaker[spk], key=lambda r: r["ID"])
        rng.shuffle(rows)
        test += rows[:test_per_speaker]
        train += rows[test_per_speaker:]
    index = {s: i for i, s in enumerate(speakers)}
    return (
        train,
        torch.tensor([index[r["spk_id"]] for r in train]),
        test,
        torch.tensor([index[r["spk_id"]] for r in test]),
    )


def probe_layers(x_train, y_train, x_test, y_test, layers, concat=False) -> dict:
    """Test accuracy of a probe on each layer of ``x_*`` ``[rows, layers,
    hidden]`` (keys ``layer_N``) and, with ``concat``, on all of them side by
    side (key ``layers_4+8+12``): what the layers hold together, e.g. the most
    a student predicting them could hold."""
    accuracies = {
        f"layer_{layer}": round(
            probe_accuracy(x_train[:, i], y_train, x_test[:, i], y_test), 4
        )
        for i, layer in enumerate(layers)
    }
    if concat and len(layers) > 1:
        key = "layers_" + "+".join(str(layer) for layer in layers)
        accuracies[key] = round(
            probe_accuracy(x_train.flatten(1), y_train, x_test.flatten(1), y_test), 4
        )
    return accuracies


def main(argv: list[str] | None = None) -> dict:
    """Runs the probes and prints (and optionally saves) the accuracies."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="transformers model folder")
    parser.add_argument("--corpus", required=True, help="kdsrl_lobes.data.synth output")
    parser.add_argument("--random_init", action="store_true")
    parser.add_argument(
        "--undistilled_layers",
        type=int,
        default=None,
        help="--model is a teacher: probe its N-layer student before distillation",
    )
    parser.add_argument("--layers", type=int, nargs="+", default=[12])
    parser.add_argument(
        "--concat",
        action="store_true",
        help="also probe the requested layers concatenated",
    )
    parser.add_argument("--max_per_class", type=int, default=60)
    parser.add_argument("--sid_test_per_speaker", type=int, default=3)
    parser.add_argument("--max_seconds", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=None, help="JSON file for the results")
    parser.add_argument(
        "--save_folder", default=None, help="prepared CSVs (default: <corpus>/probe)"
    )
    args = parser.parse_args(argv)
    save_folder = args.save_folder or os.path.join(args.corpus, "probe")
    start = time.time()
    encoder = load_probed_encoder(
        args.model, args.layers, args.random_init, args.seed, args.undistilled_layers
    )
    results = {
        "model": os.path.abspath(args.model),
        "random_init": args.random_init,
        "undistilled_layers": args.undistilled_layers,
        "layers": args.layers,
    }
    tasks = {
        "kws": kws_data(args.corpus, save_folder, args.max_per_class, args.seed),
        "speaker_id": sid_data(
            args.corpus, save_folder, args.sid_test_per_speaker, args.seed
        ),
    }
    for task, (train, y_train, test, y_test) in tasks.items():
        x_train = embed(train, encoder, args.max_seconds)
        x_test = embed(test, encoder, args.max_seconds)
        results[task] = probe_layers(
            x_train, y_train, x_test, y_test, args.layers, args.concat
        )
        results[task].update(train_rows=len(train), test_rows=len(test))
    results["seconds"] = round(time.time() - start, 1)
    text = json.dumps(results, indent=2)
    print(text)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    return results


if __name__ == "__main__":
    main()

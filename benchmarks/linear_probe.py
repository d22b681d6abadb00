"""Frozen-encoder linear probes: how much KWS and speaker information a layer holds.

Usage::

    python benchmarks/linear_probe.py --model DIR --corpus DIR [--random_init]
        [--undistilled_layers 2] [--layers 4 8 12] [--concat] [--max_per_class 60]
        [--max_test_per_class 60] [--sid_folds 4] [--l2 0.001] [--output FILE.json]

``--model`` is any transformers wav2vec 2.0 / HuBERT / WavLM directory (a
pre-trained teacher, a distilled student); ``--random_init`` probes a randomly
initialised model of the same config instead, the baseline that shows whether
pre-training taught the encoder anything; ``--undistilled_layers 2`` with a
teacher as ``--model`` probes the 2-layer student that distillation starts from
(the teacher's CNN and first 2 layers), the baseline that shows whether
distillation taught the student anything. For each requested layer
(``hidden_states`` index), each utterance becomes the mean over its frames of
that layer, standardised with the training statistics, and a multinomial
logistic regression (L-BFGS, L2 penalty ``--l2`` on the weights) is fitted on
it (``--concat``: also on the layers side by side, what they hold together):

- KWS: GSC V1 12 classes (``prepare_gsc``), at most ``--max_per_class``
  training clips per class from the train split and ``--max_test_per_class``
  test clips per class from the test and validation splits; accuracy on the
  test clips.
- Speaker identification: the VoxCeleb1 dev speakers (``prepare_voxceleb1``'s
  ``train.csv``), at most ``--max_seconds`` of each utterance, cross-validated
  over ``--sid_folds`` folds of each speaker's utterances; accuracy over all
  utterances, each tested once.
- Speaker identification across sessions (``speaker_id_cross_session``): the
  same utterances and embeddings, but each VoxCeleb video (session: room,
  device, noise) lies whole in one fold, so the probe is tested on sessions it
  never saw. In the folds above a test utterance shares its session with some
  training utterances, and a probe can name the speaker from the session's
  channel alone; here only what is left of the speaker counts. The
  verification trials (``veri_test2.txt``) pair utterances of different
  videos, so this is the number that speaks for speaker verification.
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
from kdsrl_lobes.evaluation.probe import DEFAULT_L2, probe_accuracy
from kdsrl_lobes.models.encoder import (
    SSLEncoder,
    load_encoder,
    load_hf_speech_config,
    load_hf_speech_model,
)
from kdsrl_lobes.models.student import build_student


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


def kws_data(corpus, save_folder, max_per_class, max_test_per_class, seed):
    """GSC rows, labels and one fold: training clips from ``train``, test clips
    from ``test`` and ``valid`` (neither is used to fit anything here)."""
    csvs = prepare_gsc(
        os.path.join(corpus, "speech_commands_v0.01"), os.path.join(save_folder, "gsc")
    )
    train = balanced(read_csv_rows(csvs["train"]), "command", max_per_class, seed)
    held_out = read_csv_rows(csvs["test"]) + read_csv_rows(csvs["valid"])
    test = balanced(held_out, "command", max_test_per_class, seed)
    index = {c: i for i, c in enumerate(GSC_CLASSES)}
    rows = train + test
    labels = torch.tensor([index[r["command"]] for r in rows])
    positions = torch.arange(len(rows))
    return rows, labels, [(positions[: len(train)], positions[len(train) :])]


def sid_data(corpus, save_folder, folds, seed):
    """Speaker identification over the VoxCeleb1 dev speakers, cross-validated:
    each speaker's utterances are dealt into ``folds`` folds, and each fold is
    tested once on a probe trained on the others, so every utterance is a test
    utterance once."""
    csvs = prepare_voxceleb1(
        os.path.join(corpus, "voxceleb1"), os.path.join(save_folder, "voxceleb1")
    )
    by_speaker = defaultdict(list)
    for row in read_csv_rows(csvs["train"]):
        by_speaker[row["spk_id"]].append(row)
    speakers = sorted(s for s, r in by_speaker.items() if len(r) >= folds)
    if len(speakers) < 2:
        raise ValueError(
            f"Speaker identification needs 2 speakers with at least {folds} "
            f"utterances (--sid_folds), found {len(speakers)} in {csvs['train']}"
        )
    rng = random.Random(seed)
    rows, fold_of = [], []
    for spk in speakers:
        utterances = sorted(by_speaker[spk], key=lambda r: r["ID"])
        rng.shuffle(utterances)
        rows += utterances
        fold_of += [i % folds for i in range(len(utterances))]
    index = {s: i for i, s in enumerate(speakers)}
    labels = torch.tensor([index[r["spk_id"]] for r in rows])
    fold_of = torch.tensor(fold_of)
    splits = [
        ((fold_of != k).nonzero().squeeze(1), (fold_of == k).nonzero().squeeze(1))
        for k in range(folds)
    ]
    return rows, labels, splits


def session_of(row: dict) -> str:
    """The VoxCeleb video (recording session) of a ``prepare_voxceleb1`` row,
    whose ``ID`` is ``<speaker>/<video>/<file>``."""
    parts = row["ID"].split("/")
    if len(parts) != 3:
        raise ValueError(
            f"Expected an ID '<speaker>/<video>/<file>', found '{row['ID']}'"
        )
    return parts[1]


def cross_session_splits(rows, folds):
    """``(train, test)`` row indices where each speaker's sessions are dealt
    into ``folds`` folds whole (in sorted order), so that no test utterance
    shares its session with a training one. A speaker with a single session is
    only ever trained on (nothing of it would be left to train on when tested);
    folds left without test rows are dropped."""
    sessions = defaultdict(list)
    for row in rows:
        sessions[row["spk_id"]].append(session_of(row))
    rank = {
        spk: {s: i for i, s in enumerate(sorted(set(found)))}
        for spk, found in sessions.items()
    }
    fold_of = torch.tensor([rank[r["spk_id"]][session_of(r)] % folds for r in rows])
    testable = torch.tensor([len(rank[r["spk_id"]]) > 1 for r in rows])
    splits = []
    for k in range(folds):
        test = ((fold_of == k) & testable).nonzero().squeeze(1)
        if len(test):
            splits.append(((fold_of != k).nonzero().squeeze(1), test))
    if not splits:
        raise ValueError(
            "Cross-session speaker identification needs speakers with at least "
            "2 sessions (videos), found none"
        )
    return splits


def probe_layers(x, y, splits, layers, concat=False, l2=DEFAULT_L2) -> dict:
    """Test accuracy of a probe on each layer of ``x`` ``[rows, layers, hidden]``
    (keys ``layer_N``) and, with ``concat``, on all of them side by side (key
    ``layers_4+8+12``): what the layers hold together, e.g. the most a student
    predicting them could hold. ``splits`` lists ``(train, test)`` row indices;
    the accuracy is over all their test rows; ``l2`` is the probe's weight
    penalty."""
    features = {f"layer_{layer}": x[:, i] for i, layer in enumerate(layers)}
    if concat and len(layers) > 1:
        features["layers_" + "+".join(str(layer) for layer in layers)] = x.flatten(1)
    accuracies = {}
    for key, feats in features.items():
        correct = sum(
            probe_accuracy(feats[train], y[train], feats[test], y[test], l2=l2)
            * len(test)
            for train, test in splits
        )
        accuracies[key] = round(correct / sum(len(test) for _, test in splits), 4)
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
    parser.add_argument("--max_test_per_class", type=int, default=60)
    parser.add_argument("--sid_folds", type=int, default=4)
    parser.add_argument("--max_seconds", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--l2",
        type=float,
        default=DEFAULT_L2,
        help="L2 penalty of the logistic regression",
    )
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
        "l2": args.l2,
    }
    tasks = {
        "kws": kws_data(
            args.corpus,
            save_folder,
            args.max_per_class,
            args.max_test_per_class,
            args.seed,
        ),
        "speaker_id": sid_data(args.corpus, save_folder, args.sid_folds, args.seed),
    }
    rows, labels, _ = tasks["speaker_id"]
    tasks["speaker_id_cross_session"] = (
        rows,
        labels,
        cross_session_splits(rows, args.sid_folds),
    )
    embeddings = {}
    for task, (rows, labels, splits) in tasks.items():
        key = id(rows)  # the two speaker tasks share their utterances
        if key not in embeddings:
            embeddings[key] = embed(rows, encoder, args.max_seconds)
        x = embeddings[key]
        results[task] = probe_layers(
            x, labels, splits, args.layers, args.concat, args.l2
        )
        results[task].update(
            train_rows=len(splits[0][0]),
            test_rows=sum(len(test) for _, test in splits),
            folds=len(splits),
        )
    results["seconds"] = round(time.time() - start, 1)
    text = json.dumps(results, indent=2)
    print(text)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    return results


if __name__ == "__main__":
    main()

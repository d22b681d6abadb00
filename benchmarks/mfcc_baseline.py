"""A simple MFCC baseline on the generated corpus, to show the tasks are not trivial.

Usage::

    python benchmarks/mfcc_baseline.py --corpus DIR [--output FILE.json]

- KWS (GSC V1, 12 classes): mean and standard deviation over time of 20 MFCCs
  (SpeechBrain's ``MFCC`` lobe, no deltas) -> 40-dim vector, standardised with the
  train-set statistics, multinomial logistic regression (L-BFGS, L2) trained on
  ``train.csv``; accuracy on ``test.csv``. Nearest class centroid (cosine) too.
- SV (VoxCeleb1 trial list): the same 40-dim vector, standardised with the dev
  (``train.csv``) statistics, cosine score per trial
  (`kdsrl_lobes.evaluation.metrics.score_trials`, as the recipe scores); EER and
  minDCF with `verification_metrics` (SpeechBrain's ``EER`` and ``minDCF``).
"""

import argparse
import json
import os
import time

import torch
from speechbrain.lobes.features import MFCC

from kdsrl_lobes.data import (
    GSC_CLASSES,
    find_trials,
    load_audio,
    prepare_gsc,
    prepare_voxceleb1,
    read_csv_rows,
    read_trials,
)
from kdsrl_lobes.evaluation.metrics import score_trials, verification_metrics
from kdsrl_lobes.evaluation.probe import logistic_regression, standardise


@torch.no_grad()
def embed(rows: list[dict], mfcc: MFCC) -> torch.Tensor:
    """Mean and std over time of the MFCCs of each row: [rows, 2 * n_mfcc]."""
    vectors = []
    for row in rows:
        audio = load_audio(row["wav"], int(row["start"]), int(row["stop"]))
        feats = mfcc(audio.unsqueeze(0))[0]  # time x n_mfcc
        vectors.append(torch.cat([feats.mean(0), feats.std(0)]))
    return torch.stack(vectors)


def kws_baseline(corpus: str, save_folder: str, mfcc: MFCC) -> dict:
    """Accuracy of the MFCC baselines on the GSC test split."""
    csvs = prepare_gsc(
        os.path.join(corpus, "speech_commands_v0.01"), os.path.join(save_folder, "gsc")
    )
    train, test = read_csv_rows(csvs["train"]), read_csv_rows(csvs["test"])
    index = {c: i for i, c in enumerate(GSC_CLASSES)}
    x_train, x_test = embed(train, mfcc), embed(test, mfcc)
    y_train = torch.tensor([index[r["command"]] for r in train])
    y_test = torch.tensor([index[r["command"]] for r in test])
    x_train, x_test = standardise(x_train, x_test)
    model = logistic_regression(x_train, y_train, len(GSC_CLASSES), max_iter=500)
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    centroids = torch.stack(
        [x_train[y_train == c].mean(0) for c in range(len(GSC_CLASSES))]
    )
    similarity = (
        torch.nn.functional.normalize(x_test, dim=1)
        @ torch.nn.functional.normalize(centroids, dim=1).T
    )
    centroid_accuracy = (similarity.argmax(1) == y_test).float().mean().item()
    majority = torch.bincount(y_test, minlength=len(GSC_CLASSES)).max().item() / len(
        y_test
    )
    return {
        "test_accuracy_logreg": round(accuracy, 4),
        "test_accuracy_nearest_centroid": round(centroid_accuracy, 4),
        "majority_class_accuracy": round(majority, 4),
        "train_rows": len(train),
        "test_rows": len(test),
    }


def sv_baseline(corpus: str, save_folder: str, mfcc: MFCC) -> dict:
    """EER of cosine scoring of MFCC mean+std vectors on the trial list."""
    data_folder = os.path.join(corpus, "voxceleb1")
    csvs = prepare_voxceleb1(data_folder, os.path.join(save_folder, "voxceleb1"))
    dev, test = read_csv_rows(csvs["train"]), read_csv_rows(csvs["test"])
    x_dev, x_test = embed(dev, mfcc), embed(test, mfcc)
    _, x_test = standardise(x_dev, x_test)
    embeddings = {r["ID"]: x for r, x in zip(test, x_test, strict=True)}
    trials = read_trials(find_trials(data_folder))
    scores, labels = score_trials(embeddings, trials)  # as the recipe scores
    metrics = verification_metrics(scores, labels)
    return {
        "eer": round(metrics["sv_eer"] / 100.0, 4),
        "threshold": round(metrics["sv_threshold"], 4),
        "min_dcf": round(metrics["sv_min_dcf"], 4),
        "target_trials": int(labels.sum()),
        "nontarget_trials": int(len(labels) - labels.sum()),
        "test_speakers": len({r["spk_id"] for r in test}),
        "dev_rows": len(dev),
    }


def main(argv: list[str] | None = None) -> None:
    """Runs both baselines and prints (and optionally saves) the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--corpus", required=True, help="folder made by kdsrl_lobes.data.synth.generate"
    )
    parser.add_argument("--output", default=None, help="JSON file for the results")
    parser.add_argument(
        "--save_folder",
        default=None,
        help="prepared CSVs (default: <corpus>/mfcc_baseline)",
    )
    args = parser.parse_args(argv)
    save_folder = args.save_folder or os.path.join(args.corpus, "mfcc_baseline")
    torch.manual_seed(0)
    mfcc = MFCC(deltas=False, context=False, n_mfcc=20)
    start = time.time()
    results = {
        "corpus": os.path.abspath(args.corpus),
        "kws": kws_baseline(args.corpus, save_folder, mfcc),
        "sv": sv_baseline(args.corpus, save_folder, mfcc),
    }
    results["seconds"] = round(time.time() - start, 1)
    text = json.dumps(results, indent=2)
    print(text)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()

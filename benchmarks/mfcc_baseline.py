"""A simple MFCC baseline on the generated corpus, to show the tasks are not trivial.

Usage::

    python benchmarks/mfcc_baseline.py --corpus DIR [--output FILE.json]

- KWS (GSC V1, 12 classes): mean and standard deviation over time of 20 MFCCs
  (`kdsrl_lobes.evaluation.mfcc`) -> 40-dim vector, standardised with the
  train-set statistics, multinomial logistic regression (L-BFGS, L2) trained on
  ``train.csv`` (``_unknown_`` subsampled as in the recipes); accuracy, balanced
  accuracy and per-class recall on the official balanced test set, each with
  its 95 % bootstrap interval (`kdsrl_lobes.evaluation.reports`). Nearest class
  centroid (cosine) too.
- SV (VoxCeleb1 trial list): the same 40-dim vector, standardised with the dev
  (``train.csv``) statistics, cosine score per trial
  (`kdsrl_lobes.evaluation.metrics.score_trials`, as the recipe scores); EER and
  minDCF (SpeechBrain's) with intervals over speakers; the same on the keyword
  trials of the official GSC test set (``sv_keyword_eer``).
"""

import argparse
import json
import os
import time

import torch

from kdsrl_lobes.data import (
    GSC_CLASSES,
    find_trials,
    official_test_rows,
    prepare_gsc,
    prepare_voxceleb1,
    read_csv_rows,
    read_trials,
)
from kdsrl_lobes.data.gsc import OFFICIAL_TEST_FOLDER
from kdsrl_lobes.evaluation.keyword_sv import keyword_trials, keyword_verification
from kdsrl_lobes.evaluation.metrics import enrolment_speakers, score_trials
from kdsrl_lobes.evaluation.mfcc import mfcc_lobe, mfcc_rows
from kdsrl_lobes.evaluation.probe import logistic_regression, standardise
from kdsrl_lobes.evaluation.reports import kws_report, verification_report


def kws_baseline(corpus: str, save_folder: str, mfcc) -> dict:
    """KWS metrics (95 % intervals) of the MFCC baselines on the GSC test split:
    the official balanced set when the corpus has it, with ``_unknown_``
    subsampled as the recipes do (``unknown_fraction`` 0.1)."""
    official = os.path.join(corpus, OFFICIAL_TEST_FOLDER)
    csvs = prepare_gsc(
        os.path.join(corpus, "speech_commands_v0.01"),
        os.path.join(save_folder, "gsc"),
        unknown_fraction=0.1,
        test_folder=official if os.path.isdir(official) else None,
    )
    train, test = read_csv_rows(csvs["train"]), read_csv_rows(csvs["test"])
    index = {c: i for i, c in enumerate(GSC_CLASSES)}
    x_train, x_test = mfcc_rows(train, mfcc), mfcc_rows(test, mfcc)
    y_train = torch.tensor([index[r["command"]] for r in train])
    y_test = torch.tensor([index[r["command"]] for r in test])
    x_train, x_test = standardise(x_train, x_test)
    model = logistic_regression(x_train, y_train, len(GSC_CLASSES), max_iter=500)
    with torch.no_grad():
        logreg = model(x_test).argmax(1)
    centroids = torch.stack(
        [x_train[y_train == c].mean(0) for c in range(len(GSC_CLASSES))]
    )
    similarity = (
        torch.nn.functional.normalize(x_test, dim=1)
        @ torch.nn.functional.normalize(centroids, dim=1).T
    )
    centroid = kws_report(similarity.argmax(1), y_test, GSC_CLASSES)
    majority = torch.bincount(y_test, minlength=len(GSC_CLASSES)).max().item() / len(
        y_test
    )
    return {
        **kws_report(logreg, y_test, GSC_CLASSES),
        "nearest_centroid_accuracy": centroid["kws_accuracy"],
        "nearest_centroid_accuracy_ci95": centroid["kws_accuracy_ci95"],
        "majority_class_accuracy": round(100.0 * majority, 2),
        "train_rows": len(train),
        "test_rows": len(test),
    }


def sv_baseline(corpus: str, save_folder: str, mfcc) -> dict:
    """EER and minDCF (95 % intervals over enrolment speakers) of cosine scoring
    of MFCC mean+std vectors on the trial list, and on the keyword trials of
    the official GSC test set when the corpus has it."""
    data_folder = os.path.join(corpus, "voxceleb1")
    csvs = prepare_voxceleb1(data_folder, os.path.join(save_folder, "voxceleb1"))
    dev, test = read_csv_rows(csvs["train"]), read_csv_rows(csvs["test"])
    x_dev, x_test = mfcc_rows(dev, mfcc), mfcc_rows(test, mfcc)
    _, x_test = standardise(x_dev, x_test)
    embeddings = {r["ID"]: x for r, x in zip(test, x_test, strict=True)}
    trials = read_trials(find_trials(data_folder))
    scores, labels = score_trials(embeddings, trials)  # as the recipe scores
    speakers = enrolment_speakers(trials)
    results = verification_report(scores, labels, speakers, "sv")
    official = os.path.join(corpus, OFFICIAL_TEST_FOLDER)
    if os.path.isdir(official):
        rows = official_test_rows(official)
        keyword = keyword_trials(rows)
        named = {name for _, a, b in keyword for name in (a, b)}
        rows = [r for r in rows if f"{r['ID']}.wav" in named]
        _, x_kw = standardise(x_dev, mfcc_rows(rows, mfcc))
        vectors = {f"{r['ID']}.wav": x for r, x in zip(rows, x_kw, strict=True)}
        results.update(keyword_verification(vectors, keyword))
    results.update(test_speakers=len(set(speakers)), dev_rows=len(dev))
    return results


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
    mfcc = mfcc_lobe()
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

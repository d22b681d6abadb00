"""KWS accuracy and SV EER of several runnable versions of one model (PyTorch,
ONNX fp32, ONNX int8 ...) on the GSC V1 and VoxCeleb1 test sets.

Each clip is read once and given to every version, one utterance at a time (no
padding), as the recipe's test does for its 1 s GSC clips and whole VoxCeleb1
utterances.

Authors
 * kdsrl team 2026
"""

import os
from collections.abc import Callable, Sequence

import numpy as np
import torch
from speechbrain.utils.logger import get_logger

from kdsrl_lobes.data import (
    find_trials,
    load_audio,
    prepare_gsc,
    prepare_voxceleb1,
    read_csv_rows,
    read_trials,
)
from kdsrl_lobes.data.gsc import OFFICIAL_TEST_FOLDER
from kdsrl_lobes.evaluation.metrics import enrolment_speakers, score_trials
from kdsrl_lobes.evaluation.reports import kws_report, verification_report

logger = get_logger(__name__)

# wav [1, time] float32 -> (kws logits [1, classes], embedding [1, dim])
RunFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def load_test_sets(corpus_root: str, work_folder: str) -> dict:
    """Prepares the test CSVs (skipped when done) of a corpus root holding
    ``speech_commands_v0.01/`` and ``voxceleb1/``; the KWS test split is GSC
    V1's official balanced test set when the root also holds
    ``speech_commands_test_set_v0.01/`` (as the recipes test with
    ``--test_folder``), else the files of the testing list.

    Returns
    -------
    dict
        ``kws``: test rows (``wav``, ``start``, ``stop``, ``command``),
        ``sv``: test rows (``ID``, ``wav``, ``start``, ``stop``), ``trials``.
    """
    gsc = os.path.join(corpus_root, "speech_commands_v0.01")
    vox = os.path.join(corpus_root, "voxceleb1")
    for folder in (gsc, vox):
        if not os.path.isdir(folder):
            raise FileNotFoundError(
                f"{folder} not found: expected a corpus root with "
                "speech_commands_v0.01/ and voxceleb1/"
            )
    official = os.path.join(corpus_root, OFFICIAL_TEST_FOLDER)
    gsc_csv = prepare_gsc(
        gsc,
        os.path.join(work_folder, "gsc"),
        test_folder=official if os.path.isdir(official) else None,
    )["test"]
    trials_path = find_trials(vox)
    vox_csv = prepare_voxceleb1(
        vox, os.path.join(work_folder, "voxceleb1"), trials=trials_path
    )["test"]
    return {
        "kws": read_csv_rows(gsc_csv),
        "sv": read_csv_rows(vox_csv),
        "trials": read_trials(trials_path),
    }


def evaluate_versions(
    versions: dict[str, RunFn],
    clips: dict,
    labels: Sequence[str],
    max_kws: int | None = None,
) -> dict[str, dict]:
    """Runs every version on the test clips.

    Arguments
    ---------
    versions : dict
        Name -> function from audio ``[1, time]`` to (KWS logits, embedding).
    clips : dict
        As returned by `load_test_sets`.
    labels : sequence of str
        KWS labels in the model's class order.
    max_kws : int, optional
        Evaluate only the first KWS clips (all when None).

    Returns
    -------
    dict
        Name -> ``kws_accuracy`` (%), ``sv_eer`` (%), ``sv_min_dcf``,
        ``kws_num_test``, ``sv_num_trials``, and the 95 % bootstrap intervals
        (`kdsrl_lobes.evaluation.reports`: clips for KWS, enrolment speakers
        for trials) as ``<metric>_ci95``.
    """
    index = {label: i for i, label in enumerate(labels)}
    kws_rows = clips["kws"][:max_kws] if max_kws else clips["kws"]
    predictions = {name: [] for name in versions}
    targets = [index[row["command"]] for row in kws_rows]
    for row in kws_rows:
        wav = _read(row)
        for name, run in versions.items():
            logits, _ = run(wav)
            predictions[name].append(int(np.argmax(logits[0])))
    embeddings = {name: {} for name in versions}
    for row in clips["sv"]:
        wav = _read(row)
        for name, run in versions.items():
            _, emb = run(wav)
            embeddings[name][row["ID"]] = torch.from_numpy(np.asarray(emb[0]))
    results = {}
    speakers = enrolment_speakers(clips["trials"])
    keep = ("kws_accuracy", "kws_accuracy_ci95", "kws_balanced_accuracy",
            "kws_balanced_accuracy_ci95", "kws_num_test", "sv_eer", "sv_eer_ci95",
            "sv_min_dcf", "sv_min_dcf_ci95", "sv_num_trials")  # fmt: skip
    for name in versions:
        kws = kws_report(torch.tensor(predictions[name]), torch.tensor(targets), labels)
        scores, trial_labels = score_trials(embeddings[name], clips["trials"])
        sv = verification_report(scores, trial_labels, speakers, "sv")
        results[name] = {k: v for k, v in {**kws, **sv}.items() if k in keep}
        logger.info("%s: %s", name, results[name])
    return results


def _read(row: dict) -> np.ndarray:
    wav = load_audio(row["wav"], start=int(row["start"]), stop=int(row["stop"]))
    return wav.numpy()[None].astype(np.float32)  # 1 x time

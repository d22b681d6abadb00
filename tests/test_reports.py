"""95 % intervals of the test metrics: the bootstrap, the fast EER/minDCF of its
resamples against SpeechBrain's, the KWS and verification reports against hand
computations."""

import numpy as np
import pytest
import torch
from speechbrain.utils.metric_stats import EER, minDCF

from kdsrl_lobes.evaluation.metrics import bootstrap_ci, sorted_eer_min_dcf
from kdsrl_lobes.evaluation.reports import kws_report, verification_report


def _accuracy_ci(n, seed=0):
    correct = np.zeros(n)
    correct[: int(0.8 * n)] = 1.0
    return bootstrap_ci(lambda i: correct[i].mean(), range(n), 500, seed=seed)


def test_interval_contains_the_point_and_shrinks_with_more_samples():
    widths = []
    for n in (50, 500, 5000):
        point, low, high = _accuracy_ci(n)
        assert float(point) == pytest.approx(0.8)
        assert low <= point <= high
        widths.append(float(high - low))
    assert widths[0] > widths[1] > widths[2] > 0
    # about the binomial 95 % interval: 2 x 1.96 x sqrt(0.16 / n)
    assert widths[1] == pytest.approx(2 * 1.96 * np.sqrt(0.16 / 500), rel=0.2)


def test_groups_are_resampled_whole():
    # two groups of opposite outcome: a resample has 0, 1 or 2 copies of each
    values = np.array([1.0] * 10 + [0.0] * 10)
    groups = ["a"] * 10 + ["b"] * 10
    seen = set()

    def statistic(index):
        seen.add(round(float(values[index].mean()), 6))
        return values[index].mean()

    bootstrap_ci(statistic, groups, 200)
    assert seen == {0.0, 0.5, 1.0}  # never a mix of part of a group


def test_bad_bootstrap_arguments_are_named():
    with pytest.raises(ValueError, match="confidence in"):
        bootstrap_ci(np.mean, [1, 2], confidence=1.5)
    with pytest.raises(ValueError, match="at least one item"):
        bootstrap_ci(np.mean, [])


def test_sorted_eer_min_dcf_agrees_with_speechbrain():
    rng = np.random.default_rng(0)
    for _ in range(5):
        positive = rng.normal(1.0, 1.0, size=int(rng.integers(5, 60)))
        negative = rng.normal(0.0, 1.0, size=int(rng.integers(5, 60)))
        eer, dcf = sorted_eer_min_dcf(positive, negative)
        pos, neg = torch.tensor(positive).float(), torch.tensor(negative).float()
        assert eer == pytest.approx(EER(pos, neg)[0], abs=1e-6)
        assert dcf == pytest.approx(minDCF(pos, neg, p_target=0.01)[0], abs=1e-6)


def test_kws_report_by_hand():
    # class 0: 2 of 3 right; class 1: 1 of 1; class 2: absent from the targets
    predictions = torch.tensor([0, 0, 1, 1])
    targets = torch.tensor([0, 0, 0, 1])
    report = kws_report(predictions, targets, ["a", "b", "c"], n_resamples=100)
    assert report["kws_accuracy"] == pytest.approx(75.0)
    assert report["kws_recall"] == pytest.approx({"a": 200 / 3, "b": 100.0})
    assert report["kws_balanced_accuracy"] == pytest.approx((200 / 3 + 100) / 2)
    assert report["kws_num_test_per_class"] == {"a": 3, "b": 1}
    for key in ("kws_accuracy", "kws_balanced_accuracy"):
        low, high = report[f"{key}_ci95"]
        assert 0.0 <= low <= report[key] <= high <= 100.0
    with pytest.raises(ValueError, match="class indices in"):
        kws_report(torch.tensor([3]), torch.tensor([0]), ["a", "b"])


def test_verification_report_point_is_speechbrains_and_inside_its_interval():
    rng = np.random.default_rng(1)
    labels = torch.tensor([1, 0] * 100)
    scores = torch.tensor(rng.normal(0, 1, 200)) + 1.5 * labels
    groups = [f"spk{i % 20}" for i in range(200)]
    report = verification_report(scores, labels, groups, "kw", n_resamples=200)
    pos, neg = scores[labels == 1].float(), scores[labels == 0].float()
    assert report["kw_eer"] == pytest.approx(100 * EER(pos, neg)[0])
    low, high = report["kw_eer_ci95"]
    assert low < report["kw_eer"] < high
    assert report["kw_num_speakers"] == 20 and report["kw_num_trials"] == 200
    with pytest.raises(ValueError, match="one group per trial"):
        verification_report(scores, labels, groups[:-1])

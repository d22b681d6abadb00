"""The linear-probe benchmark's pieces: encoder loading, pooling, the probe."""

import importlib.util
import os

import pytest
import torch

from kdsrl_lobes.evaluation.probe import probe_accuracy
from kdsrl_lobes.models.configs import random_speech_model

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "linear_probe.py")
spec = importlib.util.spec_from_file_location("linear_probe", SCRIPT)
linear_probe = importlib.util.module_from_spec(spec)
spec.loader.exec_module(linear_probe)


def test_probe_separates_separable_classes_and_not_noise():
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(3).repeat(40)
    x = torch.randn(120, 5, generator=gen) + 4 * torch.nn.functional.one_hot(y, 5)
    assert probe_accuracy(x[:90], y[:90], x[90:], y[90:]) == 1.0
    noise = torch.randn(120, 5, generator=gen)
    assert probe_accuracy(noise[:90], y[:90], noise[90:], y[90:]) < 0.7


def test_probe_l2_penalty_reaches_the_fit():
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(3).repeat(40)
    # the class is feature 0 minus feature 1 (shared noise): only large,
    # opposite weights find it, which a strong penalty forbids
    noise = 5 * torch.randn(120, generator=gen)
    x = torch.stack([y + noise, noise], dim=1)[:, None, :]
    x = x + 0.05 * torch.randn(x.shape, generator=gen)
    split = [(torch.arange(90), torch.arange(90, 120))]
    loose = linear_probe.probe_layers(x, y, split, [12], l2=1e-5)["layer_12"]
    tight = linear_probe.probe_layers(x, y, split, [12], l2=10.0)["layer_12"]
    assert loose > 0.9 and tight < 0.7


def test_random_init_has_the_config_but_not_the_weights(tmp_path):
    model = random_speech_model("hubert", "tiny", seed=3)
    model.save_pretrained(tmp_path)
    trained = linear_probe.load_probed_encoder(str(tmp_path), [2, 4], False)
    random = linear_probe.load_probed_encoder(str(tmp_path), [2, 4], True)
    assert random.model.config.to_dict() == trained.model.config.to_dict()
    wav = torch.randn(1, 2000)
    assert trained(wav).shape == random(wav).shape == (1, 2, 6, 16)
    assert not torch.allclose(trained(wav), random(wav))


def test_balanced_caps_each_class():
    rows = [{"c": c} for c in "aaaabbc"]
    picked = linear_probe.balanced(rows, "c", 2, seed=0)
    assert sorted(r["c"] for r in picked) == ["a", "a", "b", "b", "c"]


def test_undistilled_baseline_is_the_teachers_truncated_copy(tmp_path):
    teacher = random_speech_model("hubert", "tiny", seed=4)
    teacher.save_pretrained(tmp_path)
    student = linear_probe.load_probed_encoder(
        str(tmp_path), [1, 2], False, undistilled_layers=2
    )
    assert student.num_layers == 2
    full = linear_probe.load_probed_encoder(str(tmp_path), [1, 2], False)
    wav = torch.randn(1, 4000)
    # Before distillation the student's layers 1 and 2 are the teacher's.
    assert torch.equal(student(wav), full(wav))


def test_concat_probe_sees_what_the_layers_hold_together():
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(4).repeat(50)
    # layer A knows y's low bit, layer B its high bit: only together do they
    # tell the 4 classes apart
    bits = torch.stack([y % 2, y // 2], dim=1).float()
    x = torch.randn(200, 2, 3, generator=gen) * 0.1
    x[:, 0, 0] += 3 * bits[:, 0]
    x[:, 1, 0] += 3 * bits[:, 1]
    split = [(torch.arange(150), torch.arange(150, 200))]
    acc = linear_probe.probe_layers(x, y, split, [4, 8], True)
    assert set(acc) == {"layer_4", "layer_8", "layers_4+8"}
    assert acc["layers_4+8"] == 1.0
    assert acc["layer_4"] < 0.7 and acc["layer_8"] < 0.7
    assert "layers_4" not in linear_probe.probe_layers(x[:, :1], y, split, [4], True)


def test_cross_validated_accuracy_counts_every_test_row_once():
    y = torch.tensor([0, 1] * 6)
    x = torch.nn.functional.one_hot(y, 2).float()[:, None, :] * 3
    x[:3] = -x[:3]  # rows 0-2 look like the other class: always wrong
    folds = [
        (torch.arange(3, 12), torch.arange(3)),
        (torch.arange(3), torch.arange(3, 12)),
    ]
    # fold 1: 0/3 right; fold 2 (trained on the 3 flipped rows): 0/9 right
    assert linear_probe.probe_layers(x, y, folds, [1])["layer_1"] == 0.0
    folds = [
        (torch.arange(6, 12), torch.arange(3, 6)),
        (torch.arange(3, 9), torch.arange(9, 12)),
    ]
    assert linear_probe.probe_layers(x, y, folds, [1])["layer_1"] == 1.0


def _voxceleb_rows(counts):
    return [
        {"ID": f"id{s}-{u}", "spk_id": f"id{s}", "wav": "x"}
        for s, n in enumerate(counts)
        for u in range(n)
    ]


def test_sid_folds_test_every_utterance_once(monkeypatch):
    monkeypatch.setattr(linear_probe, "prepare_voxceleb1", lambda *a: {"train": "t"})
    monkeypatch.setattr(
        linear_probe, "read_csv_rows", lambda p: _voxceleb_rows([5, 7, 2])
    )
    rows, labels, splits = linear_probe.sid_data("c", "s", folds=3, seed=0)
    assert len(rows) == 12 and labels.tolist().count(2) == 0  # id2 has too few
    tested = torch.cat([test for _, test in splits]).sort().values
    assert tested.tolist() == list(range(12))
    for train, test in splits:
        assert not set(train.tolist()) & set(test.tolist())
        assert set(labels[train].tolist()) == {0, 1}
    with pytest.raises(ValueError, match="2 speakers with at least 6 utterances"):
        linear_probe.sid_data("c", "s", folds=6, seed=0)


def test_cross_session_folds_keep_each_session_whole():
    # speaker a: 3 sessions of 2 utterances; b: 2 sessions; c: a single one
    layout = {"a": ["v1", "v1", "v2", "v2", "v3", "v3"], "b": ["w1", "w2"], "c": ["x"]}
    rows = [
        {"ID": f"{spk}/{video}/{i:05d}.wav", "spk_id": spk}
        for spk, videos in layout.items()
        for i, video in enumerate(videos)
    ]
    splits = linear_probe.cross_session_splits(rows, folds=4)
    assert len(splits) == 3  # a's third session is the most folds used
    session = [linear_probe.session_of(r) for r in rows]
    tested = []
    for train, test in splits:
        seen = {session[i] for i in train.tolist()}
        assert not seen & {session[i] for i in test.tolist()}
        tested += test.tolist()
    # every utterance of a speaker with 2 sessions or more is tested once;
    # c's lone session never is (nothing of c would be left to train on)
    assert sorted(tested) == list(range(8))
    two_folds = linear_probe.cross_session_splits(rows, folds=2)
    assert sorted(t for _, test in two_folds for t in test.tolist()) == list(range(8))
    with pytest.raises(ValueError, match="at least 2 sessions"):
        linear_probe.cross_session_splits(rows[-1:], folds=4)
    with pytest.raises(ValueError, match="<speaker>/<video>/<file>"):
        linear_probe.session_of({"ID": "a-1"})

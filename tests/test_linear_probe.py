"""The linear-probe benchmark's pieces: encoder loading, pooling, the probe."""

import importlib.util
import os

import torch

from kdsrl_lobes.configs import random_speech_model
from kdsrl_lobes.probe import probe_accuracy

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
    acc = linear_probe.probe_layers(x[:150], y[:150], x[150:], y[150:], [4, 8], True)
    assert set(acc) == {"layer_4", "layer_8", "layers_4+8"}
    assert acc["layers_4+8"] == 1.0
    assert acc["layer_4"] < 0.7 and acc["layer_8"] < 0.7
    assert "layers_4" not in linear_probe.probe_layers(
        x[:150, :1], y[:150], x[150:, :1], y[150:], [4], True
    )

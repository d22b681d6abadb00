"""build_student: exact copies, class, round trip, gradients, bad input."""

import pytest
import torch
import transformers

from kdsrl_lobes import (
    DistillationLoss,
    PredictionHeads,
    build_student,
    build_student_encoder,
    load_teacher,
)

from .conftest import ARCHS, STYLES


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("stable", STYLES)
def test_student_copies_teacher_exactly(tiny_teacher_dir, arch, stable):
    teacher = load_teacher(tiny_teacher_dir(arch, stable), layers=[4])
    student = build_student(teacher, num_layers=2)
    assert type(student) is type(teacher.model)
    assert student.config.num_hidden_layers == 2
    assert len(student.encoder.layers) == 2
    teacher_state = teacher.model.state_dict()
    student_state = student.state_dict()
    copied_parts = (
        "feature_extractor.",
        "feature_projection.",
        "encoder.pos_conv_embed.",
        "encoder.layer_norm.",
        "encoder.layers.0.",
        "encoder.layers.1.",
    )
    for part in copied_parts:
        assert any(key.startswith(part) for key in student_state), part
    for key, value in student_state.items():
        assert torch.equal(value, teacher_state[key]), key
    assert not any(key.startswith("encoder.layers.2.") for key in student_state)
    # Copies, not shared storage: training the student leaves the teacher alone.
    first = next(iter(student.parameters()))
    assert first.data_ptr() != next(iter(teacher.model.parameters())).data_ptr()


@pytest.mark.parametrize("arch", ARCHS)
def test_student_round_trip_through_automodel(tiny_teacher_dir, tmp_path, arch):
    student = build_student(
        load_teacher(tiny_teacher_dir(arch), layers=[4]), num_layers=2
    )
    student.eval()
    student.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    loaded = transformers.AutoModel.from_pretrained(tmp_path).eval()
    assert type(loaded) is type(student)
    wav = torch.randn(2, 16000)
    with torch.no_grad():
        torch.testing.assert_close(
            loaded(wav).last_hidden_state,
            student(wav).last_hidden_state,
            rtol=0,
            atol=0,
        )


def test_too_many_layers_is_rejected(tiny_teacher_dir):
    teacher = load_teacher(tiny_teacher_dir(), layers=[2, 4])
    with pytest.raises(ValueError, match="between 1 and the teacher's 4 layers"):
        build_student(teacher, num_layers=5)


def test_gradients_reach_student_and_heads_never_teacher(tiny_teacher_dir):
    teacher = load_teacher(tiny_teacher_dir(), layers=[2, 4])
    student = build_student_encoder(teacher, num_layers=2)
    heads = PredictionHeads(16, 16, target_layers=[2, 4])
    wav, lens = torch.randn(2, 16000), torch.tensor([1.0, 0.7])
    targets = teacher(wav, lens)
    loss, _ = DistillationLoss([2, 4])(heads(student(wav, lens)), targets, lens)
    loss.backward()
    trainable = [p for p in student.parameters() if p.requires_grad]
    assert len(trainable) > 10
    assert all(p.grad is not None for p in trainable)
    assert all(p.grad is not None for p in heads.parameters())
    assert all(p.grad is None for p in teacher.parameters())
    assert student.normalize_waveform == teacher.normalize_waveform

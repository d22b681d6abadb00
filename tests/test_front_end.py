"""The thin front end: frame counts, copied parts, AutoModel round trip, bad
stacks refused, and the MAC counter against a hand computation."""

import pytest
import torch
import transformers

from kdsrl_lobes.evaluation.macs import count_macs
from kdsrl_lobes.models.configs import random_speech_model
from kdsrl_lobes.models.encoder import SSLEncoder
from kdsrl_lobes.models.front_end import (
    FrontEndTap,
    front_end_forward,
    is_front_end_parameter,
    thin_channels,
)
from kdsrl_lobes.models.student import build_student, build_student_encoder


@pytest.fixture(params=["wav2vec2", "hubert", "wavlm"])
def teacher(request):
    model = random_speech_model(request.param, "tiny", conv_dim=(16, 16, 16))
    return model.eval()


def test_thin_student_has_the_teachers_frames_for_any_length(teacher):
    student = build_student(teacher, front_end="thin").eval()
    assert list(student.config.conv_dim) == list(thin_channels((16, 16, 16)))
    assert list(student.config.conv_dim) != list(teacher.config.conv_dim)
    for n in [400, 401, 719, 720, 1000, 16000, 16001, 16319, 16320, 33333]:
        wav = torch.randn(1, n)
        with torch.no_grad():
            got = student(wav).last_hidden_state.shape[1]
            want = teacher(wav).last_hidden_state.shape[1]
        assert got == want, n
        lengths = torch.tensor([n])
        assert torch.equal(
            student._get_feat_extract_output_lengths(lengths),
            teacher._get_feat_extract_output_lengths(lengths),
        )


def test_thin_student_copies_everything_after_the_front_end(teacher):
    student = build_student(teacher, num_layers=2, front_end="thin")
    teacher_state = teacher.state_dict()
    thin_keys = []
    for key, value in student.state_dict().items():
        if is_front_end_parameter(key):
            thin_keys.append(key)
            continue
        assert torch.equal(value, teacher_state[key]), key
    assert any(k.startswith("feature_extractor.") for k in thin_keys)
    assert any(k.startswith("feature_projection.") for k in thin_keys)
    # the new projection still maps to the teacher's hidden size
    tap = FrontEndTap(student, "projection")
    student.eval()(torch.randn(1, 16000))
    assert tap.output.shape[-1] == teacher.config.hidden_size


def test_thin_student_round_trips_through_automodel(teacher, tmp_path):
    student = build_student(teacher, front_end="thin", front_end_channels=[4, 6, 8])
    student.save_pretrained(tmp_path)
    loaded = transformers.AutoModel.from_pretrained(tmp_path).eval()
    assert type(loaded) is type(student)
    assert list(loaded.config.conv_dim) == [4, 6, 8]
    wav = torch.randn(2, 12000)
    with torch.no_grad():
        torch.testing.assert_close(
            loaded(wav).last_hidden_state, student.eval()(wav).last_hidden_state
        )


@pytest.mark.parametrize(
    "kernels, strides, message",
    [
        ([10, 8, 8], [5, 8, 4], "total stride 160 .* teacher's 320"),
        # same total stride, another receptive field: frame counts differ
        ([10, 4, 4], [5, 8, 8], "frames for .* samples"),
    ],
)
def test_thin_front_end_whose_frames_differ_is_refused(
    teacher, kernels, strides, message
):
    with pytest.raises(ValueError, match=message):
        build_student(
            teacher,
            front_end="thin",
            front_end_channels=[4, 4, 4],
            front_end_kernels=kernels,
            front_end_strides=strides,
        )


def test_front_end_options_need_a_thin_front_end(teacher):
    with pytest.raises(ValueError, match="thin front end"):
        build_student(teacher, front_end_channels=[4, 4, 4])
    with pytest.raises(ValueError, match="front_end in"):
        build_student(teacher, front_end="narrow")


def test_student_encoder_passes_the_front_end_on():
    teacher = SSLEncoder(random_speech_model("hubert", "tiny"), layers=[4], freeze=True)
    student = build_student_encoder(
        teacher, front_end="thin", front_end_channels=[2, 2, 2]
    )
    assert list(student.model.config.conv_dim) == [2, 2, 2]
    assert student(torch.randn(2, 16000)).shape == (2, 49, 16)


def test_front_end_forward_equals_the_tap_inside_a_full_pass(teacher):
    wav = torch.randn(2, 16000)
    teacher.eval()
    for point in FrontEndTap.POINTS:
        tap = FrontEndTap(teacher, point)
        with torch.no_grad():
            teacher(wav)
            alone = front_end_forward(teacher, wav, point)
        torch.testing.assert_close(alone, tap.output)
        tap.remove()


def test_mac_count_of_a_tiny_config_matches_a_hand_computation():
    # conv_dim (8, 8, 8), kernels (10, 8, 8), strides (5, 8, 8), hidden 16, on
    # 1 s: frames 3199, 399, 49 after each conv layer
    cnn = 3199 * 8 * 1 * 10 + 399 * 8 * 8 * 8 + 49 * 8 * 8 * 8
    projection = 49 * 8 * 16
    # pos conv: 16 -> 16 channels in 2 groups, kernel 4, on 50 frames (49 + 1 pad)
    pos_conv = 50 * 16 * (16 // 2) * 4
    frames, hidden, ffn = 49, 16, 32
    attention = 4 * frames * hidden * hidden + 2 * frames * frames * hidden
    layer = attention + 2 * frames * hidden * ffn
    macs = count_macs(random_speech_model("hubert", "tiny"))
    assert macs["front_end"] == cnn + projection
    assert macs["transformer"] == pos_conv + 4 * layer
    assert macs["total"] == macs["front_end"] + macs["transformer"] + macs["heads"]
    assert macs["heads"] == 0


def test_thin_student_has_fewer_macs_than_its_copy():
    teacher = random_speech_model("hubert", "tiny", conv_dim=(16, 16, 16))
    copy, thin = build_student(teacher), build_student(teacher, front_end="thin")
    copy_macs, thin_macs = count_macs(copy), count_macs(thin)
    assert thin_macs["front_end"] < copy_macs["front_end"]
    assert thin_macs["transformer"] == copy_macs["transformer"]


def test_sliced_front_end_of_full_width_is_the_teachers(teacher):
    full = build_student(
        teacher, front_end="thin", front_end_channels=teacher.config.conv_dim
    )
    copy = build_student(teacher)
    for key, value in copy.state_dict().items():
        torch.testing.assert_close(full.state_dict()[key], value, msg=key)


def test_sliced_front_end_starts_closer_to_the_teachers_than_random(teacher):
    wav = torch.randn(2, 16000)
    with torch.no_grad():
        want = front_end_forward(teacher, wav)
        errors = {}
        for init in ("slice", "random"):
            torch.manual_seed(0)
            student = build_student(teacher, front_end="thin", front_end_init=init)
            got = front_end_forward(student.eval(), wav)
            errors[init] = float((got - want).abs().mean())
    assert errors["slice"] < errors["random"]


def test_slicing_needs_the_teachers_kernels(teacher):
    # other kernels, the same frames: a random front end is fine, slicing not
    other = dict(front_end_kernels=[5, 9, 8], front_end_channels=[4, 4, 4])
    student = build_student(teacher, front_end="thin", front_end_init="random", **other)
    assert list(student.config.conv_kernel) == [5, 9, 8]
    with pytest.raises(ValueError, match="random initialisation"):
        build_student(teacher, front_end="thin", **other)


def test_thin_student_of_a_layer_norm_cnn_teacher():
    """LARGE style: a LayerNorm after every conv layer, sliced with it."""
    teacher = random_speech_model("wav2vec2", "tiny", stable_layer_norm=True).eval()
    full = build_student(
        teacher, front_end="thin", front_end_channels=teacher.config.conv_dim
    ).eval()
    thin = build_student(teacher, front_end="thin").eval()
    wav = torch.randn(2, 16000)
    with torch.no_grad():
        torch.testing.assert_close(
            front_end_forward(full, wav), front_end_forward(teacher, wav)
        )
        assert thin(wav).last_hidden_state.shape == teacher(wav).last_hidden_state.shape

"""EnsembleTeacher: each aggregation's targets against a hand computation, the
heads, loss and cache that follow from them, and bad input."""

import pytest
import torch

from kdsrl_lobes import (
    DistillationLoss,
    EnsembleTeacher,
    PredictionHeads,
    build_student_encoder,
    load_ensemble_teacher,
)
from kdsrl_lobes.models.configs import random_speech_model
from kdsrl_lobes.models.encoder import SSLEncoder
from kdsrl_lobes.training.teacher_cache import TeacherCache, teacher_fingerprint

LAYERS = [2, 4]


def _teacher(arch, seed=0, layers=LAYERS, **overrides):
    model = random_speech_model(arch, "tiny", seed=seed, **overrides)
    return SSLEncoder(model, layers=layers, freeze=True)


@pytest.fixture(scope="module")
def pair():
    # WavLM normalises its input and the HuBERT teacher does not: each member
    # keeps its own preprocessing inside the ensemble
    hubert = _teacher("hubert", seed=0)
    wavlm = _teacher("wavlm", seed=1)
    wavlm.normalize_waveform = True
    return hubert, wavlm


@pytest.fixture(scope="module")
def batch(pair):
    torch.manual_seed(0)
    wav, lens = torch.randn(2, 4000), torch.tensor([1.0, 0.6])
    return wav, lens, [teacher(wav, lens) for teacher in pair]  # each B x 2 x T x 16


def test_average_is_the_mean_of_each_layer(pair, batch):
    wav, lens, (a, b) = batch
    ensemble = EnsembleTeacher(pair, "average")
    out = ensemble(wav, lens)
    assert out.shape == (2, 2, a.shape[2], 16)
    for k in range(2):
        torch.testing.assert_close(out[:, k], (a[:, k] + b[:, k]) / 2)
    assert ensemble.target_names == ["layer2", "layer4"]
    assert ensemble.hidden_size == 16 and ensemble.layers == LAYERS


def test_concat_puts_teachers_side_by_side_on_the_feature_axis(pair, batch):
    wav, lens, (a, b) = batch
    ensemble = EnsembleTeacher(pair, "concat")
    out = ensemble(wav, lens)
    assert out.shape == (2, 2, a.shape[2], 32) and ensemble.hidden_size == 32
    assert torch.equal(out[..., :16], a) and torch.equal(out[..., 16:], b)
    assert ensemble.target_names == ["layer2", "layer4"]


def test_per_teacher_is_teacher_major(pair, batch):
    wav, lens, (a, b) = batch
    ensemble = EnsembleTeacher(pair, "per_teacher")
    out = ensemble(wav, lens)
    assert out.shape == (2, 4, a.shape[2], 16)
    for k, expected in enumerate([a[:, 0], a[:, 1], b[:, 0], b[:, 1]]):
        assert torch.equal(out[:, k], expected)
    assert ensemble.target_names == ["t0_layer2", "t0_layer4", "t1_layer2", "t1_layer4"]


def test_teachers_stay_frozen_and_preprocess_their_own_way(pair, batch):
    wav = batch[0]
    ensemble = EnsembleTeacher(pair, "per_teacher").train()
    assert not any(p.requires_grad for p in ensemble.parameters())
    assert all(not t.model.training for t in ensemble.teachers)
    out = ensemble(wav)
    mean, var = wav.mean(1, keepdim=True), wav.var(1, unbiased=False, keepdim=True)
    with torch.no_grad():
        raw = pair[0].model(wav, output_hidden_states=True).hidden_states[2]
        normed = (wav - mean) / torch.sqrt(var + 1e-7)
        wavlm = pair[1].model(normed, output_hidden_states=True).hidden_states[2]
    torch.testing.assert_close(out[:, 0], raw)  # HuBERT: the raw waveform
    torch.testing.assert_close(out[:, 2], wavlm)  # WavLM: normalised first
    assert ensemble.model_types == ["hubert", "wavlm"]


def test_heads_and_loss_follow_the_targets(pair, batch):
    wav, lens, _ = batch
    ensemble = EnsembleTeacher(pair, "per_teacher")
    names = ensemble.target_names
    heads = PredictionHeads(16, ensemble.hidden_size, LAYERS, target_names=names)
    heads.check_teacher(ensemble.num_layers, ensemble.hidden_size, "ensemble", names)
    student = build_student_encoder(ensemble, init_teacher=1)
    preds = heads(student(wav, lens))
    targets = ensemble(wav, lens)
    assert preds.shape == targets.shape
    loss_fn = DistillationLoss(LAYERS, target_names=names)
    total, terms = loss_fn(preds, targets, lens)
    assert sorted(terms) == sorted(loss_fn.term_names())
    assert "l1_t1_layer4" in terms and "cos_t0_layer2" in terms
    assert total.item() == pytest.approx(sum(v.item() for v in terms.values()))
    with pytest.raises(ValueError, match=r"predict \['layer2', 'layer4'\] but the"):
        PredictionHeads(16, 16, LAYERS).check_teacher(4, 16, "ensemble", names)
    with pytest.raises(ValueError, match=r"for targets \['t0_layer2'"):
        loss_fn(preds[:, :2], targets[:, :2])


def test_student_starts_from_the_chosen_teacher(pair):
    ensemble = EnsembleTeacher(pair, "average")
    for which, arch in ((None, "HubertModel"), (1, "WavLMModel"), ("wavlm", "WavLM")):
        student = build_student_encoder(ensemble, num_layers=1, init_teacher=which)
        assert type(student.model).__name__.startswith(arch)
    student = build_student_encoder(ensemble, num_layers=1, init_teacher="wavlm")
    assert student.normalize_waveform and not student.freeze
    with pytest.raises(ValueError, match="found 'wav2vec2'; the teachers are teacher"):
        ensemble.index("wav2vec2")
    with pytest.raises(ValueError, match="index 2 requested but the ensemble has 2"):
        ensemble.index(2)
    with pytest.raises(ValueError, match="init_teacher chooses a member"):
        build_student_encoder(pair[0], init_teacher=0)


def test_cache_hit_equals_miss_and_fingerprint_covers_order_and_aggregation(
    pair, tmp_path
):
    ensemble = EnsembleTeacher(pair, "concat")
    cache = TeacherCache(ensemble, str(tmp_path))
    wav, lens = torch.randn(2, 8000), torch.tensor([1.0, 0.55])
    keys = ["a@0-8000", "b@0-4400"]
    miss = cache(wav, lens, keys)
    hit = cache(wav, lens, keys)
    assert (cache.misses, cache.hits) == (2, 2)
    assert miss.shape == (2, 2, 24, 32) and torch.equal(miss, hit)
    n = int(ensemble.num_frames(torch.tensor(4400)))
    assert torch.all(miss[1, :, n:] == 0), "padded frames must be zero"
    torch.testing.assert_close(
        miss[1, :, :n], ensemble(wav, lens)[1, :, :n], atol=2e-2, rtol=2e-3
    )
    hubert, wavlm = pair
    prints = {
        teacher_fingerprint(EnsembleTeacher(teachers, aggregation))
        for teachers in ((hubert, wavlm), (wavlm, hubert))
        for aggregation in ("average", "concat", "per_teacher")
    }
    assert len(prints) == 6
    other = _teacher("wavlm", seed=2)
    other.normalize_waveform = True
    assert teacher_fingerprint(EnsembleTeacher([hubert, other])) != teacher_fingerprint(
        EnsembleTeacher(pair)
    )
    assert teacher_fingerprint(EnsembleTeacher(pair)) == teacher_fingerprint(
        EnsembleTeacher(pair)
    )


def test_bad_aggregation_and_lone_average(pair):
    with pytest.raises(ValueError, match="Unknown aggregation 'mean': expected one"):
        EnsembleTeacher(pair, "mean")
    with pytest.raises(
        ValueError, match="'average' needs at least 2 teachers, found 1"
    ):
        EnsembleTeacher(pair[:1], "average")
    assert EnsembleTeacher(pair[:1], "per_teacher").target_names == [
        "t0_layer2",
        "t0_layer4",
    ]


def test_hidden_sizes_that_differ_are_named():
    small, wide = _teacher("hubert"), _teacher("wavlm", hidden_size=24)
    for aggregation in ("average", "per_teacher"):
        with pytest.raises(
            ValueError, match=r"has 16, teacher 1 \(wavlm, wavlm\) has 24"
        ):
            EnsembleTeacher([small, wide], aggregation)
    assert EnsembleTeacher([small, wide], "concat").hidden_size == 40


def test_frame_counts_that_differ_are_named():
    slow = _teacher("wavlm", conv_stride=(5, 8, 16))
    with pytest.raises(ValueError, match=r"frame counts .* teacher 0 \(hubert, hubert"):
        EnsembleTeacher([_teacher("hubert"), slow], "concat")


def test_members_must_be_frozen_with_the_same_layers():
    with pytest.raises(
        ValueError, match=r"returns \[2, 4\], teacher 1 .* returns \[4\]"
    ):
        EnsembleTeacher([_teacher("hubert"), _teacher("wavlm", layers=[4])], "concat")
    trainable = SSLEncoder(random_speech_model("wavlm", "tiny"), layers=LAYERS)
    with pytest.raises(ValueError, match="Expected frozen teachers"):
        EnsembleTeacher([_teacher("hubert"), trainable], "concat")


def test_loader_names_the_teacher_that_lacks_a_layer(tiny_teacher_dir, tmp_path):
    shallow = str(tmp_path / "shallow")
    random_speech_model("wavlm", "tiny", num_hidden_layers=2).save_pretrained(shallow)
    with pytest.raises(
        ValueError, match=f"Layer\\(s\\) \\[4\\] requested but {shallow}"
    ):
        load_ensemble_teacher([tiny_teacher_dir("hubert"), shallow], LAYERS, "concat")
    with pytest.raises(ValueError, match="Unknown aggregation 'sum'"):
        load_ensemble_teacher([tiny_teacher_dir("hubert"), shallow], LAYERS, "sum")
    with pytest.raises(ValueError, match="a list of teacher sources, found the string"):
        load_ensemble_teacher(tiny_teacher_dir("hubert"), LAYERS, "concat")
    ensemble = load_ensemble_teacher(
        [tiny_teacher_dir("hubert"), tiny_teacher_dir("wavlm")], LAYERS, "average"
    )
    assert ensemble.sources == [tiny_teacher_dir("hubert"), tiny_teacher_dir("wavlm")]
    assert ensemble.index(tiny_teacher_dir("wavlm")) == 1

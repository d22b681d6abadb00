"""The HuBERT and wav2vec 2.0 pre-training objectives on a fixed batch."""

import numpy as np
import pytest
import torch
import transformers

from kdsrl_lobes import load_teacher
from kdsrl_lobes.models.configs import speech_config
from kdsrl_lobes.pretrain import (
    ChannelViews,
    ClusterTargets,
    HubertPretrainer,
    Wav2Vec2Pretrainer,
    training_features,
)

W2V_TINY = dict(
    num_negatives=10,
    codevector_dim=8,
    proj_codevector_dim=8,
    num_codevectors_per_group=8,
)


def _batch():
    gen = torch.Generator().manual_seed(0)
    t = torch.arange(4000) / 16000
    tones = [torch.sin(2 * torch.pi * f * t) for f in (200.0, 700.0, 1500.0)]
    wav = torch.stack(
        [
            torch.cat([tones[i % 3][:2000], tones[(i + 1) % 3][:2000]])
            + 0.05 * torch.randn(4000, generator=gen)
            for i in range(4)
        ]
    )
    return wav, torch.tensor([1.0, 1.0, 0.8, 0.6])


# The CNN frames that hold speech, computed by hand for the tiny CNN (kernels
# 10, 8, 8; strides 5, 8, 8): 4000 samples -> 12 frames, 3200 -> 9, 2400 -> 7.
# Row 2 is the discriminating one: rounding the relative length (0.8 * 12) would
# wrongly give 10 valid frames.
VALID = torch.arange(12)[None] < torch.tensor([12, 12, 9, 7])[:, None]


def _hubert():
    wav, lens = _batch()
    targets = ClusterTargets(num_clusters=8)
    targets.fit(training_features(list(wav), frame_stride=320))
    torch.manual_seed(0)
    cfg = speech_config("hubert", "tiny", num_hidden_layers=2)
    return HubertPretrainer(cfg, targets, final_dim=8, mask_length=4)


def _wav2vec2():
    torch.manual_seed(0)
    cfg = speech_config("wav2vec2", "tiny", num_hidden_layers=2, **W2V_TINY)
    return Wav2Vec2Pretrainer(cfg, mask_length=4)


def _train(model, steps):
    wav, lens = _batch()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(steps):
        np.random.seed(0)  # the same masks and negatives every step
        out = model(wav, lens)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(out["loss"].item())
    return losses, out


@pytest.mark.parametrize("make", [_hubert, _wav2vec2], ids=["hubert", "wav2vec2"])
def test_loss_is_finite_and_decreases_on_a_fixed_batch(make):
    model = make()
    losses, out = _train(model, 12)
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.85 * losses[0]
    assert out["mask"].shape == VALID.shape
    assert not (out["mask"] & ~VALID).any()  # nothing masked in the padding
    assert out["mask"].any(dim=1).all()  # every utterance has masked frames


def test_hubert_loss_is_cross_entropy_of_masked_frames_only():
    model = _hubert().eval()
    wav, lens = _batch()
    np.random.seed(0)
    out = model(wav, lens)
    logits, targets, mask = out["logits"], out["targets"], out["mask"]
    assert torch.equal(targets != -100, VALID)  # targets only on speech frames
    assert (targets[mask] >= 0).all()
    manual = -torch.log_softmax(logits[mask], dim=-1)
    manual = manual.gather(1, targets[mask][:, None]).mean()
    assert torch.allclose(out["loss"], manual, atol=1e-5)
    # the masked frames really are replaced by masked_spec_embed
    with torch.no_grad():
        model.hubert.masked_spec_embed.add_(5.0)
    np.random.seed(0)
    assert not torch.allclose(model(wav, lens)["logits"], logits)


def test_hubert_unmasked_weight_adds_the_unmasked_frames_cross_entropy():
    model = _hubert().eval()
    wav, lens = _batch()
    np.random.seed(0)
    masked_only = model(wav, lens)
    model.unmasked_weight = 0.5
    np.random.seed(0)
    both = model(wav, lens)
    logits, targets, mask = both["logits"], both["targets"], both["mask"]
    unmasked = ~mask & (targets >= 0)
    assert unmasked.any() and torch.equal(mask, masked_only["mask"])
    manual = -torch.log_softmax(logits[unmasked], dim=-1)
    manual = manual.gather(1, targets[unmasked][:, None]).mean()
    assert torch.allclose(both["loss"], masked_only["loss"] + 0.5 * manual, atol=1e-5)
    with pytest.raises(ValueError, match="unmasked_weight"):
        HubertPretrainer(model.hubert.config, model.targets, unmasked_weight=-1.0)


def test_wav2vec2_gumbel_temperature_anneals_per_update():
    model = _wav2vec2()
    model.gumbel_decay = 0.5
    wav, lens = _batch()
    assert model.gumbel_temperature == 2.0
    used = []
    for _ in range(4):
        # gradient accumulation: two forward passes make one optimiser update
        model(wav, lens)
        used.append(model.model.quantizer.temperature)
        model(wav, lens)
        used.append(model.model.quantizer.temperature)
        model.on_optimizer_step()
    assert used == [2.0, 2.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5]  # 2 * 0.5**updates
    model.eval()
    model(wav, lens)  # evaluation does not count as an update
    assert int(model.num_updates) == 4


@pytest.mark.parametrize("make", [_hubert, _wav2vec2], ids=["hubert", "wav2vec2"])
def test_saved_teacher_loads_and_matches_the_trained_encoder(make, tmp_path):
    model = make()
    _train(model, 2)
    model.save_teacher(str(tmp_path))
    auto = transformers.AutoModel.from_pretrained(str(tmp_path))
    assert type(auto) is type(model.encoder)
    teacher = load_teacher(str(tmp_path), layers=[1, 2])
    assert teacher.normalize_waveform and not teacher.use_attention_mask
    wav = torch.randn(1, 4000)
    expected = model.encoder.eval()(
        (wav - wav.mean()) / wav.std(unbiased=False), output_hidden_states=True
    ).hidden_states[2]
    assert torch.allclose(teacher(wav)[:, 1], expected, atol=1e-4)
    assert model.encoder.config.apply_spec_augment  # saving left training as is


def test_wav2vec2_unmasked_weight_adds_a_term_linear_in_its_weight():
    model = _wav2vec2().eval()  # eval: hard (deterministic) quantiser choice
    wav, lens = _batch()
    outs = {}
    for weight in (0.0, 0.5, 1.0):
        model.unmasked_weight = weight
        np.random.seed(0)  # the same masks and negatives
        outs[weight] = model(wav, lens)
    assert torch.equal(outs[0.0]["mask"], outs[1.0]["mask"])
    assert torch.allclose(outs[0.0]["contrastive_loss"], outs[1.0]["contrastive_loss"])
    extra = outs[1.0]["loss"] - outs[0.0]["loss"]
    assert extra > 0
    assert torch.allclose(outs[0.5]["loss"] - outs[0.0]["loss"], extra / 2, atol=1e-5)


def test_wav2vec2_lone_utterance_gets_only_same_utterance_distractors():
    cfg = speech_config("wav2vec2", "tiny", **W2V_TINY)
    model = Wav2Vec2Pretrainer(cfg, mask_length=3, cross_sample_negatives=5)
    wav, lens = _batch()
    assert torch.isfinite(model(wav, lens)["loss"])  # 4 utterances: cross ones
    out = model(wav[:1], lens[:1])  # a data set's last batch of one utterance
    assert torch.isfinite(out["loss"]) and out["contrastive_loss"] > 0


def _quantizer_inputs(model):
    seen = []
    model.model.quantizer.register_forward_pre_hook(
        lambda module, args: seen.append(args[0])
    )
    return seen


def test_wav2vec2_channel_views_quantise_the_other_recording():
    torch.manual_seed(0)
    cfg = speech_config("wav2vec2", "tiny", num_hidden_layers=2, **W2V_TINY)
    views = ChannelViews(seed=0)
    model = Wav2Vec2Pretrainer(cfg, mask_length=4, channel_views=views)
    wav, lens = _batch()
    recorded = []
    record = views.record
    views.record = lambda *a: recorded.append(record(*a)) or recorded[-1]
    quantized = _quantizer_inputs(model)
    contexts = []
    model.encoder.feature_extractor.register_forward_hook(
        lambda module, args, out: contexts.append(args[0])
    )
    out = model(wav, lens)
    assert torch.isfinite(out["loss"])
    out["loss"].backward()  # the target view's CNN pass is trained too
    assert model.encoder.feature_extractor.conv_layers[0].conv.weight.grad is not None
    # two recordings: the first is the context network's input, the second's
    # CNN features (layer-normed) are what the quantiser gets
    context_view, target_view = recorded
    assert not torch.allclose(context_view, target_view)
    wav_in, _, _ = model.prepare(context_view, lens)
    assert torch.allclose(contexts[1], wav_in)  # the context pass, after the target's
    expected = model._target_view_features(target_view, lens)
    assert torch.allclose(quantized[0], expected, atol=1e-5)
    assert model._target_features is None  # nothing left for a later call
    # out of training the quantiser takes the input's own features
    model.eval()
    quantized.clear()
    np.random.seed(0)
    model(wav, lens)
    own = model._target_view_features(wav, lens)
    assert torch.allclose(quantized[0], own, atol=1e-5)


def test_channel_views_are_two_recordings_that_keep_the_padding():
    views = ChannelViews(seed=3, noise_prob=1.0)
    wav, lens = _batch()
    a, b = views(wav, lens)
    assert a.shape == b.shape == wav.shape
    assert (a[3, 2400:] == 0).all() and (b[2, 3200:] == 0).all()
    assert a[3, :2400].abs().max() > 0
    assert not torch.allclose(a, b)
    again, _ = ChannelViews(seed=3, noise_prob=1.0)(wav, lens)
    assert torch.equal(a, again)  # the seed fixes the draws
    with pytest.raises(ValueError, match="noise_prob in"):
        ChannelViews(noise_prob=1.5)
    with pytest.raises(ValueError, match=r"\[batch, time\] audio"):
        views.record(wav[0])


def test_channel_views_leave_the_global_rng_alone():
    wav, lens = _batch()
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    ChannelViews(seed=0, noise_prob=1.0)(wav, lens)
    assert torch.equal(torch.rand(3), expected)


def test_channel_views_resume_from_the_model_checkpoint(tmp_path):
    """The views' random state is in the model's state_dict: a model restored
    from a checkpoint draws what the uninterrupted one draws next."""
    cfg = speech_config("wav2vec2", "tiny", num_hidden_layers=2, **W2V_TINY)
    wav, lens = _batch()
    model = Wav2Vec2Pretrainer(cfg, channel_views=ChannelViews(seed=1, noise_prob=1.0))
    model.channel_views(wav, lens)  # the first "epoch"
    torch.save(model.state_dict(), tmp_path / "model.ckpt")
    uninterrupted = model.channel_views(wav, lens)
    resumed = Wav2Vec2Pretrainer(
        cfg, channel_views=ChannelViews(seed=1, noise_prob=1.0)
    )
    resumed.load_state_dict(torch.load(tmp_path / "model.ckpt", weights_only=True))
    again = resumed.channel_views(wav, lens)
    assert torch.equal(again[0], uninterrupted[0])
    assert torch.equal(again[1], uninterrupted[1])


def test_channel_views_do_not_use_the_test_sets_channel_model():
    """Pre-training augmentation must not know how the embedded test sets were
    recorded: views.py imports nothing from kdsrl_lobes.data."""
    import ast
    import inspect

    from kdsrl_lobes.pretrain import views

    tree = ast.parse(inspect.getsource(views))
    imported = [
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    assert not [m for m in imported if m and m.startswith("kdsrl_lobes.data")]
    assert any(m.startswith("speechbrain.augment") for m in imported if m)


def test_wav2vec2_code_statistics_measure_how_codes_change_over_time():
    cfg = speech_config("wav2vec2", "tiny", num_codevectors_per_group=4)
    model = Wav2Vec2Pretrainer(cfg, mask_length=2)
    wav = torch.randn(2, 6400)
    # a quantiser that ignores its input gives one code everywhere
    torch.nn.init.zeros_(model.model.quantizer.weight_proj.weight)
    with torch.no_grad():
        model.model.quantizer.weight_proj.bias.copy_(torch.arange(8.0))
    stats = model.code_statistics(wav, torch.tensor([1.0, 0.5]))
    assert stats["adjacent_agreement"] == 1.0
    assert stats["codes_used"] == [1, 1]
    assert stats["confidence"] == pytest.approx(torch.softmax(torch.arange(4.0), 0)[-1])
    # one that flips its code at every frame never agrees with the next one
    frames = int(model.encoder._get_feat_extract_output_lengths(torch.tensor(6400)))
    flip = torch.tensor([(-1.0) ** t for t in range(frames)])
    # a CNN whose output (B x C x T) flips sign at every frame, quantised as is
    model.encoder.feature_extractor.forward = lambda wav: flip.expand(2, 8, frames)
    model.encoder.feature_projection.layer_norm = torch.nn.Identity()
    torch.nn.init.zeros_(model.model.quantizer.weight_proj.bias)
    with torch.no_grad():
        model.model.quantizer.weight_proj.weight.fill_(1.0)
        model.model.quantizer.weight_proj.weight[1::4] = -1.0
    stats = model.code_statistics(wav)
    assert stats["adjacent_agreement"] == 0.0
    assert stats["codes_used"] == [2, 2]
    assert stats["feature_similarity"] == pytest.approx(-1.0)


def test_cnn_feature_similarity_tells_smooth_from_unrelated_frames():
    from kdsrl_lobes.pretrain.diagnostics import cnn_feature_similarity

    class FakeCNN(torch.nn.Module):
        def __init__(self, features):
            super().__init__()
            self.features = features  # B x T x C

        def feature_extractor(self, wav):
            return self.features.transpose(1, 2)

    gen = torch.Generator().manual_seed(0)
    valid = torch.ones(2, 50, dtype=torch.bool)
    noise = torch.randn(2, 50, 16, generator=gen)
    assert abs(cnn_feature_similarity(FakeCNN(noise), None, valid)) < 0.1
    slow = torch.cumsum(noise, dim=1)  # a random walk: neighbours alike
    assert cnn_feature_similarity(FakeCNN(slow), None, valid) > 0.7
    # padding frames are left out
    padded = slow.clone()
    padded[1, 25:] = torch.randn(25, 16, generator=gen) * 100
    valid[1, 25:] = False
    assert cnn_feature_similarity(FakeCNN(padded), None, valid) > 0.7
    with pytest.raises(ValueError, match=r"frame mask of shape \[2, 50\]"):
        cnn_feature_similarity(FakeCNN(slow), None, valid[:, :10])

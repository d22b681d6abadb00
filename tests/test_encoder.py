"""SSLEncoder / load_teacher: loading, layer selection, masking, bad input."""

import json
import os

import pytest
import torch
import transformers

from kdsrl_lobes import load_encoder, load_teacher
from kdsrl_lobes.models.configs import random_speech_model
from kdsrl_lobes.models.encoder import SSLEncoder, normalize_waveform

from .conftest import ARCHS, STYLES


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("stable", STYLES)
def test_teacher_returns_requested_hidden_states(tiny_teacher_dir, arch, stable):
    source = tiny_teacher_dir(arch, stable)
    teacher = load_teacher(source, layers=[0, 2, 4])
    wav = torch.randn(2, 16000)
    out = teacher(wav)
    hf = transformers.AutoModel.from_pretrained(source).eval()
    with torch.no_grad():
        ref = hf(wav, output_hidden_states=True).hidden_states
    assert out.shape == (2, 3, ref[0].shape[1], 16)
    for k, layer in enumerate([0, 2, 4]):
        torch.testing.assert_close(out[:, k], ref[layer])


def test_teacher_is_frozen_and_stays_in_eval(tiny_teacher_dir):
    teacher = load_teacher(tiny_teacher_dir(), layers=[2, 4])
    teacher.train()
    assert not teacher.model.training
    assert all(not p.requires_grad for p in teacher.parameters())
    wav = torch.randn(1, 16000, requires_grad=True)
    assert not teacher(wav).requires_grad


def test_layer_the_teacher_lacks_is_rejected(tiny_teacher_dir):
    with pytest.raises(
        ValueError, match=r"Layer\(s\) \[8, 12\] requested .* 4 transformer"
    ):
        load_teacher(tiny_teacher_dir(), layers=[4, 8, 12])


def test_directory_without_config_is_rejected(tmp_path):
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        load_teacher(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_teacher(str(tmp_path / "missing" / "teacher"))


def test_unsupported_architecture_is_rejected(tmp_path):
    bert = transformers.BertConfig(
        hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8
    )
    transformers.BertModel(bert).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="'bert' model; expected one of"):
        load_teacher(str(tmp_path))


def test_audio_must_be_batch_time(tiny_teacher_dir):
    teacher = load_teacher(tiny_teacher_dir(), layers=[2, 4])
    with pytest.raises(ValueError, match=r"Expected \[batch, time\] audio, found"):
        teacher(torch.randn(2, 1, 16000))


@pytest.mark.parametrize("arch", ARCHS)
def test_padding_does_not_change_valid_frames(tiny_teacher_dir, arch):
    # LARGE style (layer-norm CNN) with an attention mask is padding-invariant.
    encoder = load_encoder(tiny_teacher_dir(arch, True), use_attention_mask=True)
    encoder.eval()
    short = torch.randn(1, 12000)
    padded = torch.cat([short, 5 * torch.randn(1, 8000)], dim=1)
    batch = torch.cat([padded, torch.randn(1, 20000)])
    alone = encoder(short)
    together = encoder(batch, torch.tensor([0.6, 1.0]))
    frames = alone.shape[1]
    torch.testing.assert_close(together[:1, :frames], alone, atol=1e-5, rtol=1e-4)


def test_normalisation_matches_transformers_feature_extractor():
    # With an attention mask, transformers normalises over the valid samples only.
    extractor = transformers.Wav2Vec2FeatureExtractor(
        do_normalize=True, return_attention_mask=True
    )
    a, b = torch.randn(1000) * 3 + 1, torch.randn(600) * 0.2
    ref = extractor(
        [a.numpy(), b.numpy()], sampling_rate=16000, padding=True, return_tensors="pt"
    ).input_values
    batch = torch.zeros(2, 1000)
    batch[0], batch[1, :600] = a, b
    mask = torch.arange(1000)[None] < torch.tensor([[1000], [600]])
    torch.testing.assert_close(normalize_waveform(batch, mask), ref, atol=1e-4, rtol=0)


def test_preprocessing_is_read_from_preprocessor_config(tiny_teacher_dir, tmp_path):
    encoder = load_encoder(tiny_teacher_dir())
    assert (encoder.normalize_waveform, encoder.use_attention_mask) == (False, False)
    encoder.normalize_waveform = True
    encoder.save_pretrained(str(tmp_path))
    with open(os.path.join(tmp_path, "preprocessor_config.json")) as f:
        assert json.load(f)["do_normalize"] is True
    assert load_encoder(str(tmp_path)).normalize_waveform is True


def test_trainable_encoder_gets_gradients():
    encoder = SSLEncoder(random_speech_model("hubert", "tiny"))
    encoder.train()
    encoder(torch.randn(2, 16000)).pow(2).mean().backward()
    assert all(p.grad is not None for p in encoder.model.encoder.parameters())


def test_preprocessing_is_read_from_the_weights_revision_and_cache(
    tiny_teacher_dir, monkeypatch, tmp_path
):
    """Weights and preprocessing come from the same revision and cache folder."""
    calls = []
    real = transformers.AutoFeatureExtractor.from_pretrained

    def spy(source, *args, **kwargs):
        calls.append((source, kwargs))
        return real(source, *args, **kwargs)

    monkeypatch.setattr(transformers.AutoFeatureExtractor, "from_pretrained", spy)
    source = tiny_teacher_dir()
    cache = str(tmp_path / "hf_cache")
    load_encoder(source, cache_dir=cache, revision="main")
    assert calls, "the preprocessing config was not read"
    assert all(
        kw.get("revision") == "main" and kw.get("cache_dir") == cache for _, kw in calls
    ), calls

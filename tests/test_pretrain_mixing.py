"""WavLM's utterance mixing and the teachers that hear altered audio (WavLM,
RobustHuBERT-style): what is mixed in, at what energy, that the targets stay
the clean primary utterance's, and that the draws resume exactly."""

import pytest
import torch

from kdsrl_lobes.models.configs import speech_config
from kdsrl_lobes.pretrain import (
    ChannelViews,
    ClusterTargets,
    HubertPretrainer,
    UtteranceMixing,
    WavLMPretrainer,
)


def batch(n=3, samples=8000, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (
        torch.randn(n, samples, generator=gen) * torch.tensor([[1.0], [0.1], [3.0]])[:n]
    )


def test_mixing_adds_one_segment_of_another_utterance_at_the_drawn_ratio():
    wav = batch()
    mix = UtteranceMixing(mix_prob=1.0, energy_ratio_low=3.0, energy_ratio_high=3.0)
    out = mix(wav)
    for i in range(3):
        added = out[i] - wav[i]
        changed = added.nonzero().flatten()
        assert len(changed) > 0
        span = int(changed.max() - changed.min()) + 1
        assert span <= 0.5 * wav.shape[1]  # at most half the primary
        segment = added[changed.min() : changed.max() + 1]
        # the segment is a scaled copy of a piece of another utterance
        found = False
        for j in range(3):
            if j == i:
                continue
            for start in range(wav.shape[1] - span + 1):
                piece = wav[j, start : start + span]
                scale = segment @ piece / (piece @ piece)
                if torch.allclose(segment, scale * piece, atol=1e-4):
                    found = True
                    ratio = wav[i].pow(2).mean() / (scale**2 * piece.pow(2).mean())
                    assert 10 * torch.log10(ratio) == pytest.approx(3.0, abs=1e-3)
                    break
            if found:
                break
        assert found, f"utterance {i}: the added audio is no other utterance's"


def test_mixing_probability_padding_and_single_utterance_batches():
    wav = batch()
    assert torch.equal(UtteranceMixing(mix_prob=0.0)(wav), wav)
    assert torch.equal(UtteranceMixing(mix_prob=1.0)(wav[:1]), wav[:1])
    lens = torch.tensor([1.0, 0.5, 0.25])
    out = UtteranceMixing(mix_prob=1.0)(
        wav * (torch.arange(8000) < lens[:, None] * 8000), lens
    )
    assert out[1, 4000:].abs().max() == 0 and out[2, 2000:].abs().max() == 0
    many = UtteranceMixing(mix_prob=0.3, seed=1)
    mixed = sum(
        bool((many(wav) != wav).any(dim=1)[i]) for _ in range(200) for i in range(3)
    )
    assert 0.2 < mixed / 600 < 0.4
    with pytest.raises(ValueError, match="mix_prob"):
        UtteranceMixing(mix_prob=1.5)
    with pytest.raises(ValueError, match=r"\[batch, time\]"):
        UtteranceMixing()(torch.randn(8000))


def test_mixing_draws_resume_from_the_saved_state_and_leave_the_global_rng():
    wav = batch()
    mix = UtteranceMixing(mix_prob=0.5, seed=3)
    mix(wav)
    state = {k: v.clone() for k, v in mix.state_dict().items()}
    torch.manual_seed(0)
    expected = torch.rand(())
    torch.manual_seed(0)
    after = mix(wav)
    assert torch.rand(()) == expected  # the global RNG did not move
    resumed = UtteranceMixing(mix_prob=0.5, seed=99)
    resumed.load_state_dict(state)
    assert torch.equal(resumed(wav), after)


def fitted_targets():
    targets = ClusterTargets(num_clusters=5)
    targets.fit(torch.randn(200, 39), seed=0)
    return targets


@pytest.mark.parametrize("variant", ["wavlm", "robust_hubert"])
def test_altered_input_teachers_keep_the_clean_targets(variant):
    if variant == "wavlm":
        model = WavLMPretrainer(
            speech_config("wavlm", "tiny"),
            fitted_targets(),
            final_dim=8,
            mask_length=3,
            utterance_mixing=UtteranceMixing(mix_prob=1.0),
        )
    else:
        model = HubertPretrainer(
            speech_config("hubert", "tiny"),
            fitted_targets(),
            final_dim=8,
            mask_length=3,
            distortion=ChannelViews(noise_prob=1.0, snr_low=0.0, snr_high=0.0),
        )
    clean = HubertPretrainer(
        speech_config("hubert", "tiny"), model.targets, final_dim=8
    )
    wav, lens = batch(), torch.tensor([1.0, 0.8, 1.0])
    torch.manual_seed(0)
    out = model.train()(wav, lens)
    torch.manual_seed(0)
    reference = clean.train()(wav, lens)
    assert torch.equal(out["targets"], reference["targets"])  # from the clean audio
    # in training the encoder hears the altered audio, in evaluation the clean one
    normalised = model.prepare(wav, lens)[0]
    assert not torch.allclose(model.train().heard(wav, lens, normalised), normalised)
    assert torch.equal(model.eval().heard(wav, lens, normalised), normalised)


def test_a_config_of_another_family_is_refused():
    with pytest.raises(ValueError, match="Expected a wavlm config, found 'hubert'"):
        WavLMPretrainer(speech_config("hubert", "tiny"), fitted_targets())
    with pytest.raises(ValueError, match="Expected a hubert config, found 'wavlm'"):
        HubertPretrainer(speech_config("wavlm", "tiny"), fitted_targets())

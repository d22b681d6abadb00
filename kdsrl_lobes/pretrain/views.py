"""Two recordings of each training utterance, through independent random channels.

`Wav2Vec2Pretrainer` (``channel_views``) feeds one to the context network and
quantises the other into the contrastive targets. The context network cannot
know the second channel, so codes that carry it cannot be predicted and the
codebook drops it; distractors from other utterances then differ from the
positive by content and speaker, no longer by recording. Without this, what
tells the embedded pre-training utterances apart is their chapter's recording
as much as their speaker, and the teacher learns no speaker information that
carries over to another session (``recipes/LibriSpeech/pretrain/README.md``).

The channels are drawn by the corpus generator's channel model
(`kdsrl_lobes.data.channel`: synthetic room impulse response, device band and
colour, noise, level), written by hand because SpeechBrain's ``AddReverb`` and
``AddNoise`` replay recorded impulse responses and noises, and none may be
downloaded here.

Authors
 * kdsrl team 2026
"""

import numpy as np
import torch

from kdsrl_lobes.data.channel import ChannelProfile, apply_channel, sample_channel
from kdsrl_lobes.data.render import GSC_DEVICE, LIBRI_CHAPTER, VOX_SESSION

#: The corpus generator's channel ranges, by name.
PROFILES: dict[str, ChannelProfile] = {
    "voxceleb_session": VOX_SESSION,
    "librispeech_chapter": LIBRI_CHAPTER,
    "gsc_device": GSC_DEVICE,
}


class ChannelViews:
    """Records a batch twice, each utterance through two independent channels.

    Arguments
    ---------
    profile : str
        A key of `PROFILES`: the ranges each channel is drawn from.
    seed : int
        Seed of the channel draws and noise.

    Example
    -------
    >>> views = ChannelViews("voxceleb_session", seed=0)
    >>> a, b = views(torch.randn(2, 8000) * 0.1, torch.tensor([1.0, 0.5]))
    >>> a.shape, bool(a[1, 4000:].abs().max() == 0), bool((a - b).abs().max() > 0)
    (torch.Size([2, 8000]), True, True)
    """

    def __init__(self, profile: str = "voxceleb_session", seed: int = 0):
        if profile not in PROFILES:
            raise ValueError(
                f"Unknown channel profile '{profile}': expected one of "
                f"{sorted(PROFILES)}"
            )
        self.profile = PROFILES[profile]
        self.rng = np.random.default_rng(seed)

    def record(self, wav: torch.Tensor, wav_lens: torch.Tensor | None = None):
        """``wav`` ``[batch, time]``, each utterance's valid samples through a
        fresh random channel (on the CPU: the channel model is numpy); padding
        stays zero."""
        if wav.dim() != 2:
            raise ValueError(f"Expected [batch, time] audio, found {list(wav.shape)}")
        if wav_lens is None:
            wav_lens = torch.ones(len(wav))
        lengths = (wav_lens.cpu() * wav.shape[1]).round().long().tolist()
        audio = wav.detach().cpu().float().numpy()
        out = np.zeros_like(audio)
        for i, n in enumerate(lengths):
            channel = sample_channel(self.rng, self.profile)
            out[i, :n] = apply_channel(audio[i, :n], channel, self.rng)
        return torch.from_numpy(out).to(device=wav.device, dtype=wav.dtype)

    def __call__(self, wav: torch.Tensor, wav_lens: torch.Tensor | None = None):
        """Two independent recordings of the batch."""
        return self.record(wav, wav_lens), self.record(wav, wav_lens)

"""Two recordings of each training utterance, through independent random channels.

`Wav2Vec2Pretrainer` (``channel_views``) feeds one to the context network and
quantises the other into the contrastive targets. The context network cannot
know the second channel, so codes that carry it cannot be predicted and the
codebook learns to drop it; distractors from other utterances then differ from
the positive by content and speaker more than by recording. Why this matters on
the embedded corpus, and what it measures, is in
``recipes/LibriSpeech/pretrain/README.md``.

Each channel is a chain of SpeechBrain's augmentation lobes
(``speechbrain.augment.time_domain``), each applied with its own probability
and drawn per utterance: spectral notches (``DropFreq``), clipping
(``DoClip``), white and pink noise at a random SNR (``AddNoise``). The ranges
are the augmentations' own (SpeechBrain's defaults where it has them), not the
corpus generator's channel model, which is what the test sets are recorded
through: pre-training must not know the test set's channels. There is no room
reverberation: SpeechBrain's ``AddReverb`` replays recorded impulse responses,
and none can be downloaded here.

The draws come from a random state of the views' own (a buffer, so it is saved
and restored with the model's checkpoint): a resumed run draws what an
uninterrupted one would, and the views never disturb the global RNG.

Authors
 * kdsrl team 2026
"""

import torch
from speechbrain.augment.time_domain import (
    AddNoise,
    DoClip,
    DropFreq,
    pink_noise_like,
)

from kdsrl_lobes.models.padding import length_mask


class ChannelViews(torch.nn.Module):
    """Records a batch twice, each utterance through two independent channels.

    Arguments
    ---------
    snr_low, snr_high : float
        Range of the signal-to-noise ratio of the added noise, in dB.
    noise_prob : float
        Probability that a channel adds white noise, and (independently) pink
        noise.
    drop_freq_prob : float
        Probability that a channel notches out 1 to ``drop_freq_count_high``
        frequency bands of relative width ``drop_freq_width``.
    drop_freq_count_high : int
    drop_freq_width : float
    clip_prob : float
        Probability that a channel clips the signal at a random fraction in
        ``[clip_low, clip_high]`` of its peak.
    clip_low, clip_high : float
    seed : int
        Seed of the views' own random state.

    Example
    -------
    >>> views = ChannelViews(seed=0)
    >>> a, b = views(torch.randn(2, 8000) * 0.1, torch.tensor([1.0, 0.5]))
    >>> a.shape, bool(a[1, 4000:].abs().max() == 0), bool((a - b).abs().max() > 0)
    (torch.Size([2, 8000]), True, True)
    """

    def __init__(
        self,
        snr_low: float = 5.0,
        snr_high: float = 30.0,
        noise_prob: float = 0.5,
        drop_freq_prob: float = 0.5,
        drop_freq_count_high: int = 3,
        drop_freq_width: float = 0.05,
        clip_prob: float = 0.3,
        clip_low: float = 0.3,
        clip_high: float = 0.9,
        seed: int = 0,
    ):
        super().__init__()
        for name, p in (
            ("noise_prob", noise_prob),
            ("drop_freq_prob", drop_freq_prob),
            ("clip_prob", clip_prob),
        ):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"Expected {name} in [0, 1], found {p}")
        if snr_low > snr_high or clip_low > clip_high or not 0 < clip_low <= 1:
            raise ValueError(
                f"Expected snr_low <= snr_high and 0 < clip_low <= clip_high, found "
                f"SNR [{snr_low}, {snr_high}], clip [{clip_low}, {clip_high}]"
            )
        # (probability, lobe, whether it takes lengths), applied in this order
        self.chain = [
            (
                drop_freq_prob,
                DropFreq(
                    drop_freq_count_low=1,
                    drop_freq_count_high=drop_freq_count_high,
                    drop_freq_width=drop_freq_width,
                ),
                False,
            ),
            (clip_prob, DoClip(clip_low=clip_low, clip_high=clip_high), False),
            (noise_prob, AddNoise(snr_low=snr_low, snr_high=snr_high), True),
            (
                noise_prob,
                AddNoise(
                    snr_low=snr_low, snr_high=snr_high, noise_funct=pink_noise_like
                ),
                True,
            ),
        ]
        generator = torch.Generator().manual_seed(seed)
        self.register_buffer("rng_state", generator.get_state())

    def record(self, wav: torch.Tensor, wav_lens: torch.Tensor | None = None):
        """``wav`` ``[batch, time]``, each utterance's valid samples through a
        fresh random channel (on the CPU); padding stays zero."""
        if wav.dim() != 2:
            raise ValueError(f"Expected [batch, time] audio, found {list(wav.shape)}")
        if wav_lens is None:
            wav_lens = torch.ones(len(wav))
        lengths = (wav_lens.cpu() * wav.shape[1]).round().long().tolist()
        audio = wav.detach().cpu().float()
        out = torch.zeros_like(audio)
        # SpeechBrain's lobes draw from the global torch RNG: run them on the
        # views' own state, and leave the global one as it was.
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(self.rng_state.cpu())
            for i, n in enumerate(lengths):
                x = audio[i : i + 1, :n]  # 1 x n
                for prob, lobe, takes_lengths in self.chain:
                    if n == 0 or float(torch.rand(())) >= prob:
                        continue
                    x = lobe(x, torch.ones(1)) if takes_lengths else lobe(x)
                out[i, :n] = x[0]
            self.rng_state.copy_(torch.get_rng_state())
        out = out * length_mask(wav_lens.cpu(), wav.shape[1])
        return out.to(device=wav.device, dtype=wav.dtype)

    def forward(self, wav: torch.Tensor, wav_lens: torch.Tensor | None = None):
        """Two independent recordings of the batch."""
        return self.record(wav, wav_lens), self.record(wav, wav_lens)

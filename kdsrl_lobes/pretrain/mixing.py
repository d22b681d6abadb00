"""WavLM's utterance mixing: a segment of another utterance of the batch is
mixed into some utterances at a random energy ratio; the targets stay those of
the primary utterance, so the model learns to attend to the main speaker and to
ignore the interfering one (Chen et al., 2022, "WavLM", Sec. 3.2).

Written by hand: neither SpeechBrain nor transformers ships the mixing, and
SpeechBrain's ``AddNoise`` adds noise over the whole utterance at an SNR, not a
partial overlap of another utterance of the batch.

The draws come from a random state of the lobe's own (a buffer, saved and
restored with the model's checkpoint), as in `ChannelViews`: a resumed run
draws what an uninterrupted one would, and the global RNG is left alone.

Authors
 * kdsrl team 2026
"""

import torch

from kdsrl_lobes.models.padding import length_mask


class UtteranceMixing(torch.nn.Module):
    """Mixes a segment of another utterance of the batch into each utterance,
    with probability ``mix_prob``.

    Arguments
    ---------
    mix_prob : float
        Probability that an utterance gets a secondary one mixed in (WavLM: 0.2).
    max_ratio : float
        The mixed segment is at most this share of the primary utterance's
        valid length (WavLM: 0.5), so the primary speaker stays the main one.
    energy_ratio_low, energy_ratio_high : float
        Range of the ratio, in dB, of the primary utterance's mean power to the
        mixed-in segment's.
        WavLM draws from [-5, 5]; the default [0, 5] keeps the secondary
        quieter, as the embedded teachers are small and their k-means targets
        come from the primary.
    seed : int
        Seed of the lobe's own random state.

    Example
    -------
    >>> mix = UtteranceMixing(mix_prob=1.0, seed=0)
    >>> wav = torch.randn(3, 8000)
    >>> out = mix(wav, torch.tensor([1.0, 1.0, 0.5]))
    >>> out.shape, bool(out[2, 4000:].abs().max() == 0), bool((out != wav).any())
    (torch.Size([3, 8000]), True, True)
    """

    def __init__(
        self,
        mix_prob: float = 0.2,
        max_ratio: float = 0.5,
        energy_ratio_low: float = 0.0,
        energy_ratio_high: float = 5.0,
        seed: int = 0,
    ):
        super().__init__()
        if not 0.0 <= mix_prob <= 1.0:
            raise ValueError(f"Expected mix_prob in [0, 1], found {mix_prob}")
        if not 0.0 < max_ratio <= 1.0:
            raise ValueError(f"Expected max_ratio in (0, 1], found {max_ratio}")
        if energy_ratio_low > energy_ratio_high:
            raise ValueError(
                "Expected energy_ratio_low <= energy_ratio_high, found "
                f"[{energy_ratio_low}, {energy_ratio_high}] dB"
            )
        self.mix_prob = mix_prob
        self.max_ratio = max_ratio
        self.energy_ratio_low = energy_ratio_low
        self.energy_ratio_high = energy_ratio_high
        generator = torch.Generator().manual_seed(seed)
        self.register_buffer("rng_state", generator.get_state())

    def forward(self, wav: torch.Tensor, wav_lens: torch.Tensor | None = None):
        """``wav`` ``[batch, time]`` with the secondary segments mixed in;
        padding stays zero. A batch of one utterance is returned unchanged
        (there is no other utterance to mix in)."""
        if wav.dim() != 2:
            raise ValueError(f"Expected [batch, time] audio, found {list(wav.shape)}")
        batch, time = wav.shape
        if wav_lens is None:
            wav_lens = torch.ones(batch)
        if batch < 2 or self.mix_prob == 0.0:
            return wav
        lengths = (wav_lens.cpu() * time).round().long().tolist()
        audio = wav.detach().cpu().float()
        out = audio.clone()
        generator = torch.Generator()
        generator.set_state(self.rng_state.cpu())

        def uniform(low, high):
            return low + (high - low) * float(torch.rand((), generator=generator))

        def integer(high):  # in [0, high)
            return int(torch.randint(max(high, 1), (), generator=generator))

        for i, n in enumerate(lengths):
            if float(torch.rand((), generator=generator)) >= self.mix_prob:
                continue
            other = integer(batch - 1)
            other += other >= i  # any utterance but i
            m = lengths[other]
            seg = min(1 + integer(int(self.max_ratio * n)), m)
            if seg < 1 or n < 1:
                continue
            src = integer(m - seg + 1)  # segment of the secondary
            dst = integer(n - seg + 1)  # where it goes in the primary
            secondary = audio[other, src : src + seg]
            primary_energy = audio[i, :n].pow(2).mean()
            secondary_energy = secondary.pow(2).mean().clamp(min=1e-10)
            ratio_db = uniform(self.energy_ratio_low, self.energy_ratio_high)
            scale = torch.sqrt(
                primary_energy / (secondary_energy * 10 ** (ratio_db / 10))
            )
            out[i, dst : dst + seg] += scale * secondary
        self.rng_state.copy_(generator.get_state())
        out = out * length_mask(wav_lens.cpu(), time)
        return out.to(device=wav.device, dtype=wav.dtype)

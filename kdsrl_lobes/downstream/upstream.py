"""The frozen "upstream" of SUPERB's protocol and its learnable layer weights.

SUPERB judges a speech encoder frozen: every hidden state it has (the CNN's
projection and each transformer layer's output) is kept, a learnable
softmax-weighted sum of them feeds a small task head, and only the weights and
the head train. Here that is two modules, so that a checkpoint holds only what
trains:

- `FrozenUpstream` runs a frozen encoder (a transformers wav2vec 2.0 / HuBERT /
  WavLM model through `SSLEncoder`, or SUPERB's filterbank baseline) and returns
  all its hidden states ``[batch, layers, frames, dim]`` with exact frame
  lengths. It can keep them in memory by utterance id.
- `WeightedLayerSum` holds the layer weights.

Why not ``speechbrain.integrations.huggingface.WeightedSSLModel``: it calls the
model without the padding mask or the waveform normalisation the model was
pre-trained with (so a batch's padding changes its shorter utterances, see
``kdsrl_lobes.models.encoder``), holds the frozen model and the weights in one
module (every checkpoint carries the whole encoder), and knows no filterbank
row. Why a hand-written feature cache: a frozen encoder in eval mode gives the
same hidden states every epoch, and SpeechBrain has no cache for them; with it
an epoch after the first costs only the head (the suite's time budget relies on
this). Cached states are stored in float16 and a computed batch is rounded the
same way, so a cache hit equals a miss.

Authors
 * kdsrl team 2026
"""

import torch
import transformers
from speechbrain.lobes.features import Fbank
from speechbrain.utils.logger import get_logger

from kdsrl_lobes.models.encoder import SSLEncoder, load_encoder, load_hf_speech_config
from kdsrl_lobes.models.padding import length_mask, masked_mean_std

logger = get_logger(__name__)

FBANK = "fbank"
RANDOM_PREFIX = "random:"


class FbankFeatures(torch.nn.Module):
    """SUPERB's filterbank baseline: 80 log-mel filterbanks every 10 ms,
    normalised per utterance over its valid frames; one "layer".

    Example
    -------
    >>> fbank = FbankFeatures()
    >>> fbank(torch.randn(2, 16000), torch.tensor([1.0, 0.5])).shape
    torch.Size([2, 1, 101, 80])
    """

    def __init__(self, n_mels: int = 80, hop_length: int = 10):
        super().__init__()
        self.fbank = Fbank(n_mels=n_mels, hop_length=hop_length)
        self.hop = 16000 * hop_length // 1000
        self.output_size = n_mels
        self.num_layers = 1

    def num_frames(self, num_samples: torch.Tensor) -> torch.Tensor:
        """Frames of ``num_samples`` samples (centred STFT)."""
        return torch.div(num_samples, self.hop, rounding_mode="floor") + 1

    def forward(self, wav: torch.Tensor, wav_lens: torch.Tensor | None = None):
        """``[batch, 1, frames, n_mels]`` of audio ``[batch, time]``."""
        feats = self.fbank(wav)  # B x T x F
        mask = None
        if wav_lens is not None:
            mask = length_mask(wav_lens.to(wav.device), feats.shape[1])
        mean, std = masked_mean_std(feats, mask, dim=1, keepdim=True)
        return ((feats - mean) / std).unsqueeze(1)


def load_upstream(
    source: str,
    cache_gb: float = 0.0,
    seed: int = 0,
    layer_norm: bool = True,
    pool: bool = False,
):
    """The frozen upstream of one SUPERB row.

    Arguments
    ---------
    source : str
        ``"fbank"`` (SUPERB's baseline), a hub id or model directory, or
        ``"random:<hub id or directory>"``: that model's architecture with
        random weights (the random-init row; only the config is read).
    cache_gb : float
        Memory for cached hidden states (0: no cache).
    seed : int
        Seed of the random-init row's weights.
    layer_norm, pool : bool
        See `FrozenUpstream`. ``layer_norm`` applies to networks only: like
        s3prl's featurizer, which passes a single-layer upstream on as it is,
        the filterbank row is not normalised per frame (that would remove
        each frame's energy; the features already have per-utterance CMVN).

    Returns
    -------
    FrozenUpstream

    Example
    -------
    >>> load_upstream("fbank").num_layers, load_upstream("fbank").output_size
    (1, 80)
    """
    if source == FBANK:
        encoder = FbankFeatures()
        return FrozenUpstream(encoder, FBANK, cache_gb, layer_norm=False, pool=pool)
    if source.startswith(RANDOM_PREFIX):
        config_source = source[len(RANDOM_PREFIX) :]
        config = load_hf_speech_config(config_source)
        torch.manual_seed(seed)
        model = transformers.AutoModel.from_config(config)
        layers = list(range(config.num_hidden_layers + 1))
        encoder = SSLEncoder(model, layers=layers, freeze=True, source=config_source)
    else:
        config = load_hf_speech_config(source)
        layers = list(range(config.num_hidden_layers + 1))
        encoder = load_encoder(source, layers=layers, freeze=True)
    return FrozenUpstream(encoder, source, cache_gb, layer_norm, pool)


class FrozenUpstream(torch.nn.Module):
    """All hidden states of a frozen encoder, optionally cached by utterance id.

    Arguments
    ---------
    encoder : SSLEncoder or FbankFeatures
        Returns ``[batch, layers, frames, dim]``; an `SSLEncoder` must be frozen
        and return every ``hidden_states`` index.
    name : str
        What the rows and logs call it.
    cache_gb : float
        Memory for cached hidden states; once full, further utterances are
        computed every time (logged once).
    layer_norm : bool
        Normalise each hidden state of each frame over its features (no
        affine), as s3prl's featurizer does before weighting, so that layers
        of different scales compete on their weights alone. Done here, once,
        rather than in `WeightedLayerSum` at every step: the states are frozen.
    pool : bool
        Return each hidden state's mean over the valid frames,
        ``[batch, layers, 1, dim]`` with lengths 1. For a head that mean-pools
        the weighted sum over frames and then applies a linear layer (KS, SID,
        ER) this is exact, since the weighted sum and the frame mean commute,
        and it makes an epoch of cached utterances nearly free.

    Example
    -------
    >>> up = FrozenUpstream(FbankFeatures(), cache_gb=0.01)
    >>> x = torch.randn(2, 8000)
    >>> feats, lens = up(x, torch.tensor([1.0, 0.5]), ids=["a", "b"])
    >>> feats.shape, lens.tolist(), len(up.cache)
    (torch.Size([2, 1, 51, 80]), [1.0, 0.509...], 2)
    >>> torch.equal(up(x, torch.tensor([1.0, 0.5]), ids=["a", "b"])[0], feats)
    True
    """

    def __init__(
        self,
        encoder: torch.nn.Module,
        name: str = "",
        cache_gb: float = 0.0,
        layer_norm: bool = False,
        pool: bool = False,
    ):
        super().__init__()
        if isinstance(encoder, SSLEncoder):
            expected = list(range(encoder.num_layers + 1))
            if not encoder.freeze or encoder.layers != expected:
                raise ValueError(
                    f"Expected a frozen SSLEncoder returning hidden_states {expected}, "
                    f"found freeze={encoder.freeze}, layers={encoder.layers}"
                )
        self.encoder = encoder
        self.name = name
        self.cache: dict[str, torch.Tensor] = {}
        self.cache_bytes = int(cache_gb * 2**30)
        self.layer_norm = layer_norm
        self.pool = pool
        self._cached_bytes = 0
        self._full_logged = False

    @property
    def num_layers(self) -> int:
        """Number of hidden states returned (transformer layers + 1)."""
        return len(self.encoder.layers) if hasattr(self.encoder, "layers") else 1

    @property
    def output_size(self) -> int:
        """Feature size of each hidden state."""
        return getattr(self.encoder, "hidden_size", None) or self.encoder.output_size

    def train(self, mode: bool = True):
        """Always in eval mode: the upstream is frozen."""
        return super().train(False)

    @torch.no_grad()
    def forward(
        self,
        wav: torch.Tensor,
        wav_lens: torch.Tensor | None = None,
        ids: list[str] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden states of a batch.

        Arguments
        ---------
        wav : torch.Tensor or None
            Audio ``[batch, time]``; None when every id is cached.
        wav_lens : torch.Tensor, optional
            Relative lengths ``[batch]``.
        ids : list of str, optional
            Utterance ids: the cache's keys (no caching without them).

        Returns
        -------
        states : torch.Tensor
            ``[batch, layers, frames, dim]``, zero beyond each utterance's frames.
        frame_lens : torch.Tensor
            Relative frame lengths ``[batch]``, exact for each utterance.
        """
        if ids is not None and self.covers(ids):
            device = wav.device if wav is not None else self._device()
            return self._from_cache(ids, device)
        if wav is None:
            missing = [i for i in ids or [] if i not in self.cache]
            raise ValueError(f"No audio given and {self.name} has not cached {missing}")
        if wav.dim() != 2:
            raise ValueError(f"Expected [batch, time] audio, found {list(wav.shape)}")
        if wav_lens is None:
            wav_lens = torch.ones(wav.shape[0], device=wav.device)
        samples = torch.round(wav_lens * wav.shape[1]).long()
        frames = self.encoder.num_frames(samples).long().cpu()
        states = self.encoder(wav, wav_lens)  # B x L x T x D
        frames = frames.clamp(max=states.shape[2])
        valid = length_mask(frames.float() / states.shape[2], states.shape[2])
        valid = valid.to(states.device)[:, None, :, None]  # B x 1 x T x 1
        if self.layer_norm:
            states = torch.nn.functional.layer_norm(states, states.shape[-1:])
        if self.pool:  # mean over each utterance's valid frames
            states = (states * valid).sum(2, keepdim=True) / valid.sum(2, keepdim=True)
            frames = torch.ones_like(frames)
        else:
            states = states * valid  # zero padding
        if self.cache_bytes > 0:
            states = states.half().float()  # a hit must equal a miss
            if ids is not None:
                self._store(ids, states, frames)
        return states, frames.float().to(wav.device) / states.shape[2]

    def covers(self, ids) -> bool:
        """True when every id's hidden states are cached (then no audio is
        needed: a recipe stops loading it, see `DownstreamBrain`)."""
        return bool(self.cache) and all(i in self.cache for i in ids)

    def _device(self):
        param = next(self.encoder.parameters(), None)
        return param.device if param is not None else torch.device("cpu")

    def _store(self, ids, states, frames):
        for utt, state, n in zip(ids, states, frames.tolist(), strict=True):
            size = state[:, :n].numel() * 2
            if self._cached_bytes + size > self.cache_bytes:
                if not self._full_logged:
                    logger.info(
                        "Feature cache of %s full (%.2f GB): further utterances "
                        "are encoded every epoch", self.name, self.cache_bytes / 2**30
                    )  # fmt: skip
                    self._full_logged = True
                return
            if utt not in self.cache:
                self.cache[utt] = state[:, :n].to("cpu", torch.float16).clone()
                self._cached_bytes += size

    def _from_cache(self, ids, device):
        items = [self.cache[i] for i in ids]
        longest = max(item.shape[1] for item in items)
        layers, _, dim = items[0].shape
        states = torch.zeros(len(items), layers, longest, dim)
        for row, item in enumerate(items):
            states[row, :, : item.shape[1]] = item.float()
        lens = torch.tensor([item.shape[1] / longest for item in items])
        return states.to(device), lens.to(device)


class WeightedLayerSum(torch.nn.Module):
    """Learnable softmax-weighted sum of hidden states (SUPERB's featurizer).

    Arguments
    ---------
    num_layers : int
        Number of hidden states.
    layer_norm : bool
        Normalise each hidden state over its features first (no affine). Off
        by default: `FrozenUpstream` normalises the frozen states once.

    Example
    -------
    >>> mix = WeightedLayerSum(3)
    >>> mix(torch.randn(2, 3, 10, 8)).shape
    torch.Size([2, 10, 8])
    >>> mix.layer_weights().tolist()
    [0.333..., 0.333..., 0.333...]
    """

    def __init__(self, num_layers: int = 13, layer_norm: bool = False):
        super().__init__()
        self.weights = torch.nn.Parameter(torch.zeros(num_layers))
        self.layer_norm = layer_norm

    def layer_weights(self) -> torch.Tensor:
        """The softmax weights ``[layers]``."""
        return torch.softmax(self.weights.detach(), dim=0).cpu()

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """``[batch, frames, dim]`` of ``[batch, layers, frames, dim]``."""
        if states.dim() != 4 or states.shape[1] != self.weights.numel():
            raise ValueError(
                f"Expected [batch, {self.weights.numel()} layers, frames, dim] "
                f"hidden states, found {list(states.shape)}"
            )
        if self.layer_norm:
            states = torch.nn.functional.layer_norm(states, states.shape[-1:])
        weights = torch.softmax(self.weights, dim=0).view(1, -1, 1, 1)
        return (states * weights).sum(dim=1)

"""A SpeechBrain lobe around a transformers wav2vec 2.0 / HuBERT / WavLM model.

One class serves the frozen teacher of distillation, the student being distilled and
the encoder being fine-tuned: it loads from a hub id or a local HF directory,
normalises the waveform the way the model was pre-trained, masks padding, and
returns either the last hidden state or a chosen set of ``hidden_states``.

Why not ``speechbrain.integrations.huggingface.Wav2Vec2``: that lobe (1) layer-norms
the waveform over the whole padded tensor, so padding changes the result of the
shorter utterances of a batch; (2) always passes an attention mask, also to
group-norm BASE models pre-trained without one; (3) returns all hidden states or
only the last, not a selection; (4) needs a preprocessor config and asks the hub
for the file list of every hub source. We use transformers' own classes directly
and keep SpeechBrain's conventions (relative lengths, ``freeze``).

Authors
 * kdsrl team 2026
"""

import os
from collections.abc import Sequence

import torch
import transformers
from speechbrain.utils.logger import get_logger

from kdsrl_lobes.models.padding import length_mask, masked_mean_std

logger = get_logger(__name__)

SUPPORTED_MODEL_TYPES = ("wav2vec2", "hubert", "wavlm")


def load_hf_speech_model(
    source: str,
    cache_dir: str | None = None,
    revision: str | None = None,
) -> transformers.PreTrainedModel:
    """Loads a wav2vec 2.0, HuBERT or WavLM model (no task head) with transformers.

    Arguments
    ---------
    source : str
        A hub id (``facebook/hubert-base-ls960``) or a local directory holding
        ``config.json`` and the weights (``model.safetensors`` or
        ``pytorch_model.bin``).
    cache_dir : str, optional
        Where transformers caches hub downloads.
    revision : str, optional
        Hub revision (branch, tag or commit).

    Returns
    -------
    model : transformers.PreTrainedModel
        A ``Wav2Vec2Model``, ``HubertModel`` or ``WavLMModel``.

    Example
    -------
    >>> import tempfile
    >>> from kdsrl_lobes.models.configs import speech_config
    >>> cfg = speech_config("hubert", "tiny", num_hidden_layers=2)
    >>> tmp = tempfile.mkdtemp()
    >>> transformers.HubertModel(cfg).save_pretrained(tmp)
    >>> type(load_hf_speech_model(tmp)).__name__
    'HubertModel'
    """
    config = load_hf_speech_config(source, cache_dir=cache_dir, revision=revision)
    model = transformers.AutoModel.from_pretrained(
        source, config=config, cache_dir=cache_dir, revision=revision
    )
    return model


def load_hf_speech_config(
    source: str,
    cache_dir: str | None = None,
    revision: str | None = None,
) -> transformers.PretrainedConfig:
    """Loads and checks the config of a speech model (see `load_hf_speech_model`).

    Raises ``FileNotFoundError`` for a local directory without ``config.json`` and
    ``ValueError`` for an architecture other than wav2vec 2.0, HuBERT or WavLM.

    Example
    -------
    >>> import tempfile
    >>> load_hf_speech_config(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    FileNotFoundError: ... has no config.json: expected a transformers model ...
    """
    if os.path.isdir(source):
        if not os.path.isfile(os.path.join(source, "config.json")):
            raise FileNotFoundError(
                f"{source} has no config.json: expected a transformers model "
                "directory (config.json + model.safetensors) or a hub id"
            )
    elif os.path.exists(source):
        raise ValueError(f"{source} is a file; expected a model directory or hub id")
    elif source.startswith((".", os.path.sep, "~")) or source.count("/") != 1:
        raise FileNotFoundError(
            f"Model directory {source} does not exist (and it is not a hub id "
            "of the form org/name)"
        )
    try:
        config = transformers.AutoConfig.from_pretrained(
            source, cache_dir=cache_dir, revision=revision
        )
    except OSError as err:
        raise OSError(
            f"Could not load {source}: no such local directory, and the Hugging "
            "Face hub did not provide it (no network, offline mode, or no such "
            f"model; a hub id needs network or a cached copy): {err}"
        ) from err
    if config.model_type not in SUPPORTED_MODEL_TYPES:
        raise ValueError(
            f"{source} is a '{config.model_type}' model; expected one of "
            f"{SUPPORTED_MODEL_TYPES} (wav2vec 2.0, HuBERT or WavLM)"
        )
    return config


def _preprocessing_defaults(
    source: str | None, config, cache_dir: str | None = None, revision=None
) -> tuple:
    """Reads ``do_normalize`` and ``return_attention_mask`` from the model's
    preprocessor config when there is one (from the same ``revision`` and
    ``cache_dir`` as the weights), else falls back on transformers'
    convention: layer-norm feature extractors (LARGE) take an attention mask,
    group-norm ones (BASE) take zero padding and no mask."""
    default_mask = config.feat_extract_norm == "layer"
    if source is None:
        return False, default_mask
    try:
        extractor = transformers.AutoFeatureExtractor.from_pretrained(
            source, cache_dir=cache_dir, revision=revision
        )
    except OSError:
        logger.info(
            "%s has no preprocessor_config.json: no waveform normalisation, "
            "attention mask %s",
            source,
            "on" if default_mask else "off",
        )
        return False, default_mask
    return (
        bool(getattr(extractor, "do_normalize", False)),
        bool(getattr(extractor, "return_attention_mask", default_mask)),
    )


class SSLEncoder(torch.nn.Module):
    """wav2vec 2.0 / HuBERT / WavLM encoder with SpeechBrain's interface.

    Arguments
    ---------
    model : transformers.PreTrainedModel
        A ``Wav2Vec2Model``, ``HubertModel`` or ``WavLMModel``.
    layers : sequence of int, optional
        Indices into transformers' ``hidden_states`` to return (0 is the input of
        the first transformer layer, ``n`` the output of the n-th). ``None``
        returns ``last_hidden_state``.
    freeze : bool
        Frozen: no gradients, always in eval mode, forward under ``no_grad``.
    normalize_waveform : bool, optional
        Zero-mean unit-variance per utterance over its valid samples, as the
        model's feature extractor does; ``None`` reads it from ``source``.
    use_attention_mask : bool, optional
        Pass an attention mask to the model; ``None`` reads it from ``source``.
    source : str, optional
        Where the model came from; used for the preprocessing defaults and logs.
    cache_dir, revision : str, optional
        Where and which revision of ``source`` the preprocessing config is read
        from: the same as the weights'.
    apply_spec_augment : bool
        Keep transformers' built-in time/feature masking during training.
    layerdrop : float, optional
        Overrides the config's LayerDrop (0 by default: DDP needs every parameter
        in every step, and a 2-layer student cannot afford to drop one).

    Example
    -------
    >>> from kdsrl_lobes.models.configs import speech_config
    >>> cfg = speech_config("wav2vec2", "tiny", num_hidden_layers=3)
    >>> enc = SSLEncoder(transformers.Wav2Vec2Model(cfg), layers=[0, 3])
    >>> enc(torch.randn(2, 16000), torch.tensor([1.0, 0.6])).shape
    torch.Size([2, 2, 49, 16])
    """

    def __init__(
        self,
        model: transformers.PreTrainedModel,
        layers: Sequence[int] | None = None,
        freeze: bool = False,
        normalize_waveform: bool | None = None,
        use_attention_mask: bool | None = None,
        source: str | None = None,
        cache_dir: str | None = None,
        revision: str | None = None,
        apply_spec_augment: bool = False,
        layerdrop: float | None = 0.0,
    ):
        super().__init__()
        config = model.config
        if config.model_type not in SUPPORTED_MODEL_TYPES:
            raise ValueError(
                f"Expected a {SUPPORTED_MODEL_TYPES} model, found "
                f"'{config.model_type}' ({type(model).__name__})"
            )
        self.model = model
        self.source = source
        self.layers = None if layers is None else [int(i) for i in layers]
        if self.layers is not None:
            check_layers(self.layers, config.num_hidden_layers, source)
        norm, mask = _preprocessing_defaults(source, config, cache_dir, revision)
        self.normalize_waveform = (
            norm if normalize_waveform is None else bool(normalize_waveform)
        )
        self.use_attention_mask = (
            mask if use_attention_mask is None else bool(use_attention_mask)
        )
        config.apply_spec_augment = apply_spec_augment
        masked_embed = getattr(model, "masked_spec_embed", None)
        if masked_embed is not None and not apply_spec_augment:
            # Unused without SpecAugment: a trainable parameter that never gets
            # a gradient breaks DDP (and clutters optimisers).
            masked_embed.requires_grad_(False)
        if layerdrop is not None:
            config.layerdrop = layerdrop
        self.freeze = freeze
        if freeze:
            self.model.eval()
            for param in self.model.parameters():
                param.requires_grad = False

    @property
    def hidden_size(self) -> int:
        """Feature dimension of the returned hidden states."""
        return self.model.config.hidden_size

    @property
    def num_layers(self) -> int:
        """Number of transformer layers."""
        return self.model.config.num_hidden_layers

    def num_frames(self, num_samples: torch.Tensor) -> torch.Tensor:
        """Output frames of the CNN for ``num_samples`` input samples (exact)."""
        return self.model._get_feat_extract_output_lengths(num_samples)

    def train(self, mode: bool = True):
        """Sets training mode; a frozen encoder stays in eval mode (no dropout)."""
        super().train(mode)
        if self.freeze:
            self.model.eval()
        return self

    def forward(
        self, wav: torch.Tensor, wav_lens: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Encodes a batch of waveforms.

        Arguments
        ---------
        wav : torch.Tensor
            Audio ``[batch, time]`` at 16 kHz.
        wav_lens : torch.Tensor, optional
            Relative lengths ``[batch]``; padding beyond them is ignored.

        Returns
        -------
        out : torch.Tensor
            ``[batch, frames, hidden]`` (last hidden state) or
            ``[batch, len(layers), frames, hidden]`` for the selected layers.
        """
        if wav.dim() != 2:
            raise ValueError(f"Expected [batch, time] audio, found {list(wav.shape)}")
        if self.freeze:
            with torch.no_grad():
                return self._encode(wav, wav_lens)
        return self._encode(wav, wav_lens)

    def preprocess(
        self, wav: torch.Tensor, wav_lens: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Audio as the model sees it: padding silenced, normalised when the
        model expects it; with the sample mask ``[batch, time]`` (or None)."""
        mask = None
        if wav_lens is not None:
            mask = length_mask(wav_lens.to(wav.device), wav.shape[1])
            wav = wav * mask  # padding may hold anything: make it silence
        if self.normalize_waveform:
            wav = normalize_waveform(wav, mask)
        return wav, mask

    def _encode(self, wav, wav_lens):
        wav, mask = self.preprocess(wav, wav_lens)
        out = self.model(
            wav,
            attention_mask=mask.long()
            if mask is not None and self.use_attention_mask
            else None,
            output_hidden_states=self.layers is not None,
        )
        if self.layers is None:
            return out.last_hidden_state
        return torch.stack([out.hidden_states[i] for i in self.layers], dim=1)

    def save_pretrained(self, directory: str) -> None:
        """Saves the model as config.json + model.safetensors, with a
        preprocessor_config.json that records this encoder's preprocessing, so
        that `load_encoder` and ``transformers.AutoModel`` load it back."""
        self.model.save_pretrained(directory)
        transformers.Wav2Vec2FeatureExtractor(
            sampling_rate=16000,
            do_normalize=self.normalize_waveform,
            return_attention_mask=self.use_attention_mask,
        ).save_pretrained(directory)


def normalize_waveform(
    wav: torch.Tensor, mask: torch.Tensor | None = None, eps: float = 1e-7
) -> torch.Tensor:
    """Zero mean, unit variance per utterance over its valid samples; padding
    stays zero (what ``Wav2Vec2FeatureExtractor(do_normalize=True)`` does).

    Arguments
    ---------
    wav : torch.Tensor
        Audio ``[batch, time]``.
    mask : torch.Tensor, optional
        Boolean ``[batch, time]``, True on valid samples (all valid if None).
    eps : float
        Added to the variance before the square root.

    Returns
    -------
    wav : torch.Tensor
        Normalised audio ``[batch, time]``.

    Example
    -------
    >>> x = torch.tensor([[1.0, 3.0, 0.0, 0.0]])
    >>> normalize_waveform(x, torch.tensor([[True, True, False, False]]))
    tensor([[-1.,  1.,  0.,  0.]])
    """
    mean, std = masked_mean_std(wav, mask, dim=1, eps=eps, keepdim=True)  # B x 1
    if mask is None:
        return (wav - mean) / std
    return torch.where(mask, (wav - mean) / std, 0.0)


def check_layers(layers: Sequence[int], num_layers: int, source=None) -> None:
    """Raises a ValueError if a requested ``hidden_states`` index does not exist.

    Example
    -------
    >>> check_layers([4, 8, 12], 6, "tiny-teacher")
    Traceback (most recent call last):
    ...
    ValueError: Layer(s) [8, 12] requested but tiny-teacher has 6 transformer ...
    """
    name = source or "the model"
    missing = [layer for layer in layers if not 0 <= layer <= num_layers]
    if missing:
        raise ValueError(
            f"Layer(s) {missing} requested but {name} has {num_layers} transformer "
            f"layers (valid hidden_states indices: 0..{num_layers})"
        )


def load_encoder(
    source: str,
    layers: Sequence[int] | None = None,
    freeze: bool = False,
    cache_dir: str | None = None,
    revision: str | None = None,
    **kwargs,
) -> SSLEncoder:
    """Loads a hub id or local directory as an `SSLEncoder` (fine-tuning entry).

    Arguments
    ---------
    source : str
        Hub id or local transformers directory.
    layers : sequence of int, optional
        ``hidden_states`` indices to return; ``None`` for the last hidden state.
    freeze : bool
        Freeze the encoder (the "(frozen)" rows of the paper's tables).
    cache_dir, revision : str, optional
        Passed to transformers.
    **kwargs
        Passed to `SSLEncoder`.

    Returns
    -------
    encoder : SSLEncoder

    Example
    -------
    >>> import tempfile
    >>> from kdsrl_lobes.models.configs import speech_config
    >>> cfg = speech_config("wavlm", "tiny", num_hidden_layers=2)
    >>> tmp = tempfile.mkdtemp()
    >>> transformers.WavLMModel(cfg).save_pretrained(tmp)
    >>> load_encoder(tmp)(torch.randn(1, 16000)).shape
    torch.Size([1, 49, 16])
    """
    model = load_hf_speech_model(source, cache_dir=cache_dir, revision=revision)
    return SSLEncoder(
        model,
        layers=layers,
        freeze=freeze,
        source=source,
        cache_dir=cache_dir,
        revision=revision,
        **kwargs,
    )

"""Named transformers configs for the three supported architectures.

``base`` is transformers' default (the BASE models of the papers, 12 layers of
768); ``embedded`` keeps BASE's depth (12 layers, so distilling layers 4, 8 and
12 mirrors the paper) and its CNN strides and kernels, narrowed (hidden 128, 4
heads, FFN 512, 128 CNN channels: 2.7M parameters) so that the embedded default
can pre-train it on CPU; ``tiny`` is a few-thousand-parameter model for tests
and doctests. Both
come in post-LN BASE style or, with ``stable_layer_norm=True``, in the pre-LN
LARGE style (``do_stable_layer_norm`` and a layer-norm CNN).

Authors
 * kdsrl team 2026
"""

import torch
import transformers

ARCHITECTURES = {
    "wav2vec2": (transformers.Wav2Vec2Config, transformers.Wav2Vec2Model),
    "hubert": (transformers.HubertConfig, transformers.HubertModel),
    "wavlm": (transformers.WavLMConfig, transformers.WavLMModel),
}

SIZES = {
    "base": {},
    "embedded": dict(
        hidden_size=128,
        num_hidden_layers=12,
        num_attention_heads=4,
        intermediate_size=512,
        conv_dim=(128,) * 7,
        num_conv_pos_embeddings=64,
        num_conv_pos_embedding_groups=16,
    ),
    "tiny": dict(
        hidden_size=16,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(8, 8, 8),
        conv_stride=(5, 8, 8),  # 320 samples a frame (50 Hz), as in BASE
        conv_kernel=(10, 8, 8),
        num_conv_pos_embeddings=4,
        num_conv_pos_embedding_groups=2,
        num_buckets=8,  # WavLM relative position buckets
    ),
}


def _classes(arch: str) -> tuple[type, type]:
    if arch not in ARCHITECTURES:
        raise ValueError(
            f"Unsupported architecture '{arch}': expected one of "
            f"{sorted(ARCHITECTURES)}"
        )
    return ARCHITECTURES[arch]


def speech_config(
    arch: str, size: str = "base", stable_layer_norm: bool = False, **overrides
) -> transformers.PretrainedConfig:
    """Builds a wav2vec 2.0 / HuBERT / WavLM config.

    Arguments
    ---------
    arch : str
        ``wav2vec2``, ``hubert`` or ``wavlm``.
    size : str
        A key of `SIZES`.
    stable_layer_norm : bool
        LARGE-style pre-LN transformer with a layer-norm CNN.
    **overrides
        Any config field.

    Example
    -------
    >>> cfg = speech_config("hubert", "tiny", num_hidden_layers=6)
    >>> cfg.model_type, cfg.num_hidden_layers, cfg.hidden_size
    ('hubert', 6, 16)
    """
    config_class, _ = _classes(arch)
    if size not in SIZES:
        raise ValueError(f"Unknown size '{size}': expected one of {sorted(SIZES)}")
    fields = dict(SIZES[size])
    if arch != "wavlm":
        fields.pop("num_buckets", None)
    if stable_layer_norm:
        fields.update(do_stable_layer_norm=True, feat_extract_norm="layer")
    fields.update(overrides)
    return config_class(**fields)


def random_speech_model(
    arch: str,
    size: str = "base",
    stable_layer_norm: bool = False,
    seed: int = 0,
    **overrides,
) -> transformers.PreTrainedModel:
    """A randomly initialised model of `speech_config` (nothing is downloaded).

    Example
    -------
    >>> type(random_speech_model("wavlm", "tiny")).__name__
    'WavLMModel'
    """
    config = speech_config(arch, size, stable_layer_norm, **overrides)
    _, model_class = _classes(arch)
    torch.manual_seed(seed)
    return model_class(config)

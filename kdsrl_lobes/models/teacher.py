"""Loading a frozen self-supervised teacher that returns chosen hidden layers.

Authors
 * kdsrl team 2026
"""

from collections.abc import Sequence

from kdsrl_lobes.models.encoder import SSLEncoder, load_encoder

DEFAULT_TARGET_LAYERS = (4, 8, 12)


def load_teacher(
    source: str,
    layers: Sequence[int] = DEFAULT_TARGET_LAYERS,
    cache_dir: str | None = None,
    revision: str | None = None,
    **kwargs,
) -> SSLEncoder:
    """Loads a wav2vec 2.0, HuBERT or WavLM teacher, frozen and in eval mode.

    Layer numbering follows transformers' ``hidden_states``: index 0 is the input
    of the first transformer layer, index 12 the output of the 12th.

    Arguments
    ---------
    source : str
        Hub id (``facebook/hubert-base-ls960``) or local directory with
        ``config.json`` and weights.
    layers : sequence of int
        The ``hidden_states`` indices to return (the distillation targets).
    cache_dir, revision : str, optional
        Passed to transformers.
    **kwargs
        Passed to `SSLEncoder` (e.g. ``normalize_waveform``).

    Returns
    -------
    teacher : SSLEncoder
        ``teacher(wav, wav_lens)`` gives ``[batch, len(layers), frames, hidden]``.

    Example
    -------
    >>> import tempfile, torch, transformers
    >>> from kdsrl_lobes.models.configs import speech_config
    >>> cfg = speech_config("hubert", "tiny", num_hidden_layers=4)
    >>> tmp = tempfile.mkdtemp()
    >>> transformers.HubertModel(cfg).save_pretrained(tmp)
    >>> teacher = load_teacher(tmp, layers=[2, 4])
    >>> teacher(torch.randn(2, 16000)).shape
    torch.Size([2, 2, 49, 16])
    >>> any(p.requires_grad for p in teacher.parameters())
    False
    """
    return load_encoder(
        source,
        layers=layers,
        freeze=True,
        cache_dir=cache_dir,
        revision=revision,
        **kwargs,
    )

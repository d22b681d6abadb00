"""Multiply-accumulates per second of audio, split into front end, transformer
and heads, counted by torch's ``FlopCounterMode`` (one multiply-add = 2 FLOPs).

Authors
 * kdsrl team 2026
"""

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count


def _cpu_sdpa_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kw):
    """FLOPs of the CPU kernel of ``scaled_dot_product_attention``: torch
    registers the formula for the CUDA kernels only, so without this the
    attention products of a CPU run would count as zero."""
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _speech_model(network: torch.nn.Module) -> torch.nn.Module:
    """The transformers model inside a network, encoder or the model itself."""
    for path in ("encoder.model", "model", ""):
        module = network
        for name in filter(None, path.split(".")):
            module = getattr(module, name, None)
        if module is not None and hasattr(module, "feature_extractor"):
            return module
    raise ValueError(
        f"Expected a wav2vec 2.0 / HuBERT / WavLM model, an SSLEncoder or a "
        f"network with an .encoder, found {type(network).__name__}"
    )


def count_macs(
    network: torch.nn.Module, seconds: float = 1.0, sample_rate: int = 16000
) -> dict[str, float]:
    """MACs per second of audio of one forward pass on ``seconds`` of audio.

    ``front_end`` is the CNN and the feature projection, ``transformer`` the
    rest of the encoder (positional convolution, layers, attention products
    included), ``heads`` whatever ``network`` adds after the encoder.

    Arguments
    ---------
    network : torch.nn.Module
        A transformers speech model, an `SSLEncoder` or a network whose
        ``encoder`` is one (`MultiTaskNetwork`), called as ``network(wav)``.
    seconds : float
        Length of the (random) utterance.
    sample_rate : int
        Samples per second.

    Returns
    -------
    macs : dict
        ``front_end``, ``transformer``, ``heads`` and ``total``, per second.

    Example
    -------
    >>> from kdsrl_lobes.models.configs import random_speech_model
    >>> macs = count_macs(random_speech_model("hubert", "tiny"))
    >>> int(macs["front_end"])  # CNN 3199*8*10 + 399*8*8*8 + 49*8*8*8, proj 49*8*16
    491568
    """
    model = _speech_model(network)
    front = (model.feature_extractor, model.feature_projection)
    counts = {}
    mapping = {
        torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flops
    }
    wav = torch.randn(1, int(seconds * sample_rate)) * 0.1
    was_training = network.training
    network.eval()
    try:
        with torch.no_grad():
            for name, modules in (("front_end", front), ("all", (network,))):
                counter = FlopCounterMode(display=False, custom_mapping=mapping)
                if name == "all":
                    with counter:
                        network(wav)
                else:  # the front end alone, on the same audio
                    with counter:
                        features = modules[0](wav).transpose(1, 2)
                        modules[1](features)
                counts[name] = counter.get_total_flops() / 2
            with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
                model(wav)
            counts["model"] = counter.get_total_flops() / 2
    finally:
        network.train(was_training)
    macs = {
        "front_end": counts["front_end"],
        "transformer": counts["model"] - counts["front_end"],
        "heads": counts["all"] - counts["model"],
        "total": counts["all"],
    }
    return {key: value / seconds for key, value in macs.items()}

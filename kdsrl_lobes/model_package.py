"""Where packages written before the subpackage layout look for their loading
hooks: their ``hyperparams.yaml`` names ``kdsrl_lobes.model_package.
encoder_from_config`` and ``...load_safetensors``. The code is in
`kdsrl_lobes.hub.files`."""

from kdsrl_lobes.hub.files import encoder_from_config, load_safetensors

__all__ = ["encoder_from_config", "load_safetensors"]

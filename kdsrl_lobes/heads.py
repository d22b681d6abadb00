"""Where packages written before the subpackage layout look for their heads:
their ``hyperparams.yaml`` names ``kdsrl_lobes.heads.KWSHead`` and
``kdsrl_lobes.heads.SVHead``. The code is in `kdsrl_lobes.models.heads`."""

from kdsrl_lobes.models.heads import KWSHead
from kdsrl_lobes.models.heads import SVHead as _SVHead

__all__ = ["KWSHead", "SVHead"]


class SVHead(_SVHead):
    """`kdsrl_lobes.models.heads.SVHead` as those packages build it: their
    YAML passes the training classifier's settings, and their
    ``sv_head.safetensors`` holds its weights; both are ignored, since
    verification uses the embedding alone.

    Example
    -------
    >>> import torch
    >>> SVHead(16, 8, n_speakers=5)(torch.randn(2, 10, 16)).shape
    torch.Size([2, 8])
    """

    ignored_state_keys = ("classifier.weight",)

    def __init__(
        self,
        input_size: int = 768,
        embedding_size: int = 256,
        n_speakers: int = 1211,
        pooling: str = "stats",
        margin: float = 0.2,
        scale: float = 30.0,
    ):
        del n_speakers, margin, scale  # the training classifier's, unused here
        super().__init__(input_size, embedding_size, pooling)

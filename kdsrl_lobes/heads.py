"""Where packages written before the subpackage layout look for their heads:
their ``hyperparams.yaml`` names ``kdsrl_lobes.heads.KWSHead`` and
``kdsrl_lobes.heads.SVHead``. The code is in `kdsrl_lobes.models.heads`."""

from kdsrl_lobes.models.heads import KWSHead, SVHead

__all__ = ["KWSHead", "SVHead"]

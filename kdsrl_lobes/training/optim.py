"""Optimiser construction for the recipes' ``opt_class``.

Authors
 * kdsrl team 2026
"""

from collections.abc import Iterable

import torch


def matrix_weight_decay(
    params: Iterable[torch.nn.Parameter],
    optimizer=torch.optim.AdamW,
    weight_decay: float = 0.01,
    **kwargs,
) -> torch.optim.Optimizer:
    """An optimiser that decays only weight matrices and convolution kernels
    (tensors of 2 or more dimensions), never norm gains and biases, as
    nanoGPT's ``configure_optimizers`` does. SpeechBrain's Brain calls
    ``opt_class(parameters)`` with the parameters alone, so the split is by
    dimension, not by name. Frozen parameters are left out.

    Arguments
    ---------
    params : iterable of torch.nn.Parameter
        What ``speechbrain.Brain`` passes to ``opt_class``.
    optimizer : type
        The optimiser class (``torch.optim.AdamW``).
    weight_decay : float
        Decay of the matrices.
    **kwargs
        Passed to ``optimizer`` (``lr``, ``betas``, ``eps`` ...).

    Returns
    -------
    optimizer : torch.optim.Optimizer
        With two parameter groups: decayed matrices, undecayed the rest.

    Example
    -------
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3))
    >>> opt = matrix_weight_decay(model.parameters(), lr=1e-3)
    >>> [(g["weight_decay"], len(g["params"])) for g in opt.param_groups]
    [(0.01, 1), (0.0, 3)]
    """
    params = [p for p in params if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return optimizer([g for g in groups if g["params"]], **kwargs)

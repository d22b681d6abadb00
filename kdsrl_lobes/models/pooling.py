"""Masked mean / mean+std pooling over time.

Written here rather than reusing ``speechbrain.nnet.pooling.StatisticsPooling``:
that layer adds random noise to the mean on every call (also in eval mode, so
embeddings are not reproducible and cannot match an exported model) and loops
over the batch in Python (not exportable with a dynamic batch).

Authors
 * kdsrl team 2026
"""

import torch

from kdsrl_lobes.models.padding import length_mask, masked_mean, masked_mean_std


class MaskedStatisticsPooling(torch.nn.Module):
    """Pools ``[batch, time, dim]`` to ``[batch, dim]`` (mean) or
    ``[batch, 2 * dim]`` (mean and standard deviation) over valid frames.

    Arguments
    ---------
    return_std : bool
        Also return the standard deviation (statistics pooling).
    eps : float
        Added to the variance before the square root.

    Example
    -------
    >>> pool = MaskedStatisticsPooling(return_std=True)
    >>> x = torch.tensor([[[1.0], [3.0], [100.0]]])
    >>> pool(x, torch.tensor([2 / 3]))
    tensor([[2.0000, 1.0000]])
    """

    def __init__(self, return_std: bool = False, eps: float = 1e-5):
        super().__init__()
        self.return_std = return_std
        self.eps = eps

    def output_size(self, input_size: int) -> int:
        """Pooled feature size for a given input feature size."""
        return 2 * input_size if self.return_std else input_size

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Pools over time.

        Arguments
        ---------
        x : torch.Tensor
            ``[batch, time, dim]``.
        lengths : torch.Tensor, optional
            Relative lengths ``[batch]``.

        Returns
        -------
        pooled : torch.Tensor
            ``[batch, dim]`` or ``[batch, 2 * dim]``.
        """
        if x.dim() != 3:
            raise ValueError(
                f"Expected [batch, time, dim] features, found {list(x.shape)}"
            )
        mask = None
        if lengths is not None:
            mask = length_mask(lengths.to(x.device), x.shape[1])  # B x T
        if not self.return_std:
            return masked_mean(x, mask, dim=1)
        mean, std = masked_mean_std(x, mask, dim=1, eps=self.eps)  # B x D each
        return torch.cat([mean, std], dim=-1)

"""Padding masks from SpeechBrain relative lengths, and masked statistics.

Written here rather than taken from ``speechbrain.dataio.dataio.length_to_mask``
because that helper sizes the mask from ``lengths.max()`` and returns floats:
these are boolean, sized to the padded tensor, and export to ONNX.

Authors
 * kdsrl team 2026
"""

import torch


def length_mask(lengths: torch.Tensor, size: int) -> torch.Tensor:
    """Boolean mask ``[batch, size]`` of the valid steps given relative lengths.

    Arguments
    ---------
    lengths : torch.Tensor
        Relative lengths in [0, 1], shape ``[batch]`` (SpeechBrain convention:
        the same relative length holds for samples and for frames).
    size : int
        Padded length of the time axis.

    Returns
    -------
    mask : torch.Tensor
        ``True`` where the step is valid.

    Example
    -------
    >>> length_mask(torch.tensor([1.0, 0.5]), 4)
    tensor([[ True,  True,  True,  True],
            [ True,  True, False, False]])
    """
    if lengths.dim() != 1:
        raise ValueError(
            f"Expected relative lengths of shape [batch], found {list(lengths.shape)}"
        )
    abs_lens = torch.round(lengths * size).clamp(min=1)
    steps = torch.arange(size, device=lengths.device)
    return steps.unsqueeze(0) < abs_lens.unsqueeze(1)


def _weights(mask: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """``mask`` as 0/1 weights of ``values``' dtype, with trailing size-1
    dimensions so that it broadcasts (``[batch, time]`` -> ``[batch, time, 1]``)."""
    maskf = mask.to(values.dtype)
    for _ in range(values.dim() - maskf.dim()):
        maskf = maskf.unsqueeze(-1)
    return maskf


def masked_mean(
    values: torch.Tensor,
    mask: torch.Tensor | None = None,
    dim: int | tuple[int, ...] | None = None,
    keepdim: bool = False,
) -> torch.Tensor:
    """Mean of ``values`` over ``dim`` (all dimensions by default), counting only
    the positions where ``mask`` is True (all positions if ``mask`` is None): each
    valid step weighs the same, whichever utterance it belongs to.

    Arguments
    ---------
    values : torch.Tensor
        Any shape, e.g. ``[batch, time]`` or ``[batch, time, feature]``.
    mask : torch.Tensor, optional
        Boolean, the shape of the leading dimensions of ``values`` (``[batch,
        time]``; trailing dimensions broadcast).
    dim : int or tuple of int, optional
        Dimension(s) to average over; None averages over all.
    keepdim : bool
        Keep the averaged dimensions with size 1.

    Returns
    -------
    mean : torch.Tensor
        ``values`` reduced over ``dim``; a position with no valid step is 0.

    Example
    -------
    >>> v = torch.tensor([[1.0, 2.0, 9.0], [3.0, 9.0, 9.0]])
    >>> m = torch.tensor([[True, True, False], [True, False, False]])
    >>> masked_mean(v, m)
    tensor(2.)
    >>> masked_mean(v, m, dim=1)
    tensor([1.5000, 3.0000])
    """
    if mask is None:
        return values.mean(dim=dim, keepdim=keepdim)
    maskf = _weights(mask, values)
    count = maskf.expand_as(values).sum(dim=dim, keepdim=keepdim)
    return (values * maskf).sum(dim=dim, keepdim=keepdim) / count.clamp(min=1.0)


def masked_mean_std(
    values: torch.Tensor,
    mask: torch.Tensor | None = None,
    dim: int | tuple[int, ...] = 1,
    eps: float = 1e-5,
    keepdim: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of ``values`` over ``dim``, counting only the
    valid steps (`masked_mean`): the statistics of waveform normalisation and of
    statistics pooling. The variance is the biased one (divided by the number of
    valid steps), as ``torch.std(..., correction=0)``.

    Arguments
    ---------
    values : torch.Tensor
        ``[batch, time]`` or ``[batch, time, feature]`` (any shape).
    mask : torch.Tensor, optional
        Boolean ``[batch, time]`` (the leading dimensions of ``values``).
    dim : int or tuple of int
        Dimension(s) to reduce, time by default.
    eps : float
        Added to the variance before the square root.
    keepdim : bool
        Keep the reduced dimensions with size 1.

    Returns
    -------
    mean, std : torch.Tensor
        ``values`` reduced over ``dim`` (``[batch, feature]`` for
        ``[batch, time, feature]`` input and ``dim=1``).

    Example
    -------
    >>> x = torch.tensor([[[1.0], [3.0], [100.0]]])  # B x T x D
    >>> mean, std = masked_mean_std(x, torch.tensor([[True, True, False]]), eps=0.0)
    >>> mean, std
    (tensor([[2.]]), tensor([[1.]]))
    """
    mean = masked_mean(values, mask, dim, keepdim=True)
    centred = values - mean
    if mask is not None:  # zero padding before squaring: it may hold anything
        centred = centred * _weights(mask, values)
    var = masked_mean(centred**2, mask, dim, keepdim=keepdim)
    if not keepdim:
        mean = mean.squeeze(dim)
    return mean, torch.sqrt(var + eps)

"""Padding masks from SpeechBrain relative lengths, and masked averages.

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


def masked_mean(values: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of ``values`` ``[batch, time]`` over the positions where ``mask`` is
    True (all positions if ``mask`` is None): each valid step weighs the same,
    whichever utterance it belongs to.

    Example
    -------
    >>> v = torch.tensor([[1.0, 2.0, 9.0], [3.0, 9.0, 9.0]])
    >>> masked_mean(v, torch.tensor([[True, True, False], [True, False, False]]))
    tensor(2.)
    """
    if mask is None:
        return values.mean()
    maskf = mask.to(values.dtype)
    return (values * maskf).sum() / maskf.sum().clamp(min=1.0)

"""Layer-wise distillation loss (DistilHuBERT; paper eq. 1): L1 + cosine.

Authors
 * kdsrl team 2026
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from kdsrl_lobes.models.heads import target_names_of
from kdsrl_lobes.models.padding import length_mask, masked_mean
from kdsrl_lobes.models.teacher import DEFAULT_TARGET_LAYERS


def layer_distillation_terms(
    pred: torch.Tensor, target: torch.Tensor, lengths: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The L1 and cosine terms of one layer's loss, each averaged over the valid
    frames of the batch.

    Arguments
    ---------
    pred : torch.Tensor
        Student prediction ``[batch, time, dim]``.
    target : torch.Tensor
        Teacher hidden state ``[batch, time, dim]``.
    lengths : torch.Tensor, optional
        Relative lengths ``[batch]``; padded frames contribute nothing.

    Returns
    -------
    l1 : torch.Tensor
        Mean over valid frames of ``(1/K) * ||f - f_bar||_1``.
    cos : torch.Tensor
        Mean over valid frames of ``-log sigmoid(cos(f, f_bar))``.

    Example
    -------
    >>> l1, cos = layer_distillation_terms(torch.ones(1, 2, 4), torch.ones(1, 2, 4))
    >>> float(l1), round(float(cos), 4)
    (0.0, 0.3133)
    """
    if pred.dim() != 3 or pred.shape != target.shape:
        raise ValueError(
            "Expected prediction and target of the same [batch, time, dim] shape, "
            f"found {list(pred.shape)} and {list(target.shape)}"
        )
    mask = None if lengths is None else length_mask(lengths, pred.shape[1])
    l1 = (pred - target).abs().mean(dim=-1)  # B x T: (1/K) ||f - f_bar||_1
    cos = -F.logsigmoid(F.cosine_similarity(pred, target, dim=-1))  # B x T
    return masked_mean(l1, mask), masked_mean(cos, mask)


def layer_distillation_loss(
    pred: torch.Tensor, target: torch.Tensor, lengths: torch.Tensor | None = None
) -> torch.Tensor:
    """``(1/K)·||f − f̄||₁ − log σ(cos(f, f̄))`` averaged over all valid frames.

    The paper sums over time steps; dividing by the number of frames (as
    DistilHuBERT does) keeps the scale independent of utterance length.

    Example
    -------
    >>> pred, target = torch.zeros(2, 3, 4), torch.ones(2, 3, 4)
    >>> pred[:, :, 0] = 1.0  # cosine 0.5, L1 0.75 on every frame
    >>> round(float(layer_distillation_loss(pred, target)), 4)
    1.2241
    """
    l1, cos = layer_distillation_terms(pred, target, lengths)
    return l1 + cos


class DistillationLoss(torch.nn.Module):
    """Sums `layer_distillation_loss` over the targets and reports each target's
    L1 and cosine terms for logging.

    Arguments
    ---------
    target_layers : sequence of int
        Teacher ``hidden_states`` indices, in the order of the second axis of the
        predictions and targets (used to name the logged terms).
    target_names : sequence of str, optional
        One name per target instead (an `EnsembleTeacher`'s ``target_names``,
        e.g. ``t1_layer4``): the terms are then ``l1_<name>`` and ``cos_<name>``.

    Example
    -------
    >>> loss_fn = DistillationLoss(target_layers=[4, 8])
    >>> total, terms = loss_fn(torch.zeros(2, 2, 5, 3), torch.ones(2, 2, 5, 3))
    >>> sorted(terms)
    ['cos_layer4', 'cos_layer8', 'l1_layer4', 'l1_layer8']
    >>> total.shape
    torch.Size([])
    >>> DistillationLoss([4], target_names=["t0_layer4", "t1_layer4"]).term_names()
    ['l1_t0_layer4', 'cos_t0_layer4', 'l1_t1_layer4', 'cos_t1_layer4']
    """

    def __init__(
        self,
        target_layers: Sequence[int] = DEFAULT_TARGET_LAYERS,
        target_names: Sequence[str] | None = None,
    ):
        super().__init__()
        self.target_layers = [int(i) for i in target_layers]
        self.named_targets = target_names is not None
        self.target_names = target_names_of(self.target_layers, target_names)

    def term_names(self) -> list:
        """Names of the logged terms without the stage prefix."""
        return [
            f"{kind}_{name}" for name in self.target_names for kind in ("l1", "cos")
        ]

    def forward(
        self,
        preds: torch.Tensor,
        targets: torch.Tensor,
        lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Computes the total loss and the per-layer terms.

        Arguments
        ---------
        preds : torch.Tensor
            ``[batch, targets, time, dim]`` from the prediction heads.
        targets : torch.Tensor
            ``[batch, targets, time, dim]`` from the teacher.
        lengths : torch.Tensor, optional
            Relative lengths ``[batch]``.

        Returns
        -------
        total : torch.Tensor
            Sum over targets of L1 + cosine terms.
        terms : dict
            ``l1_<name>`` and ``cos_<name>`` for each target (``l1_layer<i>``
            for a single teacher's layer ``i``), detached.
        """
        expected = len(self.target_names)
        if preds.dim() != 4 or preds.shape[1] != expected:
            which = (
                f"targets {self.target_names}"
                if self.named_targets
                else f"layers {self.target_layers}"
            )
            raise ValueError(
                f"Expected predictions [batch, {expected}, time, dim] for {which}, "
                f"found {list(preds.shape)}"
            )
        if preds.shape != targets.shape:
            raise ValueError(
                f"Predictions {list(preds.shape)} and teacher targets "
                f"{list(targets.shape)} differ in shape: do the prediction heads "
                "output the teacher's hidden size?"
            )
        total = preds.new_zeros(())
        terms = {}
        for k, name in enumerate(self.target_names):
            l1, cos = layer_distillation_terms(preds[:, k], targets[:, k], lengths)
            total = total + l1 + cos
            terms[f"l1_{name}"] = l1.detach()
            terms[f"cos_{name}"] = cos.detach()
        return total, terms

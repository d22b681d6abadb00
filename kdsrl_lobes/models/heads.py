"""Distillation prediction heads and the linear task heads (KWS, SV).

Authors
 * kdsrl team 2026
"""

from collections.abc import Sequence

import torch

from kdsrl_lobes.models.encoder import check_layers
from kdsrl_lobes.models.pooling import MaskedStatisticsPooling
from kdsrl_lobes.models.teacher import DEFAULT_TARGET_LAYERS


def _check_features(x: torch.Tensor, input_size: int, name: str) -> None:
    if x.dim() != 3 or x.shape[-1] != input_size:
        raise ValueError(
            f"{name} expects [batch, time, {input_size}] features, found "
            f"{list(x.shape)}"
        )


class PredictionHeads(torch.nn.Module):
    """One head per target teacher layer, mapping the student's last hidden state
    to the teacher's hidden size (DistilHuBERT), or, for an ensemble of teachers,
    one head per target the teacher returns (its ``target_names``: one per
    teacher and layer under multiple prediction heads). Discarded after
    distillation.

    Arguments
    ---------
    input_size : int
        Student hidden size.
    output_size : int
        Teacher hidden size.
    target_layers : sequence of int
        Teacher ``hidden_states`` indices predicted, one head each.
    hidden_size : int
        0 for a linear head; otherwise Linear-GELU-Linear with this inner size.
    target_names : sequence of str, optional
        One name per target, in the order of the teacher's second axis (an
        `EnsembleTeacher`'s ``target_names``); ``None``: ``layer<l>`` for each
        of ``target_layers``.

    Example
    -------
    >>> heads = PredictionHeads(input_size=16, output_size=24, target_layers=[4, 8])
    >>> heads(torch.randn(2, 10, 16)).shape
    torch.Size([2, 2, 10, 24])
    >>> names = ["t0_layer4", "t0_layer8", "t1_layer4", "t1_layer8"]
    >>> PredictionHeads(16, 24, [4, 8], target_names=names)(
    ...     torch.randn(2, 10, 16)).shape
    torch.Size([2, 4, 10, 24])
    """

    def __init__(
        self,
        input_size: int = 768,
        output_size: int = 768,
        target_layers: Sequence[int] = DEFAULT_TARGET_LAYERS,
        hidden_size: int = 0,
        target_names: Sequence[str] | None = None,
    ):
        super().__init__()
        self.input_size = input_size
        self.output_size = output_size
        self.target_layers = [int(i) for i in target_layers]
        if not self.target_layers:
            raise ValueError("Expected at least one target layer, found none")
        self.target_names = target_names_of(self.target_layers, target_names)

        def head():
            if hidden_size <= 0:
                return torch.nn.Linear(input_size, output_size)
            return torch.nn.Sequential(
                torch.nn.Linear(input_size, hidden_size),
                torch.nn.GELU(),
                torch.nn.Linear(hidden_size, output_size),
            )

        self.heads = torch.nn.ModuleList(head() for _ in self.target_names)

    def check_teacher(
        self,
        num_layers: int,
        hidden_size: int,
        name="teacher",
        target_names: Sequence[str] | None = None,
    ):
        """Raises a ValueError, before any training, if the teacher lacks a
        target layer, its hidden size differs from the heads' output size, or
        (given its ``target_names``) it returns other targets than the heads
        predict."""
        check_layers(self.target_layers, num_layers, f"the {name}")
        if target_names is not None and list(target_names) != self.target_names:
            raise ValueError(
                f"Prediction heads predict {self.target_names} but the {name} "
                f"returns {list(target_names)}"
            )
        if hidden_size != self.output_size:
            raise ValueError(
                f"Prediction heads output {self.output_size} features but the "
                f"{name}'s hidden size is {hidden_size}"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predicts the target layers.

        Arguments
        ---------
        x : torch.Tensor
            Student last hidden state ``[batch, time, input_size]``.

        Returns
        -------
        preds : torch.Tensor
            ``[batch, len(target_names), time, output_size]``.
        """
        _check_features(x, self.input_size, "PredictionHeads")
        return torch.stack([head(x) for head in self.heads], dim=1)


def target_names_of(
    target_layers: Sequence[int], target_names: Sequence[str] | None = None
) -> list:
    """The names of the distillation targets: ``target_names`` as given, or
    ``layer<l>`` for each target layer (a single teacher's targets).

    Example
    -------
    >>> target_names_of([4, 8])
    ['layer4', 'layer8']
    """
    if target_names is None:
        return [f"layer{int(layer)}" for layer in target_layers]
    names = [str(name) for name in target_names]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"Expected distinct target names, found {names}")
    return names


class KWSHead(torch.nn.Module):
    """Keyword spotting head: masked mean pooling over valid frames, then one
    linear layer to the classes (the paper keeps heads linear to stay small).

    Arguments
    ---------
    input_size : int
        Encoder hidden size.
    n_classes : int
        Number of classes (12 for GSC V1).

    Example
    -------
    >>> head = KWSHead(input_size=16, n_classes=12)
    >>> head(torch.randn(3, 20, 16), torch.tensor([1.0, 0.5, 0.8])).shape
    torch.Size([3, 12])
    """

    def __init__(self, input_size: int = 768, n_classes: int = 12):
        super().__init__()
        self.input_size = input_size
        self.n_classes = n_classes
        self.pooling = MaskedStatisticsPooling(return_std=False)
        self.linear = torch.nn.Linear(input_size, n_classes)

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Returns class logits ``[batch, n_classes]`` for features
        ``[batch, time, input_size]`` with relative ``lengths``."""
        _check_features(x, self.input_size, "KWSHead")
        return self.linear(self.pooling(x, lengths))


class SVHead(torch.nn.Module):
    """Speaker verification head: masked pooling and one linear layer to a
    speaker embedding; verification scores embeddings by cosine. What trains
    it, a cosine classifier over the training speakers with additive angular
    margin softmax, is training state and lives in the recipe's YAML
    (``speaker_classifier`` and ``sv_cost``), as in SpeechBrain's ECAPA recipe.

    Arguments
    ---------
    input_size : int
        Encoder hidden size.
    embedding_size : int
        Speaker embedding size.
    pooling : str
        ``"stats"`` (mean and std) or ``"mean"``.

    Example
    -------
    >>> head = SVHead(input_size=16, embedding_size=8)
    >>> head(torch.randn(4, 20, 16), torch.ones(4)).shape
    torch.Size([4, 8])
    """

    def __init__(
        self,
        input_size: int = 768,
        embedding_size: int = 256,
        pooling: str = "stats",
    ):
        super().__init__()
        if pooling not in ("stats", "mean"):
            raise ValueError(f"Expected pooling 'stats' or 'mean', found '{pooling}'")
        self.input_size = input_size
        self.pooling = MaskedStatisticsPooling(return_std=pooling == "stats")
        self.embedding = torch.nn.Linear(
            self.pooling.output_size(input_size), embedding_size
        )

    @property
    def embedding_size(self) -> int:
        """Size of the speaker embedding."""
        return self.embedding.out_features

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Speaker embeddings ``[batch, embedding_size]`` of features
        ``[batch, time, input_size]``."""
        _check_features(x, self.input_size, "SVHead")
        return self.embedding(self.pooling(x, lengths))

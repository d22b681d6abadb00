"""Distilling a thin front end: the student's CNN (or its feature projection)
learns to reproduce the teacher's, beside the layer-wise loss.

Two places to match, both measured in the distillation README:
``projection`` compares the feature projections' outputs (both the teacher's
hidden size); ``cnn`` compares the conv stacks' features, the student's mapped
to the teacher's channels by a linear projection trained with it (FitHuBERT
matches hidden states through such projections). The loss is the layer-wise
one, L1 + cosine.

Authors
 * kdsrl team 2026
"""

import torch

from kdsrl_lobes.models.encoder import SSLEncoder
from kdsrl_lobes.models.ensemble import EnsembleTeacher
from kdsrl_lobes.models.front_end import FrontEndTap, front_end_forward
from kdsrl_lobes.training.losses import layer_distillation_terms


def _front_end_size(model, point: str) -> int:
    return model.config.conv_dim[-1] if point == "cnn" else model.config.hidden_size


class FrontEndTeacher(torch.nn.Module):
    """A frozen teacher's front end, as a teacher of one target: what
    `kdsrl_lobes.training.teacher_cache.TeacherCache` stores and the
    distillation reads, ``[batch, 1, frames, dim]``.

    Arguments
    ---------
    teacher : SSLEncoder
        The frozen teacher (its preprocessing is used).
    point : str
        ``cnn`` or ``projection`` (`kdsrl_lobes.models.front_end.FrontEndTap`).

    Example
    -------
    >>> from kdsrl_lobes.models.configs import random_speech_model
    >>> teacher = SSLEncoder(random_speech_model("hubert", "tiny"), layers=[4],
    ...                      freeze=True)
    >>> FrontEndTeacher(teacher, "cnn")(torch.randn(2, 16000)).shape
    torch.Size([2, 1, 49, 8])
    """

    def __init__(self, teacher: SSLEncoder, point: str = "projection"):
        super().__init__()
        if point not in FrontEndTap.POINTS:
            raise ValueError(
                f"Expected a front-end point in {FrontEndTap.POINTS}, found {point!r}"
            )
        self.teacher = teacher
        self.point = point
        # what the cache fingerprint records beside the weights
        self.layers = [f"front_end_{point}"]
        self.normalize_waveform = teacher.normalize_waveform
        self.use_attention_mask = teacher.use_attention_mask

    @property
    def model(self):
        """The teacher's transformers model."""
        return self.teacher.model

    @property
    def size(self) -> int:
        """Feature size of the target."""
        return _front_end_size(self.model, self.point)

    def num_frames(self, num_samples: torch.Tensor) -> torch.Tensor:
        """Frames of the front end for ``num_samples`` samples."""
        return self.teacher.num_frames(num_samples)

    @torch.no_grad()
    def forward(self, wav: torch.Tensor, wav_lens: torch.Tensor | None = None):
        """``[batch, 1, frames, dim]`` front-end output of audio ``[batch, time]``."""
        wav, _ = self.teacher.preprocess(wav, wav_lens)
        return front_end_forward(self.model, wav, self.point).unsqueeze(1)


class FrontEndLoss(torch.nn.Module):
    """L1 + cosine between the student's front-end output (through a trained
    linear map for ``cnn``) and the teacher's.

    Arguments
    ---------
    student_size : int
        Feature size of the student's front-end output.
    teacher_size : int
        Feature size of the teacher's.
    point : str
        ``cnn`` or ``projection``.
    weight : float
        Factor on this loss when added to the layer-wise loss.

    Example
    -------
    >>> loss = FrontEndLoss(8, 16, "cnn")
    >>> total, terms = loss(torch.randn(2, 49, 8), torch.randn(2, 49, 16))
    >>> sorted(terms), total.shape
    (['cos_front_end', 'l1_front_end'], torch.Size([]))
    """

    def __init__(
        self,
        student_size: int = 512,
        teacher_size: int = 512,
        point: str = "projection",
        weight: float = 1.0,
    ):
        super().__init__()
        if point not in FrontEndTap.POINTS:
            raise ValueError(
                f"Expected a front-end point in {FrontEndTap.POINTS}, found {point!r}"
            )
        if point == "projection" and student_size != teacher_size:
            raise ValueError(
                f"Feature projections of {student_size} (student) and {teacher_size} "
                "(teacher) features cannot be compared: both are the hidden size"
            )
        self.point = point
        self.weight = float(weight)
        self.projection = (
            torch.nn.Linear(student_size, teacher_size) if point == "cnn" else None
        )

    def term_names(self) -> list:
        """Names of the logged terms."""
        return ["l1_front_end", "cos_front_end"]

    def forward(
        self,
        student: torch.Tensor,
        teacher: torch.Tensor,
        lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Weighted loss and its detached terms; ``student`` and ``teacher``
        are ``[batch, frames, dim]``."""
        if self.projection is not None:
            student = self.projection(student)
        l1, cos = layer_distillation_terms(student, teacher, lengths)
        terms = {"l1_front_end": l1.detach(), "cos_front_end": cos.detach()}
        return self.weight * (l1 + cos), terms


def front_end_teacher(
    teacher: SSLEncoder | EnsembleTeacher, init_teacher: int | str | None = None
) -> SSLEncoder:
    """The teacher whose front end a student matches: of an ensemble, the
    member that initialised the student (``init_teacher``, default the first)."""
    if isinstance(teacher, EnsembleTeacher):
        return teacher.member(0 if init_teacher is None else init_teacher)
    return teacher


def front_end_loss(
    student: SSLEncoder,
    teacher: SSLEncoder | EnsembleTeacher,
    point: str | None = None,
    weight: float = 1.0,
    init_teacher: int | str | None = None,
) -> FrontEndLoss | None:
    """The `FrontEndLoss` a recipe trains, or None when ``point`` is None
    (HyperPyYAML has no conditionals); see `front_end_teacher` for ensembles.

    Example
    -------
    >>> front_end_loss(None, None) is None
    True
    """
    if point is None:
        return None
    teacher = front_end_teacher(teacher, init_teacher)
    return FrontEndLoss(
        _front_end_size(student.model, point),
        _front_end_size(teacher.model, point),
        point,
        weight,
    )

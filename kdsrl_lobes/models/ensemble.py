"""Several frozen teachers as one: ensemble knowledge distillation targets.

Huang et al. (ICASSP 2023) distil HuBERT, RobustHuBERT and WavLM into one
DistilHuBERT-style student. The teachers' representations are aggregated layer by
layer, by their average or their concatenation on the feature axis, or kept apart
for the student's multiple prediction heads (one head per teacher and layer).
`EnsembleTeacher` returns those targets as one ``[batch, targets, frames, dim]``
tensor, which the prediction heads, the loss and the teacher cache take the way
they take a single teacher's layers.

Authors
 * kdsrl team 2026
"""

from collections.abc import Sequence

import torch
from speechbrain.utils.logger import get_logger

from kdsrl_lobes.models.encoder import SSLEncoder
from kdsrl_lobes.models.heads import target_names_of
from kdsrl_lobes.models.teacher import DEFAULT_TARGET_LAYERS, load_teacher

logger = get_logger(__name__)

AGGREGATIONS = ("average", "concat", "per_teacher")

# Audio lengths (in samples, up to 30 s at 16 kHz) on which the teachers' CNNs
# must give the same frame counts.
_PROBE_LENGTHS = torch.arange(400, 30 * 16000 + 1)


def check_aggregation(aggregation: str, num_teachers: int) -> None:
    """Raises a ValueError for an unknown aggregation or an average of one teacher.

    Example
    -------
    >>> check_aggregation("sum", 2)
    Traceback (most recent call last):
    ...
    ValueError: Unknown aggregation 'sum': expected one of ('average', ...
    """
    if aggregation not in AGGREGATIONS:
        raise ValueError(
            f"Unknown aggregation '{aggregation}': expected one of {AGGREGATIONS}"
        )
    if num_teachers < 1:
        raise ValueError("Expected at least one teacher, found none")
    if aggregation == "average" and num_teachers < 2:
        raise ValueError(
            f"aggregation 'average' needs at least 2 teachers, found {num_teachers}: "
            "use the single-teacher recipe (distill.yaml, --teacher_source)"
        )


class EnsembleTeacher(torch.nn.Module):
    """Frozen teachers whose selected layers are aggregated into one target.

    Arguments
    ---------
    teachers : sequence of SSLEncoder
        Frozen teachers (`load_teacher`) with the same ``layers``; any mix of
        wav2vec 2.0, HuBERT and WavLM. Each preprocesses the audio its own way
        (normalisation, attention mask). Their CNNs must give the same number of
        frames for the same audio.
    aggregation : str
        ``average``: one target per layer, the mean of the teachers' layer (same
        hidden size needed). ``concat``: one target per layer, the teachers'
        layer concatenated on the feature axis in teacher order. ``per_teacher``:
        one target per (teacher, layer), teacher-major (all layers of the first
        teacher, then of the second...); the targets are stacked in one tensor,
        so the teachers must share the hidden size (no zero padding).

    Example
    -------
    >>> from kdsrl_lobes.models.configs import random_speech_model
    >>> teachers = [
    ...     SSLEncoder(random_speech_model(a, "tiny"), layers=[2, 4], freeze=True)
    ...     for a in ("hubert", "wavlm")
    ... ]
    >>> ensemble = EnsembleTeacher(teachers, "per_teacher")
    >>> ensemble.target_names
    ['t0_layer2', 't0_layer4', 't1_layer2', 't1_layer4']
    >>> ensemble(torch.randn(2, 16000), torch.tensor([1.0, 0.5])).shape
    torch.Size([2, 4, 49, 16])
    >>> ensemble.num_frames(torch.tensor([16000, 8000]))
    tensor([49, 24])
    """

    def __init__(
        self, teachers: Sequence[SSLEncoder] = (), aggregation: str = "average"
    ):
        super().__init__()
        teachers = list(teachers)
        check_aggregation(aggregation, len(teachers))
        for i, teacher in enumerate(teachers):
            if not isinstance(teacher, SSLEncoder):
                raise ValueError(
                    f"Expected SSLEncoder teachers, found {type(teacher).__name__} "
                    f"as teacher {i}"
                )
            if teacher.layers is None or not teacher.freeze:
                raise ValueError(
                    f"Expected frozen teachers with target layers set "
                    f"(load_teacher), found {_describe(i, teacher)} with layers "
                    f"{teacher.layers} and freeze={teacher.freeze}"
                )
        self.teachers = torch.nn.ModuleList(teachers)
        self.aggregation = aggregation
        self.layers = list(teachers[0].layers)
        first = _describe(0, teachers[0])
        for i, teacher in enumerate(teachers[1:], start=1):
            if teacher.layers != self.layers:
                raise ValueError(
                    f"Teachers must return the same layers: {first} returns "
                    f"{self.layers}, {_describe(i, teacher)} returns {teacher.layers}"
                )
            if aggregation != "concat" and teacher.hidden_size != self.hidden_size:
                raise ValueError(
                    f"aggregation '{aggregation}' needs teachers of one hidden "
                    f"size: {first} has {teachers[0].hidden_size}, "
                    f"{_describe(i, teacher)} has {teacher.hidden_size} "
                    "(use aggregation 'concat')"
                )
        self.num_frames(_PROBE_LENGTHS)  # fails now if the teachers' CNNs differ
        logger.info(
            "Ensemble of %d teachers (%s): %s",
            len(teachers),
            aggregation,
            ", ".join(_describe(i, t) for i, t in enumerate(teachers)),
        )

    @property
    def sources(self) -> list:
        """Each teacher's source (hub id or directory), in teacher order."""
        return [teacher.source for teacher in self.teachers]

    @property
    def model_types(self) -> list:
        """Each teacher's transformers model type, in teacher order."""
        return [teacher.model.config.model_type for teacher in self.teachers]

    @property
    def hidden_size(self) -> int:
        """Feature dimension of the targets (the sum of the teachers' under
        ``concat``)."""
        sizes = [teacher.hidden_size for teacher in self.teachers]
        return sum(sizes) if self.aggregation == "concat" else sizes[0]

    @property
    def num_layers(self) -> int:
        """Transformer layers of the shallowest teacher (the deepest
        ``hidden_states`` index every teacher has)."""
        return min(teacher.num_layers for teacher in self.teachers)

    @property
    def target_names(self) -> list:
        """One name per target, in target order: ``layer<l>``, or
        ``t<i>_layer<l>`` for teacher ``i`` under ``per_teacher``."""
        if self.aggregation != "per_teacher":
            return target_names_of(self.layers)
        return [
            f"t{i}_layer{layer}"
            for i in range(len(self.teachers))
            for layer in self.layers
        ]

    def index(self, which: int | str = 0) -> int:
        """The position of a teacher given by index, source, or model type (when
        only one teacher has it).

        Example
        -------
        >>> from kdsrl_lobes.models.configs import random_speech_model
        >>> ensemble = EnsembleTeacher([
        ...     SSLEncoder(random_speech_model(a, "tiny"), layers=[2], freeze=True)
        ...     for a in ("hubert", "wavlm")], "concat")
        >>> ensemble.index("wavlm"), ensemble.member(1)(torch.randn(1, 400)).shape
        (1, torch.Size([1, 1, 1, 16]))
        """
        count = len(self.teachers)
        if isinstance(which, int) and not isinstance(which, bool):
            if not -count <= which < count:
                raise ValueError(
                    f"Teacher index {which} requested but the ensemble has {count} "
                    f"teachers (0..{count - 1})"
                )
            return which % count
        matches = [i for i, source in enumerate(self.sources) if source == which]
        if not matches:
            matches = [i for i, kind in enumerate(self.model_types) if kind == which]
        if len(matches) != 1:
            raise ValueError(
                f"Expected a teacher index, source or unique model type, found "
                f"{which!r}; the teachers are "
                + ", ".join(_describe(i, t) for i, t in enumerate(self.teachers))
            )
        return matches[0]

    def member(self, which: int | str = 0) -> SSLEncoder:
        """The teacher given by index, source or unique model type (`index`)."""
        return self.teachers[self.index(which)]

    def num_frames(self, num_samples: torch.Tensor) -> torch.Tensor:
        """Output frames for ``num_samples`` input samples, which every teacher
        must agree on (ValueError naming two teachers that do not)."""
        counts = [teacher.num_frames(num_samples) for teacher in self.teachers]
        flat = [count.reshape(-1) for count in counts]
        for i, count in enumerate(flat[1:], start=1):
            differ = torch.nonzero(count != flat[0]).flatten()
            if len(differ):
                k = int(differ[0])
                samples = int(num_samples.reshape(-1)[k])
                raise self._frames_differ(
                    i, flat[0][k], count[k], f" for {samples} samples"
                )
        return counts[0]

    def _frames_differ(self, i, first, other, where=""):
        return ValueError(
            "Teachers give different frame counts for the same audio: "
            f"{_describe(0, self.teachers[0])} {int(first)}, "
            f"{_describe(i, self.teachers[i])} {int(other)} frames{where}"
        )

    def forward(
        self, wav: torch.Tensor, wav_lens: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Targets ``[batch, len(target_names), frames, hidden_size]`` of audio
        ``wav`` ``[batch, time]`` with relative lengths ``wav_lens`` ``[batch]``,
        each teacher encoding it as its `SSLEncoder.forward` does."""
        outs = [teacher(wav, wav_lens) for teacher in self.teachers]  # B x L x T x D
        for i, out in enumerate(outs[1:], start=1):
            if out.shape[2] != outs[0].shape[2]:
                raise self._frames_differ(i, outs[0].shape[2], out.shape[2])
        if self.aggregation == "average":
            return torch.stack(outs).mean(dim=0)  # B x L x T x D
        if self.aggregation == "concat":
            return torch.cat(outs, dim=-1)  # B x L x T x sum(D)
        return torch.cat(outs, dim=1)  # B x (teachers * L) x T x D


def _describe(i: int, teacher: SSLEncoder) -> str:
    kind = teacher.model.config.model_type
    return f"teacher {i} ({teacher.source or kind}, {kind})"


def load_ensemble_teacher(
    sources: Sequence[str] = (),
    layers: Sequence[int] = DEFAULT_TARGET_LAYERS,
    aggregation: str = "average",
    cache_dir: str | None = None,
    revision: str | None = None,
) -> EnsembleTeacher:
    """Loads each source as a frozen teacher (`load_teacher`) and aggregates them.

    Arguments
    ---------
    sources : sequence of str
        Hub ids or local transformers directories, in teacher order.
    layers : sequence of int
        The ``hidden_states`` indices every teacher returns.
    aggregation : str
        ``average``, ``concat`` or ``per_teacher`` (see `EnsembleTeacher`).
    cache_dir, revision : str, optional
        Passed to transformers for every teacher.

    Returns
    -------
    teacher : EnsembleTeacher

    Example
    -------
    >>> import tempfile
    >>> from kdsrl_lobes.models.configs import random_speech_model
    >>> dirs = [tempfile.mkdtemp(), tempfile.mkdtemp()]
    >>> random_speech_model("hubert", "tiny").save_pretrained(dirs[0])
    >>> random_speech_model("wavlm", "tiny").save_pretrained(dirs[1])
    >>> ensemble = load_ensemble_teacher(dirs, layers=[2, 4], aggregation="concat")
    >>> ensemble(torch.randn(2, 16000)).shape
    torch.Size([2, 2, 49, 32])
    """
    if isinstance(sources, str):
        raise ValueError(
            f"Expected a list of teacher sources, found the string {sources!r}"
        )
    sources = list(sources)
    check_aggregation(aggregation, len(sources))  # before loading anything
    teachers = [
        load_teacher(source, layers=layers, cache_dir=cache_dir, revision=revision)
        for source in sources
    ]
    return EnsembleTeacher(teachers, aggregation)

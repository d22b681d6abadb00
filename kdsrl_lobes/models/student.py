"""Building the student: the teacher's CNN and first transformer layers, copied.

Authors
 * kdsrl team 2026
"""

import copy
from collections.abc import Sequence

import transformers

from kdsrl_lobes.models.encoder import SSLEncoder
from kdsrl_lobes.models.ensemble import EnsembleTeacher
from kdsrl_lobes.models.front_end import (
    FRONT_END_INITS,
    FRONT_ENDS,
    is_front_end_parameter,
    slice_front_end,
    thin_config,
)


def build_student(
    teacher: SSLEncoder | transformers.PreTrainedModel,
    num_layers: int = 2,
    front_end: str = "copy",
    front_end_channels: Sequence[int] | None = None,
    front_end_kernels: Sequence[int] | None = None,
    front_end_strides: Sequence[int] | None = None,
    front_end_init: str = "slice",
) -> transformers.PreTrainedModel:
    """Builds a student of the teacher's own class with ``num_layers`` layers.

    The CNN feature extractor, feature projection, positional convolution, encoder
    layer norm and the first ``num_layers`` transformer layers are exact copies of
    the teacher's (the paper initialises the student this way). The student is a
    plain transformers model: it saves as config.json + model.safetensors and
    loads back with ``transformers.AutoModel.from_pretrained``. Its config turns
    off LayerDrop and transformers' SpecAugment, which a 2-layer student trained
    on teacher targets must not have.

    With ``front_end="thin"`` the conv stack is narrower
    (`kdsrl_lobes.models.front_end`: the teacher's kernels and strides, fewer
    channels) and it and the feature projection (to the teacher's hidden size)
    are initialised from the teacher's largest filters (or randomly);
    everything after them is copied as above. The config
    differs from the teacher's only in ``conv_dim`` (and the kernels and
    strides, when given), so the student stays a plain transformers model.

    Arguments
    ---------
    teacher : SSLEncoder or transformers.PreTrainedModel
        The teacher (wav2vec 2.0, HuBERT or WavLM; post-LN BASE or
        ``do_stable_layer_norm`` LARGE style).
    num_layers : int
        Transformer layers the student keeps.
    front_end : str
        ``copy`` (the teacher's CNN) or ``thin``.
    front_end_channels : sequence of int, optional
        Channels per conv layer of a thin front end (``None``:
        `kdsrl_lobes.models.front_end.thin_channels` of the teacher's).
    front_end_kernels, front_end_strides : sequence of int, optional
        Another conv stack for a thin front end (``None``: the teacher's). It
        must give the teacher's frame count for every input length.
    front_end_init : str
        A thin front end's initialisation: ``slice`` (the teacher's filters of
        largest norm, `kdsrl_lobes.models.front_end.slice_front_end`; needs
        the teacher's kernels and strides) or ``random``.

    Returns
    -------
    student : transformers.PreTrainedModel
        Same class as the teacher's model, ``num_layers`` layers, own weights.

    Example
    -------
    >>> import torch
    >>> from kdsrl_lobes.models.configs import speech_config
    >>> cfg = speech_config("wav2vec2", "tiny", num_hidden_layers=6)
    >>> teacher = transformers.Wav2Vec2Model(cfg)
    >>> student = build_student(teacher, num_layers=2)
    >>> len(student.encoder.layers)
    2
    >>> torch.equal(student.encoder.layers[1].feed_forward.output_dense.weight,
    ...             teacher.encoder.layers[1].feed_forward.output_dense.weight)
    True
    >>> thin = build_student(teacher, front_end="thin", front_end_channels=[4, 4, 8])
    >>> thin.config.conv_dim, type(thin).__name__
    ([4, 4, 8], 'Wav2Vec2Model')
    """
    model = teacher.model if isinstance(teacher, SSLEncoder) else teacher
    if not isinstance(model, transformers.PreTrainedModel):
        raise ValueError(
            "Expected an SSLEncoder or a transformers model as teacher, found "
            f"{type(teacher).__name__}"
        )
    teacher_layers = model.config.num_hidden_layers
    if not 1 <= num_layers <= teacher_layers:
        raise ValueError(
            f"num_layers must be between 1 and the teacher's {teacher_layers} "
            f"layers, found {num_layers}"
        )
    if front_end not in FRONT_ENDS:
        raise ValueError(f"Expected front_end in {FRONT_ENDS}, found {front_end!r}")
    if front_end_init not in FRONT_END_INITS:
        raise ValueError(
            f"Expected front_end_init in {FRONT_END_INITS}, found {front_end_init!r}"
        )
    thin = front_end == "thin"
    if not thin and any(
        x is not None
        for x in (front_end_channels, front_end_kernels, front_end_strides)
    ):
        raise ValueError(
            "front_end_channels, front_end_kernels and front_end_strides shape a "
            f"thin front end, found them with front_end={front_end!r}"
        )
    config = copy.deepcopy(model.config)
    if thin:
        config = thin_config(
            config, front_end_channels, front_end_kernels, front_end_strides
        )
    config.num_hidden_layers = num_layers
    config.layerdrop = 0.0
    config.apply_spec_augment = False
    student = type(model)(config)
    teacher_state = model.state_dict()
    student_state = student.state_dict()
    copied = [k for k in student_state if not (thin and is_front_end_parameter(k))]
    missing = [key for key in copied if key not in teacher_state]
    if missing:
        raise ValueError(f"Student parameters missing from the teacher: {missing[:5]}")
    # Every copied student key (CNN, projection, positional conv, encoder layer
    # norm, layers 0..num_layers-1, masked_spec_embed) exists in the teacher
    # under the same name; later layers are simply not asked for. A thin front
    # end is sliced from the teacher's or keeps its random initialisation.
    student.load_state_dict(
        {key: teacher_state[key].clone() for key in copied}, strict=not thin
    )
    if thin and front_end_init == "slice":
        slice_front_end(student, model)
    student.train()
    return student


def build_student_encoder(
    teacher: SSLEncoder | EnsembleTeacher,
    num_layers: int = 2,
    init_teacher: int | str | None = None,
    front_end: str = "copy",
    front_end_channels: Sequence[int] | None = None,
    front_end_init: str = "slice",
) -> SSLEncoder:
    """`build_student` wrapped as a trainable `SSLEncoder` that preprocesses audio
    exactly as the teacher does (normalisation, attention mask).

    Arguments
    ---------
    teacher : SSLEncoder or EnsembleTeacher
        The teacher; of an ensemble, the member ``init_teacher`` initialises
        the student (its class, weights and preprocessing).
    num_layers : int
        Transformer layers the student keeps.
    init_teacher : int or str, optional
        Index, source or unique model type of an ensemble's member (``None``:
        the first); only for an `EnsembleTeacher`.
    front_end, front_end_channels, front_end_init :
        As in `build_student`.

    Returns
    -------
    student : SSLEncoder
        Trainable, returning the last hidden state.

    Example
    -------
    >>> import torch
    >>> from kdsrl_lobes.models.configs import speech_config
    >>> cfg = speech_config("hubert", "tiny", num_hidden_layers=4)
    >>> teacher = SSLEncoder(transformers.HubertModel(cfg), layers=[4], freeze=True)
    >>> student = build_student_encoder(teacher)
    >>> student(torch.randn(2, 16000)).shape
    torch.Size([2, 49, 16])
    >>> wavlm = SSLEncoder(transformers.WavLMModel(speech_config("wavlm", "tiny")),
    ...                    layers=[4], freeze=True)
    >>> ensemble = EnsembleTeacher([teacher, wavlm], "concat")
    >>> type(build_student_encoder(ensemble, init_teacher="wavlm").model).__name__
    'WavLMModel'
    """
    if isinstance(teacher, EnsembleTeacher):
        teacher = teacher.member(0 if init_teacher is None else init_teacher)
    elif init_teacher is not None:
        raise ValueError(
            f"init_teacher chooses a member of an EnsembleTeacher, found "
            f"init_teacher={init_teacher!r} with a single {type(teacher).__name__}"
        )
    return SSLEncoder(
        build_student(
            teacher,
            num_layers=num_layers,
            front_end=front_end,
            front_end_channels=front_end_channels,
            front_end_init=front_end_init,
        ),
        normalize_waveform=teacher.normalize_waveform,
        use_attention_mask=teacher.use_attention_mask,
        source=teacher.source,
    )

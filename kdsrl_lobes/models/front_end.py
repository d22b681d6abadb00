"""The student's CNN front end: the teacher's copy, or a thin one (FitHuBERT,
ARMHuBERT) with the same kernels and strides and fewer channels.

In a BASE teacher the 7-layer CNN costs about 2.45 of the 3.4 GMACs per second
of audio that a 2-layer student spends; its channels are what a thin front end
narrows. A thin front end must keep the teacher's frame rate and frame counts,
so that the copied transformer layers and the layer-wise targets line up frame
for frame.

Authors
 * kdsrl team 2026
"""

import copy
from collections.abc import Sequence

import torch
import transformers

# Default thin widths, as fractions of the teacher's channels per conv layer:
# the early, long layers are narrowed most (FitHuBERT's 128/256/512 for BASE's
# 512). The README's edge section has the measurements that chose them.
THIN_WIDTHS = (0.25, 0.25, 0.5, 0.5, 1.0, 1.0, 1.0)
FRONT_ENDS = ("copy", "thin")


def thin_channels(
    teacher_channels: Sequence[int], widths: Sequence[float] = THIN_WIDTHS
) -> tuple[int, ...]:
    """Channels of a thin front end: ``widths`` of the teacher's, per layer
    (the last width repeats for deeper stacks), at least 1.

    Example
    -------
    >>> thin_channels((512,) * 7)
    (128, 128, 256, 256, 512, 512, 512)
    >>> thin_channels((8, 8, 8))
    (2, 2, 4)
    """
    widths = list(widths) + [widths[-1]] * max(0, len(teacher_channels) - len(widths))
    return tuple(
        max(1, round(c * w)) for c, w in zip(teacher_channels, widths, strict=False)
    )


def conv_output_frames(
    num_samples: int, kernels: Sequence[int], strides: Sequence[int]
) -> int:
    """Frames out of a conv stack (no padding) for ``num_samples`` samples.

    Example
    -------
    >>> conv_output_frames(16000, (10, 3, 3, 3, 3, 2, 2), (5, 2, 2, 2, 2, 2, 2))
    49
    """
    length = num_samples
    for kernel, stride in zip(kernels, strides, strict=True):
        length = (length - kernel) // stride + 1
    return length


def check_front_end(
    teacher_config: transformers.PretrainedConfig,
    channels: Sequence[int],
    kernels: Sequence[int],
    strides: Sequence[int],
) -> None:
    """Raises ``ValueError`` unless a conv stack gives the teacher's frame
    counts for every input length.

    Frame counts of a stack with total stride ``S`` grow by one every ``S``
    samples past its receptive field, so two stacks agree everywhere when
    their total strides agree and they agree on one period past the larger
    receptive field (checked exhaustively here).

    Example
    -------
    >>> from kdsrl_lobes.models.configs import speech_config
    >>> cfg = speech_config("hubert", "tiny")
    >>> check_front_end(cfg, (4, 4, 4), (10, 8, 8), (5, 8, 8))
    >>> check_front_end(cfg, (4, 4, 4), (10, 8, 8), (5, 8, 4))
    Traceback (most recent call last):
    ...
    ValueError: The front end's total stride 160 (strides [5, 8, 4]) differs from the teacher's 320 (strides [5, 8, 8]): the frame rates would not match
    """  # noqa: E501
    if not len(channels) == len(kernels) == len(strides) or not channels:
        raise ValueError(
            "Expected one channel count, kernel and stride per conv layer, found "
            f"channels {list(channels)}, kernels {list(kernels)}, strides "
            f"{list(strides)}"
        )
    if any(int(c) < 1 for c in channels):
        raise ValueError(f"Expected positive channel counts, found {list(channels)}")
    t_kernels, t_strides = (
        list(teacher_config.conv_kernel),
        list(teacher_config.conv_stride),
    )
    total, t_total = _product(strides), _product(t_strides)
    if total != t_total:
        raise ValueError(
            f"The front end's total stride {total} (strides {list(strides)}) "
            f"differs from the teacher's {t_total} (strides {t_strides}): the "
            "frame rates would not match"
        )
    start = max(
        _receptive_field(kernels, strides), _receptive_field(t_kernels, t_strides)
    )
    for n in range(start, start + total + 1):
        ours = conv_output_frames(n, kernels, strides)
        theirs = conv_output_frames(n, t_kernels, t_strides)
        if ours != theirs:
            raise ValueError(
                f"The front end (kernels {list(kernels)}, strides {list(strides)}) "
                f"gives {ours} frames for {n} samples where the teacher's gives "
                f"{theirs}: its frames would not line up with the teacher's"
            )


def _product(values):
    out = 1
    for v in values:
        out *= int(v)
    return out


def _receptive_field(kernels, strides):
    """Samples needed for one output frame."""
    field, jump = 1, 1
    for kernel, stride in zip(kernels, strides, strict=True):
        field += (kernel - 1) * jump
        jump *= stride
    return field


def thin_config(
    teacher_config: transformers.PretrainedConfig,
    channels: Sequence[int] | None = None,
    kernels: Sequence[int] | None = None,
    strides: Sequence[int] | None = None,
) -> transformers.PretrainedConfig:
    """A copy of the teacher's config with a thin conv stack (``None``: the
    teacher's kernels and strides, `thin_channels` of its channels).

    Example
    -------
    >>> from kdsrl_lobes.models.configs import speech_config
    >>> thin_config(speech_config("hubert", "base")).conv_dim
    [128, 128, 256, 256, 512, 512, 512]
    """
    config = copy.deepcopy(teacher_config)
    kernels = list(teacher_config.conv_kernel if kernels is None else kernels)
    strides = list(teacher_config.conv_stride if strides is None else strides)
    if channels is None:
        channels = thin_channels(teacher_config.conv_dim)
        if len(channels) != len(kernels):  # a stack of another depth
            channels = [teacher_config.conv_dim[-1]] * len(kernels)
    channels = [int(c) for c in channels]
    check_front_end(teacher_config, channels, kernels, strides)
    config.conv_dim, config.conv_kernel, config.conv_stride = channels, kernels, strides
    config.num_feat_extract_layers = len(channels)
    return config


def is_front_end_parameter(name: str) -> bool:
    """Whether a transformers state-dict key belongs to the CNN or the feature
    projection (what a thin front end replaces).

    Example
    -------
    >>> is_front_end_parameter("feature_projection.projection.weight")
    True
    >>> is_front_end_parameter("encoder.pos_conv_embed.conv.bias")
    False
    """
    return name.startswith(("feature_extractor.", "feature_projection."))


class FrontEndTap:
    """Keeps the last output of a model's front end, read by a forward hook
    while the model runs as usual (no second pass through the CNN).

    Arguments
    ---------
    model : transformers.PreTrainedModel
        A wav2vec 2.0 / HuBERT / WavLM model.
    point : str
        ``cnn`` (the conv stack's features ``[batch, frames, channels]``) or
        ``projection`` (the feature projection's ``[batch, frames, hidden]``).

    Example
    -------
    >>> from kdsrl_lobes.models.configs import random_speech_model
    >>> model = random_speech_model("hubert", "tiny")
    >>> tap = FrontEndTap(model, "cnn")
    >>> _ = model(torch.randn(2, 16000))
    >>> tap.output.shape
    torch.Size([2, 49, 8])
    """

    POINTS = ("cnn", "projection")

    def __init__(self, model: transformers.PreTrainedModel, point: str = "projection"):
        if point not in self.POINTS:
            raise ValueError(
                f"Expected a front-end point in {self.POINTS}, found {point!r}"
            )
        self.point = point
        self.output = None
        module = model.feature_extractor if point == "cnn" else model.feature_projection
        self.handle = module.register_forward_hook(self._keep)

    def _keep(self, module, inputs, output):
        if self.point == "cnn":
            self.output = output.transpose(1, 2)  # B x C x T -> B x T x C
        else:  # wav2vec 2.0 and WavLM also return the normed CNN features
            self.output = output[0] if isinstance(output, tuple) else output

    def remove(self) -> None:
        """Detaches the hook."""
        self.handle.remove()


def front_end_forward(
    model: transformers.PreTrainedModel, wav: torch.Tensor, point: str = "projection"
) -> torch.Tensor:
    """Runs only a model's front end on (already preprocessed) audio
    ``[batch, time]``: ``[batch, frames, channels or hidden]``.

    Example
    -------
    >>> from kdsrl_lobes.models.configs import random_speech_model
    >>> model = random_speech_model("wav2vec2", "tiny")
    >>> front_end_forward(model, torch.randn(2, 16000)).shape
    torch.Size([2, 49, 16])
    """
    features = model.feature_extractor(wav).transpose(1, 2)  # B x T x C
    if point == "cnn":
        return features
    if point != "projection":
        raise ValueError(
            f"Expected a front-end point in {FrontEndTap.POINTS}, found {point!r}"
        )
    out = model.feature_projection(features)
    return out[0] if isinstance(out, tuple) else out


FRONT_END_INITS = ("slice", "random")


@torch.no_grad()
def slice_front_end(
    student: transformers.PreTrainedModel, teacher: transformers.PreTrainedModel
) -> list[torch.Tensor]:
    """Initialises a thin front end from the teacher's: each conv layer keeps
    the teacher's filters of largest L2 norm (restricted to the input
    channels the previous layer kept), its norm keeps their scales, and the
    feature projection keeps the columns of the last layer's kept channels
    (all of them, and so the teacher's projection exactly, when the last
    layer is as wide as the teacher's). Structured pruning without the
    search: the thin student starts near the teacher's front end instead of
    from noise. Returns the kept channel indices per layer.

    Example
    -------
    >>> from kdsrl_lobes.models.configs import random_speech_model
    >>> teacher = random_speech_model("hubert", "tiny")
    >>> student = type(teacher)(thin_config(teacher.config, [4, 4, 8]))
    >>> kept = slice_front_end(student, teacher)
    >>> [len(k) for k in kept]
    [4, 4, 8]
    >>> torch.equal(student.feature_projection.projection.weight,
    ...             teacher.feature_projection.projection.weight)
    True
    """
    s_cfg, t_cfg = student.config, teacher.config
    if list(s_cfg.conv_kernel) != list(t_cfg.conv_kernel) or list(
        s_cfg.conv_stride
    ) != list(t_cfg.conv_stride):
        raise ValueError(
            "Slicing the teacher's front end needs its kernels and strides, found "
            f"kernels {list(s_cfg.conv_kernel)} and strides {list(s_cfg.conv_stride)}"
            f" for the teacher's {list(t_cfg.conv_kernel)} and "
            f"{list(t_cfg.conv_stride)}: use random initialisation"
        )
    kept, previous = [], torch.arange(1)
    pairs = zip(
        student.feature_extractor.conv_layers,
        teacher.feature_extractor.conv_layers,
        strict=True,
    )
    for s_layer, t_layer in pairs:
        weight = t_layer.conv.weight[:, previous]  # C_out x C_in(kept) x K
        width = s_layer.conv.out_channels
        keep = weight.flatten(1).norm(dim=1).topk(width).indices.sort().values
        s_layer.conv.weight.copy_(weight[keep])
        if t_layer.conv.bias is not None:
            s_layer.conv.bias.copy_(t_layer.conv.bias[keep])
        norm = getattr(t_layer, "layer_norm", None)
        if norm is not None and norm.weight is not None:
            s_layer.layer_norm.weight.copy_(norm.weight[keep])
            s_layer.layer_norm.bias.copy_(norm.bias[keep])
        kept.append(keep)
        previous = keep
    s_proj, t_proj = student.feature_projection, teacher.feature_projection
    norm = getattr(t_proj, "layer_norm", None)
    if norm is not None:
        s_proj.layer_norm.weight.copy_(norm.weight[previous])
        s_proj.layer_norm.bias.copy_(norm.bias[previous])
    s_proj.projection.weight.copy_(t_proj.projection.weight[:, previous])
    s_proj.projection.bias.copy_(t_proj.projection.bias)
    return kept

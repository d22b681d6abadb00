"""The layout of a packaged multi-task model and the helpers its
``hyperparams.yaml`` calls while loading.

A package (written by ``python -m kdsrl_lobes.package``) holds:

- ``hyperparams.yaml``: builds the encoder from its inline transformers config
  (`encoder_from_config`: no weights download), the two heads and the label
  encoder, and a SpeechBrain ``Pretrainer`` that loads the files below;
- ``encoder.safetensors``, ``kws_head.safetensors``, ``sv_head.safetensors``:
  state dicts, loaded strictly by `load_safetensors` (no pickle);
- ``label_encoder.txt``: SpeechBrain's ``CategoricalEncoder`` text format;
- ``config.json`` + ``preprocessor_config.json`` (the encoder's transformers
  config, also inline in the YAML), ``metrics.json`` and a ``README.md`` card.

Authors
 * kdsrl team 2026
"""

import os

import safetensors.torch
import torch
import transformers
from speechbrain.utils.logger import get_logger

from kdsrl_lobes.models.encoder import SUPPORTED_MODEL_TYPES, SSLEncoder

logger = get_logger(__name__)

HPARAMS_FILE = "hyperparams.yaml"
WEIGHT_FILES = {
    "encoder": "encoder.safetensors",
    "kws_head": "kws_head.safetensors",
    "sv_head": "sv_head.safetensors",
}
LABEL_ENCODER_FILE = "label_encoder.txt"
REQUIRED_FILES = (HPARAMS_FILE, *WEIGHT_FILES.values(), LABEL_ENCODER_FILE)


def encoder_from_config(
    config: dict,
    normalize_waveform: bool = False,
    use_attention_mask: bool = False,
) -> SSLEncoder:
    """Builds a randomly initialised `SSLEncoder` from a transformers config
    mapping (``config.json``'s content); the weights come later.

    Arguments
    ---------
    config : dict
        A wav2vec 2.0 / HuBERT / WavLM config with its ``model_type``.
    normalize_waveform : bool
        Per-utterance waveform normalisation, as in training.
    use_attention_mask : bool
        Pass an attention mask to the model, as in training.

    Returns
    -------
    encoder : SSLEncoder
        In eval mode, returning the last hidden state.

    Example
    -------
    >>> from kdsrl_lobes.models.configs import speech_config
    >>> cfg = speech_config("hubert", "tiny").to_diff_dict()
    >>> encoder_from_config(cfg)(torch.randn(1, 16000)).shape
    torch.Size([1, 49, 16])
    """
    fields = dict(config)
    model_type = fields.pop("model_type", None)
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ValueError(
            f"Expected an encoder config with model_type in {SUPPORTED_MODEL_TYPES}, "
            f"found {model_type!r}"
        )
    fields.pop("transformers_version", None)
    hf_config = transformers.AutoConfig.for_model(model_type, **fields)
    model = transformers.AutoModel.from_config(hf_config)
    encoder = SSLEncoder(
        model,
        normalize_waveform=normalize_waveform,
        use_attention_mask=use_attention_mask,
    )
    return encoder.eval()


def save_safetensors(module: torch.nn.Module, path: str) -> None:
    """Writes ``module``'s state dict as safetensors (contiguous copies, so
    tied or strided tensors save too).

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "lin.safetensors")
    >>> save_safetensors(torch.nn.Linear(2, 3), path)
    >>> sorted(safetensors.torch.load_file(path))
    ['bias', 'weight']
    """
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    safetensors.torch.save_file(state, path, metadata={"format": "pt"})


def load_safetensors(obj: torch.nn.Module, path) -> None:
    """Pretrainer hook: loads a safetensors state dict into ``obj`` strictly.

    Unlike SpeechBrain's default transfer (``torch.load`` and a non-strict load
    that only logs mismatches), nothing is unpickled and a missing or
    unexpected parameter is an error naming the file.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "lin.safetensors")
    >>> save_safetensors(torch.nn.Linear(2, 3), path)
    >>> load_safetensors(torch.nn.Linear(2, 4), path)
    Traceback (most recent call last):
    ...
    ValueError: Parameters in ... do not fit Linear: bias: file [3], model [4]; ...
    """
    path = os.path.realpath(path)  # name the packaged file, not a savedir link
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Model weights not found: {path}")
    try:
        state = safetensors.torch.load_file(path, device="cpu")
    except Exception as error:  # safetensors raises its own SafetensorError
        raise ValueError(f"Unreadable safetensors file {path}: {error}") from error
    # a module may name file entries it no longer has (kdsrl_lobes.heads.SVHead:
    # the training classifier that packages written before kept in sv_head)
    for key in getattr(obj, "ignored_state_keys", ()):
        state.pop(key, None)
    own = obj.state_dict()
    problems = [
        f"{key}: file {list(state[key].shape)}, model {list(own[key].shape)}"
        for key in sorted(set(state) & set(own))
        if state[key].shape != own[key].shape
    ]
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing:
        problems.append(f"missing {missing[:5]}")
    if unexpected:
        problems.append(f"unexpected {unexpected[:5]}")
    if problems:
        raise ValueError(
            f"Parameters in {path} do not fit {type(obj).__name__}: "
            + "; ".join(problems)
        )
    obj.load_state_dict(state, strict=True)


def check_package_files(directory: str) -> None:
    """Raises ``FileNotFoundError`` naming the first file of `REQUIRED_FILES`
    missing from a local package folder.

    Example
    -------
    >>> import tempfile
    >>> check_package_files(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    FileNotFoundError: Model package ... has no hyperparams.yaml ...
    """
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"Model package folder not found: {directory}")
    for name in REQUIRED_FILES:
        if not os.path.isfile(os.path.join(directory, name)):
            raise FileNotFoundError(
                f"Model package {directory} has no {name} "
                f"({os.path.join(directory, name)}); a package needs "
                f"{list(REQUIRED_FILES)}"
            )


class MultiTaskNetwork(torch.nn.Module):
    """Encoder + KWS head + SV head in one forward pass: what the inference
    interface runs, and the graph the ONNX export traces.

    Arguments
    ---------
    encoder : SSLEncoder
    kws_head : KWSHead
    sv_head : SVHead

    Example
    -------
    >>> from kdsrl_lobes.models.configs import speech_config
    >>> from kdsrl_lobes.models.heads import KWSHead, SVHead
    >>> enc = encoder_from_config(speech_config("hubert", "tiny").to_diff_dict())
    >>> net = MultiTaskNetwork(enc, KWSHead(16, 12), SVHead(16, 8))
    >>> logits, emb = net(torch.randn(2, 16000), torch.tensor([1.0, 0.5]))
    >>> logits.shape, emb.shape
    (torch.Size([2, 12]), torch.Size([2, 8]))
    """

    def __init__(self, encoder, kws_head, sv_head):
        super().__init__()
        self.encoder = encoder
        self.kws_head = kws_head
        self.sv_head = sv_head

    def forward(self, wav: torch.Tensor, wav_lens: torch.Tensor | None = None):
        """KWS logits ``[batch, classes]`` and speaker embeddings
        ``[batch, embedding]`` of 16 kHz audio ``[batch, time]`` with relative
        lengths ``[batch]``."""
        feats = self.encoder(wav, wav_lens)  # B x frames x hidden
        return self.kws_head(feats, wav_lens), self.sv_head(feats, wav_lens)


def receptive_field(encoder: SSLEncoder) -> int:
    """Samples the encoder's CNN needs for one output frame (400 for BASE).

    Example
    -------
    >>> from kdsrl_lobes.models.configs import speech_config
    >>> cfg = speech_config("wavlm", "embedded").to_diff_dict()  # BASE's CNN
    >>> receptive_field(encoder_from_config(cfg))
    400
    """
    config = encoder.model.config
    field, jump = 1, 1
    for kernel, stride in zip(config.conv_kernel, config.conv_stride, strict=True):
        field += (kernel - 1) * jump
        jump *= stride
    return field

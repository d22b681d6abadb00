"""Disk cache of a frozen teacher's (or ensemble's) targets, per utterance crop.

On a small corpus distilled for many epochs the teacher forward pass is most of
the cost of a step. With fixed crops (`kdsrl_lobes.training.crops.choose_crop` with
``deterministic=True``) the targets of a crop never change, so they are computed
once, stored in fp16 and read back in later epochs. A miss returns exactly what
a later hit reads back (fp16-rounded, padded frames zero), so the first epoch
trains on the same targets as the others.

Authors
 * kdsrl team 2026
"""

import hashlib
import os
import re
from collections.abc import Sequence

import torch
from speechbrain.utils.logger import get_logger

from kdsrl_lobes.models.encoder import SSLEncoder
from kdsrl_lobes.models.ensemble import EnsembleTeacher

logger = get_logger(__name__)


def teacher_fingerprint(teacher: SSLEncoder | EnsembleTeacher) -> str:
    """A hash of the teacher's config, selected layers, preprocessing and
    weights (every tensor's name, dtype, shape and bytes): a cache made by
    another teacher is never read. An ensemble's covers every member's
    fingerprint, in teacher order, and the aggregation.

    Example
    -------
    >>> from kdsrl_lobes.models.configs import random_speech_model
    >>> a = SSLEncoder(random_speech_model("hubert", "tiny", seed=0), layers=[2])
    >>> b = SSLEncoder(random_speech_model("hubert", "tiny", seed=1), layers=[2])
    >>> teacher_fingerprint(a) == teacher_fingerprint(b)
    False
    >>> a.freeze = b.freeze = True
    >>> ab, ba = EnsembleTeacher([a, b]), EnsembleTeacher([b, a])
    >>> teacher_fingerprint(ab) == teacher_fingerprint(ba)
    False
    """
    if isinstance(teacher, EnsembleTeacher):
        members = [teacher_fingerprint(member) for member in teacher.teachers]
        digest = hashlib.sha1(repr(("ensemble", teacher.aggregation, members)).encode())
        return digest.hexdigest()[:16]
    digest = hashlib.sha1()
    digest.update(teacher.model.config.to_json_string().encode())
    digest.update(
        repr(
            (teacher.layers, teacher.normalize_waveform, teacher.use_attention_mask)
        ).encode()
    )
    with torch.no_grad():
        for name, tensor in teacher.model.state_dict().items():
            tensor = tensor.detach().cpu().contiguous()
            digest.update(f"{name}:{tensor.dtype}:{list(tensor.shape)}".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


class TeacherCache:
    """Returns teacher targets for a batch, computing and storing the missing ones.

    Arguments
    ---------
    teacher : SSLEncoder or EnsembleTeacher
        Frozen teacher with ``layers`` set, or an ensemble of them (its
        aggregated targets are stored).
    cache_dir : str
        Folder for the cache; a sub-folder per teacher fingerprint is used.

    Example
    -------
    >>> import tempfile
    >>> from kdsrl_lobes.models.configs import random_speech_model
    >>> teacher = SSLEncoder(random_speech_model("hubert", "tiny"), layers=[2, 4],
    ...                      freeze=True)
    >>> cache = TeacherCache(teacher, tempfile.mkdtemp())
    >>> wav, lens = torch.randn(2, 16000), torch.tensor([1.0, 0.5])
    >>> first = cache(wav, lens, ["a@0-16000", "b@0-8000"])
    >>> again = cache(wav, lens, ["a@0-16000", "b@0-8000"])
    >>> first.shape, cache.hits, cache.misses
    (torch.Size([2, 2, 49, 16]), 2, 2)
    """

    def __init__(self, teacher: SSLEncoder | EnsembleTeacher, cache_dir: str):
        if teacher.layers is None:
            raise ValueError("TeacherCache needs a teacher with target layers set")
        self.teacher = teacher
        self.folder = os.path.join(cache_dir, teacher_fingerprint(teacher))
        os.makedirs(self.folder, exist_ok=True)
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> str:
        safe = re.sub(r"[^A-Za-z0-9_.@-]", "_", key)
        return os.path.join(self.folder, f"{safe}.pt")

    def __call__(
        self, wav: torch.Tensor, wav_lens: torch.Tensor, keys: Sequence[str]
    ) -> torch.Tensor:
        """Targets ``[batch, targets, frames, hidden]`` (float32) for the batch;
        ``keys`` name each crop (utterance id and sample range)."""
        if len(keys) != wav.shape[0]:
            raise ValueError(
                f"Expected one cache key per utterance ({wav.shape[0]}), "
                f"found {len(keys)}"
            )
        paths = [self._path(key) for key in keys]
        if all(os.path.isfile(p) for p in paths):
            self.hits += len(paths)
            items = [torch.load(p, weights_only=True) for p in paths]
        else:
            self.misses += len(paths)
            targets = self.teacher(wav, wav_lens)  # B x targets x T x D
            if wav_lens is None:
                wav_lens = torch.ones(wav.shape[0])
            abs_lens = torch.round(wav_lens.cpu() * wav.shape[1]).long()
            frames = self.teacher.num_frames(abs_lens)
            items = []
            for b, path in enumerate(paths):
                item = targets[b, :, : int(frames[b])].detach()
                item = item.to("cpu", torch.float16).clone()
                tmp = f"{path}.tmp{os.getpid()}"
                torch.save(item, tmp)
                os.replace(tmp, path)  # atomic: a killed run leaves no half file
                items.append(item)
        return self._collate(items, wav)

    def _collate(self, items, wav):
        """Stored ``[targets, frames_b, hidden]`` fp16 items -> zero-padded
        ``[batch, targets, frames, hidden]`` float32 on ``wav``'s device."""
        total = int(self.teacher.num_frames(torch.tensor(wav.shape[1])))
        out = items[0].new_zeros(
            (len(items), items[0].shape[0], total, items[0].shape[2])
        )
        for b, item in enumerate(items):
            out[b, :, : item.shape[1]] = item
        return out.to(device=wav.device, dtype=torch.float32)

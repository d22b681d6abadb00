"""TeacherCache: a hit returns exactly what the miss returned; fingerprints
tell teachers apart by their weights' bytes."""

import torch

from kdsrl_lobes.models.configs import random_speech_model
from kdsrl_lobes.models.encoder import SSLEncoder
from kdsrl_lobes.training.teacher_cache import TeacherCache, teacher_fingerprint


def _teacher(seed=0):
    model = random_speech_model("hubert", "tiny", seed=seed)
    return SSLEncoder(model, layers=[2, 4], freeze=True)


def test_hit_equals_miss_with_padding(tmp_path):
    cache = TeacherCache(_teacher(), str(tmp_path))
    wav = torch.randn(3, 16000)
    lens = torch.tensor([1.0, 0.55, 0.3])
    keys = ["a@0-16000", "b@0-8800", "c@0-4800"]
    miss = cache(wav, lens, keys)
    hit = cache(wav, lens, keys)
    assert (cache.misses, cache.hits) == (3, 3)
    assert miss.dtype == hit.dtype == torch.float32
    assert torch.equal(miss, hit)
    frames = cache.teacher.num_frames(torch.round(lens * 16000).long())
    for b, n in enumerate(frames.tolist()):
        assert n < miss.shape[2] or b == 0
        assert torch.all(miss[b, :, n:] == 0), "padded frames must be zero"
    # fp16-rounded, close to the teacher's fp32 output on the valid frames
    ref = cache.teacher(wav, lens)
    n = int(frames[1])
    torch.testing.assert_close(miss[1, :, :n], ref[1, :, :n], atol=2e-2, rtol=2e-3)


def test_fingerprint_sees_weights_that_keep_their_abs_sum(tmp_path):
    a, b = _teacher(), _teacher()
    with torch.no_grad():
        weight = b.model.encoder.layers[0].attention.q_proj.weight
        weight.copy_(weight.flip(0))  # same absolute sum, other weights
    assert not torch.equal(weight, a.model.encoder.layers[0].attention.q_proj.weight)
    assert teacher_fingerprint(a) != teacher_fingerprint(b)
    assert teacher_fingerprint(a) == teacher_fingerprint(_teacher())


def test_fingerprint_sees_the_config(tmp_path):
    a, b = _teacher(), _teacher()
    b.model.config.layer_norm_eps = 1e-3
    assert teacher_fingerprint(a) != teacher_fingerprint(b)

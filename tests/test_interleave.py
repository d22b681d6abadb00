"""BatchInterleaver: order, epoch accounting, schedules, resume, bad input."""

import pytest
from speechbrain.utils.checkpoints import Checkpointer

from kdsrl_lobes.training.interleave import BatchInterleaver


def _steps(inter):
    return [tuple(step.items()) for step in inter]


def test_alternates_and_cycles_the_shorter_loader():
    inter = BatchInterleaver({"kws": [1, 2, 3, 4], "sv": ["a", "b"]})
    assert len(inter) == 8  # 4 rounds (longest loader) x 2 tasks
    assert _steps(inter) == [
        (("kws", 1),),
        (("sv", "a"),),
        (("kws", 2),),
        (("sv", "b"),),
        (("kws", 3),),
        (("sv", "a"),),
        (("kws", 4),),
        (("sv", "b"),),
    ]
    assert inter.passes == {"kws": 1, "sv": 2}
    # the next epoch continues where each loader stands
    assert _steps(inter)[:2] == [(("kws", 1),), (("sv", "a"),)]


def test_min_and_fixed_round_epochs():
    assert len(BatchInterleaver({"kws": [1, 2, 3], "sv": ["a"]}, epoch="min")) == 2
    fixed = BatchInterleaver({"kws": [1, 2, 3], "sv": ["a"]}, epoch=5)
    assert len(fixed) == 10 and len(_steps(fixed)) == 10


def test_sum_schedule_yields_whole_rounds():
    rounds = list(BatchInterleaver({"kws": [1, 2], "sv": ["a"]}, schedule="sum"))
    assert rounds == [{"kws": 1, "sv": "a"}, {"kws": 2, "sv": "a"}]


def test_chain_reads_every_loader_once_per_epoch():
    inter = BatchInterleaver({"kws": [1, 2], "sv": ["a"]}, epoch="chain")
    assert _steps(inter) == [(("kws", 1),), (("kws", 2),), (("sv", "a"),)]
    assert _steps(inter) == [(("kws", 1),), (("kws", 2),), (("sv", "a"),)]


def test_single_task_is_the_plain_loader():
    assert [s["kws"] for s in BatchInterleaver({"kws": [1, 2, 3]})] == [1, 2, 3]


def test_bad_configurations_are_named():
    with pytest.raises(ValueError, match="Expected schedule"):
        BatchInterleaver({"kws": [1]}, schedule="random")
    with pytest.raises(ValueError, match="Expected epoch"):
        BatchInterleaver({"kws": [1]}, epoch="longest")
    with pytest.raises(ValueError, match=r"\['sv'\] yield no batch"):
        BatchInterleaver({"kws": [1], "sv": []})
    with pytest.raises(ValueError, match="at least one task"):
        BatchInterleaver({})


def test_position_is_saved_and_restored(tmp_path):
    inter = BatchInterleaver({"kws": [1, 2, 3], "sv": ["a", "b"]})
    ckpt = Checkpointer(tmp_path, {"interleaver": inter})
    it = iter(inter)
    [next(it) for _ in range(3)]
    ckpt.save_checkpoint(end_of_epoch=False)
    fresh = BatchInterleaver({"kws": [1, 2, 3], "sv": ["a", "b"]})
    Checkpointer(tmp_path, {"interleaver": fresh}).recover_if_possible()
    assert fresh.step == 3 and fresh.total_steps == 3
    assert len(list(fresh)) == 3  # the rest of the epoch

"""Run lengths for the linear LR decays."""

from types import SimpleNamespace

import pytest

from kdsrl_lobes.schedule import recipe_training_steps, training_steps


def test_steps_follow_batches_epochs_processes_and_limits():
    assert training_steps(361, 8, 3) == 46 * 3
    assert training_steps(361, 8, 3, world_size=2) == 23 * 3
    assert training_steps(361, 8, 3, step_limit=50) == 50
    assert training_steps(361, 8, 3, debug_batches=2) == 6
    assert training_steps(361, 8, 3, accumulation=4) == 11 * 3  # 46 // 4
    assert training_steps(3, 8, 0) == 1


def _brain(debug=False, accumulation=1):
    return SimpleNamespace(
        debug=debug, debug_batches=2, grad_accumulation_factor=accumulation
    )


def test_debug_cap_and_accumulation_come_from_the_brain():
    assert recipe_training_steps(_brain(), 100, 10, 2) == 20
    assert recipe_training_steps(_brain(debug=True), 100, 10, 2) == 4
    assert recipe_training_steps(_brain(), 100, 10, 2, step_limit=5) == 5
    assert recipe_training_steps(_brain(accumulation=2), 100, 10, 2) == 10


@pytest.mark.parametrize(
    "args, message",
    [
        ((0, 8, 1), "at least one training example, found 0"),
        ((10, 0, 1), "batch_size >= 1"),
        ((10, 2, 1, None, 1, None, 0), "accumulation >= 1"),
    ],
)
def test_bad_sizes_are_refused(args, message):
    with pytest.raises(ValueError, match=message):
        training_steps(*args)

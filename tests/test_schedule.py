"""Run lengths for the linear LR decays."""

from types import SimpleNamespace

import pytest
import speechbrain as sb
import torch
from speechbrain.nnet.schedulers import LinearWarmupScheduler

from kdsrl_lobes.training.brain import ScheduledBrain
from kdsrl_lobes.training.schedule import recipe_training_steps, training_steps


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


class _RecordingSGD(torch.optim.SGD):
    """SGD that records the learning rate of every step it takes."""

    def __init__(self, params, lr=1.0):
        super().__init__(params, lr=lr)
        self.used = []

    def step(self, closure=None):
        self.used.append(self.param_groups[0]["lr"])
        return super().step(closure)


@pytest.mark.parametrize(
    "recipe",
    [
        ("LibriSpeech", "distill", "train.py"),
        ("LibriSpeech", "pretrain", "train.py"),
        ("GSC_VoxCeleb1", "multitask", "train.py"),
    ],
    ids=lambda parts: parts[1],
)
def test_recipes_share_the_schedule_hook(recipe):
    from .recipe_utils import load_recipe

    module = load_recipe(*recipe)
    brains = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, sb.Brain)
    ]
    recipe_brains = [b for b in brains if b.__module__ == module.__name__]
    assert recipe_brains and all(issubclass(b, ScheduledBrain) for b in recipe_brains)
    for brain in recipe_brains:  # none re-implements the hook
        assert "on_fit_batch_start" not in vars(brain)


def test_first_update_runs_at_the_warmup_lr_not_the_peak():
    class Fit(ScheduledBrain):
        def compute_forward(self, batch, stage):
            return self.modules.model(batch)

        def compute_objectives(self, out, batch, stage):
            return out.pow(2).mean()

    brain = Fit(
        modules={"model": torch.nn.Linear(2, 1)},
        opt_class=_RecordingSGD,
        hparams={"lr_scheduler": LinearWarmupScheduler(1.0, 4, 1)},
        run_opts={"noprogressbar": True, "grad_accumulation_factor": 2},
    )
    brain.total_steps = 8
    brain.fit(range(1), [torch.ones(1, 2)] * 12)  # 6 optimiser steps
    assert brain.optimizer.used == [0.25, 0.5, 0.75, 1.0, 0.75, 0.5]
    assert brain.hparams.lr_scheduler.num_training_steps == 8


@pytest.mark.parametrize("scheduled", [False, True])
def test_lr_scale_multiplies_the_rate_of_each_update(scheduled):
    class Alternate(ScheduledBrain):
        def compute_forward(self, batch, stage):
            return self.modules.model(batch["x"])

        def compute_objectives(self, out, batch, stage):
            return out.pow(2).mean()

        def lr_scale(self, batch):
            return batch["scale"]

    hparams = {"lr_scheduler": LinearWarmupScheduler(1.0, 1, 100)} if scheduled else {}
    brain = Alternate(
        modules={"model": torch.nn.Linear(2, 1)},
        opt_class=_RecordingSGD,
        hparams=hparams,
        run_opts={"noprogressbar": True},
    )
    batches = [{"x": torch.ones(1, 2), "scale": s} for s in (1.0, 0.5, 2.0, 1.0)]
    brain.fit(range(1), batches)
    # the base rate (1.0 without a scheduler; the warm-up's 1.0 after one step)
    # never drifts with the scales: each update gets base x its own scale
    assert brain.optimizer.used == pytest.approx([1.0, 0.5, 2.0, 1.0], rel=0.05)

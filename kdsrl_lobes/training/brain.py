"""The Brain skeleton the three recipes share: the learning-rate schedule is
set to the run's length once and stepped in one hook, before each optimiser
step, so that the first update runs at the schedule's first value (the start of
the warm-up), never at the peak LR.

Authors
 * kdsrl team 2026
"""

import speechbrain as sb


class ScheduledBrain(sb.Brain):
    """A ``speechbrain.Brain`` whose optional ``hparams.lr_scheduler`` (any
    SpeechBrain scheduler called as ``scheduler(optimizer)``, e.g.
    ``LinearWarmupScheduler``) is stepped before every optimiser step.

    Set ``total_steps`` on the Brain before ``fit`` (see
    `kdsrl_lobes.training.schedule.recipe_training_steps`) and a scheduler with a
    ``num_training_steps`` attribute gets the run's length after checkpoint
    recovery (a resumed run may have been given more epochs).

    Example
    -------
    >>> import torch
    >>> from speechbrain.nnet.schedulers import LinearWarmupScheduler
    >>> class Fit(ScheduledBrain):
    ...     def compute_forward(self, batch, stage):
    ...         return self.modules.model(batch)
    ...     def compute_objectives(self, out, batch, stage):
    ...         return out.pow(2).mean()
    >>> brain = Fit(
    ...     modules={"model": torch.nn.Linear(2, 1)},
    ...     opt_class=lambda p: torch.optim.SGD(p, lr=1.0),
    ...     hparams={"lr_scheduler": LinearWarmupScheduler(1.0, 4, 1)},
    ...     run_opts={"noprogressbar": True},
    ... )
    >>> brain.total_steps = 8
    >>> brain.fit(range(1), [torch.ones(1, 2)] * 3)
    >>> brain.hparams.lr_scheduler.current_step, brain.optimizer.param_groups[0]["lr"]
    (3, 0.75)
    """

    total_steps = None
    _base_lrs = None  # the learning rates before any lr_scale

    def lr_scale(self, batch) -> float:
        """Factor on the learning rate of the update ``batch`` makes: 1.0. A
        recipe whose updates differ in kind overrides it (the multi-task
        recipe's per-task learning rate)."""
        return 1.0

    def init_optimizers(self):
        """SpeechBrain's, then the learning rates the optimiser was built with
        (before a checkpoint's, which may hold a scaled one, is loaded)."""
        super().init_optimizers()
        if self.optimizer is not None:
            self._base_lrs = [group["lr"] for group in self.optimizer.param_groups]

    def on_fit_start(self):
        """Recovers the checkpoint (SpeechBrain's), then gives the scheduler
        this run's length."""
        super().on_fit_start()
        scheduler = getattr(self.hparams, "lr_scheduler", None)
        if self.total_steps is not None and hasattr(scheduler, "num_training_steps"):
            scheduler.num_training_steps = self.total_steps

    def on_fit_batch_start(self, batch, should_step):
        """Sets the learning rate of the coming optimiser step: the scheduler's
        value (or the optimiser's own) times `lr_scale`."""
        scheduler = getattr(self.hparams, "lr_scheduler", None)
        if should_step and scheduler is not None:
            scheduler(self.optimizer)
            self._base_lrs = [group["lr"] for group in self.optimizer.param_groups]
        scale = self.lr_scale(batch)
        if self._base_lrs is not None and (scale != 1.0 or scheduler is None):
            for group, base in zip(
                self.optimizer.param_groups, self._base_lrs, strict=True
            ):
                group["lr"] = base * scale

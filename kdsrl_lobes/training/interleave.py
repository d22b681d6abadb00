"""Alternating the batches of several tasks, for multi-task training.

The paper trains one network on two tasks by taking, at every iteration, one
keyword-spotting batch (one update on its cross-entropy) and then one speaker
batch (one update on its AAM loss). `BatchInterleaver` produces that sequence
from one data loader per task, for datasets of any relative size.

**What an epoch is.** An epoch is a number of *rounds*; a round takes one batch
of every task, in the order the loaders are given. With ``epoch="max"`` (the
default) an epoch has as many rounds as the longest loader has batches, and a
shorter loader starts a new pass (reshuffled) whenever it runs out, so every
batch of the largest dataset is seen once per epoch. ``"min"`` stops with the
shortest loader (each round still has every task; the larger datasets are only
partly seen). An integer fixes the number of rounds. With ``"chain"`` (for
validation and test) every loader is read once, one after the other.

**Schedules.** With ``schedule="alternate"`` each step yields a one-task dict
``{"kws": batch}``, then ``{"sv": batch}``: one optimiser update per task batch,
as in the paper. With ``schedule="sum"`` each step yields a whole round
``{"kws": batch, "sv": batch}`` for a single update on the sum of the losses.

It subclasses SpeechBrain's ``LoopedLoader`` so that ``Brain.fit`` takes it as
it is, and saves its position with the checkpoints (the underlying
``SaveableDataLoader`` objects save their own).

Authors
 * kdsrl team 2026
"""

from speechbrain.dataio.dataloader import LoopedLoader
from speechbrain.utils.checkpoints import (
    mark_as_loader,
    mark_as_saver,
    register_checkpoint_hooks,
)

EPOCH_MODES = ("max", "min", "chain")
SCHEDULES = ("alternate", "sum")


def _len(loader, name):
    try:
        return len(loader)
    except TypeError as err:
        raise ValueError(f"Loader for task '{name}' has no length") from err


@register_checkpoint_hooks
class BatchInterleaver(LoopedLoader):
    """Yields ``{task: batch}`` dicts that alternate between tasks.

    Arguments
    ---------
    loaders : dict
        Task name -> data loader (any iterable with ``len``), in round order.
    epoch : str or int
        ``"max"``, ``"min"``, ``"chain"`` or a number of rounds (see module doc).
    schedule : str
        ``"alternate"`` (one task per step) or ``"sum"`` (one round per step).

    Example
    -------
    >>> inter = BatchInterleaver({"kws": [1, 2, 3], "sv": ["a", "b"]})
    >>> [list(step.items())[0] for step in inter]
    [('kws', 1), ('sv', 'a'), ('kws', 2), ('sv', 'b'), ('kws', 3), ('sv', 'a')]
    >>> list(BatchInterleaver({"kws": [1, 2, 3], "sv": ["a", "b"]}, schedule="sum"))
    [{'kws': 1, 'sv': 'a'}, {'kws': 2, 'sv': 'b'}, {'kws': 3, 'sv': 'a'}]
    >>> [list(s.items())[0] for s in BatchInterleaver({"a": [1], "b": [2, 3]}, "chain")]
    [('a', 1), ('b', 2), ('b', 3)]
    """

    def __init__(self, loaders: dict, epoch="max", schedule: str = "alternate"):
        if not loaders:
            raise ValueError("Expected at least one task loader, found none")
        if schedule not in SCHEDULES:
            raise ValueError(f"Expected schedule in {SCHEDULES}, found '{schedule}'")
        if not isinstance(epoch, int) and epoch not in EPOCH_MODES:
            raise ValueError(
                f"Expected epoch in {EPOCH_MODES} or a number of rounds, "
                f"found {epoch!r}"
            )
        if epoch == "chain" and schedule == "sum":
            raise ValueError(
                "epoch='chain' reads tasks one after the other: use "
                "schedule='alternate'"
            )
        self.loaders = dict(loaders)
        self.tasks = list(self.loaders)
        self.mode = epoch
        self.schedule = schedule
        lengths = {name: _len(loader, name) for name, loader in self.loaders.items()}
        if min(lengths.values()) == 0:
            empty = [name for name, n in lengths.items() if n == 0]
            raise ValueError(f"Task loader(s) {empty} yield no batch")
        if epoch == "chain":
            self.plan = [name for name in self.tasks for _ in range(lengths[name])]
        else:
            rounds = {"max": max, "min": min}.get(epoch, lambda _: epoch)(
                lengths.values()
            )
            if schedule == "alternate":
                self.plan = [name for _ in range(rounds) for name in self.tasks]
            else:
                self.plan = [None] * rounds  # None: a whole round
        super().__init__(loader=None, epoch_length=len(self.plan))
        self.iterators = {}
        self.passes = dict.fromkeys(self.tasks, 0)

    def __iter__(self):
        if self.mode == "chain":
            self.iterators = {}  # every epoch reads each loader from its start
        return self

    def _next_batch(self, task):
        """Next batch of one task, starting a new pass when it runs out."""
        if task not in self.iterators:
            self._start_pass(task)
        try:
            return next(self.iterators[task])
        except StopIteration:
            self._start_pass(task)
            return next(self.iterators[task])

    def _start_pass(self, task):
        loader = self.loaders[task]
        sampler = getattr(loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):  # DDP: a new shuffle on every pass
            sampler.set_epoch(self.passes[task])
        self.passes[task] += 1
        self.iterators[task] = iter(loader)

    def __next__(self):
        if self.step >= self.epoch_length:
            self.step = 0
            raise StopIteration
        task = self.plan[self.step]
        self.step += 1
        self.total_steps += 1
        if task is None:
            return {name: self._next_batch(name) for name in self.tasks}
        return {task: self._next_batch(task)}

    @mark_as_saver
    def save(self, path):
        """Saves the position in the epoch and the pass counts."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(f"{self.step} {self.total_steps}\n")
            f.write(" ".join(f"{t}={n}" for t, n in self.passes.items()) + "\n")

    @mark_as_loader
    def load(self, path, end_of_epoch=True):
        """Restores the position (the task loaders restore their own)."""
        with open(path, encoding="utf-8") as f:
            step, total = f.readline().split()
            passes = dict(item.split("=") for item in f.readline().split())
        self.step = 0 if end_of_epoch else int(step)
        self.total_steps = int(total)
        self.passes = {task: int(passes.get(task, 0)) for task in self.tasks}

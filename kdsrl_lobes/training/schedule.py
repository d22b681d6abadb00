"""The length of a training run in optimiser steps, for linear LR decays.

SpeechBrain's ``LinearWarmupScheduler`` needs the run's total step count up
front, but a recipe knows it only once its data is read (and under DDP each
process sees ``1 / world_size`` of the batches). Hard-coding it in YAML drifts
from the real run as soon as the batch size, corpus or epochs change, and the LR
then never decays to the end (or reaches zero early).

Authors
 * kdsrl team 2026
"""

import math

import torch


def training_steps(
    num_examples: int,
    batch_size: int,
    epochs: int,
    step_limit: int | None = None,
    world_size: int = 1,
    debug_batches: int | None = None,
    accumulation: int = 1,
) -> int:
    """Optimiser steps of a run: ``epochs`` passes over ``num_examples`` in
    batches of ``batch_size`` shared by ``world_size`` processes, one step every
    ``accumulation`` batches, capped by ``step_limit`` (SpeechBrain's
    ``optimizer_step_limit``) and, in ``--debug`` runs, by ``debug_batches``
    batches per epoch.

    Arguments
    ---------
    num_examples : int
        Training examples (utterances or crops) in one epoch.
    batch_size : int
        Examples per batch and process.
    epochs : int
        Number of epochs.
    step_limit : int, optional
        Stop after this many optimiser steps.
    world_size : int
        DDP processes (the ``DistributedSampler`` gives each one a share).
    debug_batches : int, optional
        Batches per epoch of a ``--debug`` run.
    accumulation : int
        SpeechBrain's ``grad_accumulation_factor`` (it steps when the epoch's
        batch count is a multiple of it).

    Returns
    -------
    steps : int
        At least 1.

    Example
    -------
    >>> training_steps(360, 8, 8)
    360
    >>> training_steps(360, 8, 8, world_size=2), training_steps(360, 8, 8, 100)
    (184, 100)
    >>> training_steps(360, 8, 8, accumulation=2)
    176
    """
    if num_examples < 1:
        raise ValueError(
            f"Expected at least one training example, found {num_examples}"
        )
    if batch_size < 1 or epochs < 0 or world_size < 1 or accumulation < 1:
        raise ValueError(
            f"Expected batch_size >= 1, epochs >= 0, world_size >= 1 and "
            f"accumulation >= 1, found {batch_size}, {epochs}, {world_size} and "
            f"{accumulation}"
        )
    per_process = math.ceil(num_examples / world_size)
    batches = math.ceil(per_process / batch_size)
    if debug_batches is not None:
        batches = min(batches, debug_batches)
    steps = batches // accumulation * epochs
    if step_limit is not None:
        steps = min(steps, step_limit)
    return max(steps, 1)


def recipe_training_steps(
    brain, num_examples: int, batch_size: int, epochs: int, step_limit=None
) -> int:
    """`training_steps` of a SpeechBrain ``Brain``'s run, with the settings the
    Brain has resolved from its run options and hparams (``debug``,
    ``debug_batches``, ``grad_accumulation_factor``) and the DDP world size
    from ``torch.distributed``.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> brain = SimpleNamespace(debug=True, debug_batches=2, grad_accumulation_factor=1)
    >>> recipe_training_steps(brain, 360, 8, 8)
    16
    """
    world_size = 1
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        world_size = torch.distributed.get_world_size()
    return training_steps(
        num_examples,
        batch_size,
        epochs,
        step_limit,
        world_size,
        brain.debug_batches if brain.debug else None,
        brain.grad_accumulation_factor,
    )

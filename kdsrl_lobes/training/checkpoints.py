"""Refusing to resume from a checkpoint written under another configuration.

SpeechBrain's Checkpointer loads whatever it finds in ``save_folder``; a changed
model size then fails deep inside ``load_state_dict`` with a size mismatch, or,
worse, a changed target layer list loads silently. `ConfigGuard` is a recoverable
that stores the settings that define the checkpoint's shapes and meaning and,
registered first, stops the recovery with a clear error naming what differs.

Authors
 * kdsrl team 2026
"""

import json
import logging
import os
import shutil

from speechbrain.utils.checkpoints import (
    CKPT_PREFIX,
    METAFNAME,
    Checkpointer,
    mark_as_loader,
    mark_as_saver,
    register_checkpoint_hooks,
)
from speechbrain.utils.distributed import if_main_process
from speechbrain.utils.logger import get_logger

logger = get_logger(__name__)

PENDING_SUFFIX = ".pending"


class AtomicCheckpointer(Checkpointer):
    """SpeechBrain's Checkpointer, made safe against a kill during a save.

    SpeechBrain writes a checkpoint's ``CKPT.yaml`` first and the parameter files
    after it, and recognises a checkpoint by its ``CKPT.yaml``: a run killed in
    the middle of a save leaves a checkpoint that looks complete and fails to
    load. Here the meta file is written under a temporary name and renamed (an
    atomic ``os.replace``) once every parameter file is on disk; folders left
    unfinished by a killed save are removed at the next save.

    Arguments are those of ``speechbrain.utils.checkpoints.Checkpointer``.

    Example
    -------
    >>> import tempfile, torch
    >>> tmp = tempfile.mkdtemp()
    >>> ckpt = AtomicCheckpointer(tmp, {"model": torch.nn.Linear(2, 2)})
    >>> os.makedirs(os.path.join(tmp, "CKPT+killed+00"))  # a save cut short
    >>> saved = ckpt.save_checkpoint()
    >>> sorted(os.listdir(saved.path))
    ['CKPT.yaml', 'model.ckpt']
    >>> [c.path == saved.path for c in ckpt.list_checkpoints()]
    [True]
    >>> os.path.exists(os.path.join(tmp, "CKPT+killed+00"))
    False
    """

    def _save_checkpoint_metafile(self, fpath, meta_to_include=None, end_of_epoch=True):
        pending = fpath.with_name(fpath.name + PENDING_SUFFIX)
        return super()._save_checkpoint_metafile(
            pending, meta_to_include or {}, end_of_epoch
        )

    def save_checkpoint(
        self, meta=None, end_of_epoch=True, name=None, verbosity=logging.INFO
    ):
        """Saves a checkpoint that becomes visible only once complete."""
        checkpoint = super().save_checkpoint(
            meta=meta or {}, end_of_epoch=end_of_epoch, name=name, verbosity=verbosity
        )
        if checkpoint is not None and if_main_process():
            os.replace(
                checkpoint.path / (METAFNAME + PENDING_SUFFIX),
                checkpoint.path / METAFNAME,
            )
            self._remove_unfinished(keep=checkpoint.path)
        return checkpoint

    def _remove_unfinished(self, keep):
        for entry in self.checkpoints_dir.iterdir():
            if (
                entry.is_dir()
                and entry.name.startswith(CKPT_PREFIX)
                and entry != keep
                and not (entry / METAFNAME).exists()
            ):
                logger.info("Removing unfinished checkpoint %s", entry)
                shutil.rmtree(entry, ignore_errors=True)


@register_checkpoint_hooks
class ConfigGuard:
    """Saves a JSON-serialisable config with each checkpoint and checks it on
    recovery.

    Arguments
    ---------
    **config
        The settings a checkpoint must agree with (layer lists, sizes, sources).

    Example
    -------
    >>> import tempfile, os
    >>> tmp = tempfile.mkdtemp()
    >>> ConfigGuard(student_layers=2)._save(os.path.join(tmp, "guard.json"))
    >>> ConfigGuard(student_layers=3)._recover(os.path.join(tmp, "guard.json"), True)
    Traceback (most recent call last):
    ...
    ValueError: Checkpoint ... configuration: student_layers: checkpoint 2, now 3. ...
    """

    def __init__(self, **config):
        # Round trip through JSON so tuples and lists compare equal.
        self.config = json.loads(json.dumps(config))

    @mark_as_saver
    def _save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.config, f, indent=2, sort_keys=True)

    @mark_as_loader
    def _recover(self, path, end_of_epoch):
        del end_of_epoch
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
        keys = sorted(set(saved) | set(self.config))
        diffs = [
            f"{key}: checkpoint {saved.get(key)!r}, now {self.config.get(key)!r}"
            for key in keys
            if saved.get(key) != self.config.get(key)
        ]
        if diffs:
            raise ValueError(
                f"Checkpoint {path} was written with another configuration: "
                + "; ".join(diffs)
                + ". Use another output_folder, or restore these settings."
            )


def attach_config_guard(checkpointer, **config) -> ConfigGuard:
    """Registers a `ConfigGuard` with ``checkpointer`` and checks the latest
    existing checkpoint against ``config`` right away, before any module is
    loaded or any training starts.

    Example
    -------
    >>> import tempfile, torch
    >>> from speechbrain.utils.checkpoints import Checkpointer
    >>> tmp = tempfile.mkdtemp()
    >>> ckpt = Checkpointer(tmp, {"model": torch.nn.Linear(2, 2)})
    >>> _ = attach_config_guard(ckpt, student_layers=2)
    >>> _ = ckpt.save_checkpoint()
    >>> attach_config_guard(Checkpointer(tmp, {}), student_layers=4)
    Traceback (most recent call last):
    ...
    ValueError: Checkpoint ... configuration: student_layers: checkpoint 2, now 4. ...
    """
    guard = ConfigGuard(**config)
    checkpointer.add_recoverable("config_guard", guard)
    latest = checkpointer.find_checkpoint()
    if latest is not None:
        path = latest.paramfiles.get("config_guard")
        if path is None:
            raise ValueError(
                f"Checkpoint {latest.path} has no config record: it was written by "
                "another recipe. Use another output_folder."
            )
        guard._recover(path, True)
    return guard

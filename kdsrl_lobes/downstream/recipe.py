"""What the four SUPERB-style recipes' ``train.py`` share: argument parsing,
preparation on the main process, the experiment folder, the checkpoint's
config guard, fitting, testing the best checkpoint and ``metrics.json``.

A recipe gives `run_downstream` its preparation, its datasets and its Brain;
everything else (``--debug``, DDP, resuming from ``save/``) is SpeechBrain's.

Authors
 * kdsrl team 2026
"""

import json
import os
import shutil
import sys
import time
from collections.abc import Callable

import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml
from speechbrain.utils.distributed import if_main_process, run_on_main
from speechbrain.utils.logger import get_logger

from kdsrl_lobes.downstream.table import plot_layer_weights
from kdsrl_lobes.evaluation.counts import count_parameters
from kdsrl_lobes.training.checkpoints import attach_config_guard
from kdsrl_lobes.training.yaml_peek import peek_hparams, set_override

logger = get_logger(__name__)

#: options that choose what a run trains and tests on: a checkpoint written
#: with other values (another ER fold, another split or trial list) is refused
DATA_KEYS = (
    "test_session",
    "test_folder",
    "iden_split_file",
    "trials_file",
    "train_split",
    "valid_split",
    "test_split",
)


def require_folder(path: str | None, key: str) -> str:
    """``path`` if it is a folder, else a FileNotFoundError naming ``key``.

    Example
    -------
    >>> require_folder("/no/such", "data_folder")
    Traceback (most recent call last):
    ...
    FileNotFoundError: data_folder: folder not found: /no/such
    """
    if not path or not os.path.isdir(path):
        raise FileNotFoundError(f"{key}: folder not found: {path}")
    return path


def run_downstream(
    argv: list[str],
    brain_class: type | dict[str, type],
    prepare: Callable[[dict], None],
    build: Callable[[dict], tuple[dict, dict]],
    auto: dict[str, Callable[[dict], int]] | None = None,
) -> dict:
    """Prepares, fits (unless ``--test_only``), tests the best checkpoint and
    writes ``<output_folder>/metrics.json`` and ``layer_weights.png``.

    Arguments
    ---------
    argv : list of str
        ``hparams.yaml --key=value ...`` (SpeechBrain's command line).
    brain_class : type or dict
        A `kdsrl_lobes.downstream.brains.DownstreamBrain`, or ``{task: class}``
        for a recipe of several tasks (the YAML's ``task`` picks).
    prepare : callable
        The YAML's top-level values -> None; writes the CSVs (main process).
    build : callable
        The loaded hparams -> ``(datasets, test_kwargs)``: ``{"train", "valid",
        "test"}`` datasets, and keyword arguments of the Brain's
        ``test_metrics``. It may add entries to hparams (e.g. the encoder).
    auto : dict, optional
        ``{key: count}``: a YAML value ``auto`` becomes ``count(values)``
        after preparation (e.g. the number of training speakers).

    Returns
    -------
    dict
        The test metrics, with the task, upstream, layer weights and sizes.
    """
    start = time.time()
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    sb.utils.distributed.ddp_init_group(run_opts)
    values = peek_hparams(hparams_file, overrides)
    if isinstance(brain_class, dict):
        if values["task"] not in brain_class:
            raise ValueError(
                f"{hparams_file}: task must be one of {sorted(brain_class)}, "
                f"found {values['task']!r}"
            )
        brain_class = brain_class[values["task"]]
    run_on_main(prepare, args=[values])
    for key, count in (auto or {}).items():
        if str(values[key]) == "auto":
            overrides = set_override(overrides, key, count(values))
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    script = getattr(sys.modules["__main__"], "__file__", None)
    if if_main_process() and script and os.path.isfile(script):
        # SpeechBrain copies the file that called it (this one): add the recipe
        shutil.copy(script, hparams["output_folder"])
    datasets, test_kwargs = build(hparams)
    upstream = hparams["upstream"]
    attach_config_guard(
        hparams["checkpointer"],
        task=hparams["task"],
        upstream=upstream.name,
        upstream_layers=upstream.num_layers,
        upstream_dim=upstream.output_size,
        upstream_layer_norm=upstream.layer_norm,
        n_outputs=hparams["n_outputs"],
        data={key: hparams[key] for key in DATA_KEYS if key in hparams},
    )
    brain = brain_class(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    brain.set_stage_datasets(
        {sb.Stage.TRAIN: datasets["train"], sb.Stage.VALID: datasets["valid"]}
    )
    if not brain.test_only:
        brain.fit(
            brain.hparams.epoch_counter,
            datasets["train"],
            datasets["valid"],
            train_loader_kwargs=hparams["train_dataloader_opts"],
            valid_loader_kwargs=hparams["test_dataloader_opts"],
        )
    brain.checkpointer.recover_if_possible(min_key="error")
    metrics = brain.test_metrics(datasets["test"], **test_kwargs)
    weights = hparams["featurizer"].layer_weights().tolist()  # not DDP's wrapper
    trainable = torch.nn.ModuleList(
        m for k, m in hparams["modules"].items() if k != "upstream"
    )
    metrics.update(
        {
            "task": hparams["task"],
            "upstream": upstream.name,
            "layer_weights": weights,
            "num_trainable_parameters": count_parameters(trainable),
            "num_upstream_parameters": count_parameters(upstream),
            "seconds": round(time.time() - start, 1),
        }
    )
    if if_main_process():
        with open(hparams["metrics_file"], "w", encoding="utf-8") as f:
            json.dump(metrics, f, indent=2)
        plot_layer_weights(
            {hparams["task"]: weights},
            os.path.join(hparams["output_folder"], "layer_weights.png"),
            title=upstream.name,
        )
        logger.info("Test metrics: %s", json.dumps(metrics))
    return metrics

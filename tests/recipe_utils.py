"""Helpers to import and run recipe scripts from the tests."""

import importlib.util
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def recipe_path(*parts):
    """Absolute path of a file under recipes/."""
    return os.path.join(ROOT, "recipes", *parts)


def load_recipe(*parts):
    """Imports a recipe's train.py as a module (without running main)."""
    path = recipe_path(*parts)
    name = "recipe_" + "_".join(p.replace(".py", "") for p in parts)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_script(folder, name):
    """Imports ``<folder>/<name>.py`` (``scripts`` or ``benchmarks``)."""
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(ROOT, folder, f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_recipe(script, args, nproc=0, timeout=600, check=True, **popen):
    """Runs a recipe in a subprocess (under torchrun with ``nproc`` > 0)."""
    if nproc:
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            f"--nproc_per_node={nproc}",
            "--master_port=29517",
            script,
            *args,
        ]
    else:
        cmd = [sys.executable, script, *args]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    result = subprocess.run(
        cmd,
        cwd=os.path.dirname(script),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        **popen,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout[-3000:]}"
            f"\n{result.stderr[-5000:]}"
        )
    return result


def complete_checkpoints(save_folder):
    """Names of the checkpoints in ``save_folder`` whose save has finished
    (the kill-safe checkpointer renames ``CKPT.yaml`` into place last)."""
    if not os.path.isdir(save_folder):
        return set()
    return {
        d
        for d in os.listdir(save_folder)
        if d.startswith("CKPT")
        and os.path.isfile(os.path.join(save_folder, d, "CKPT.yaml"))
    }


def loaded_checkpoints(log_text):
    """Names of the checkpoints that a run's log says it loaded, in order."""
    marker = "Loading a checkpoint from "
    return [
        os.path.basename(line.split(marker, 1)[1].strip())
        for line in log_text.splitlines()
        if marker in line
    ]


def option(command, key):
    """The last ``--key=value`` of a command line, or None."""
    values = [c.split("=", 1)[1] for c in command if c.startswith(f"--{key}=")]
    return values[-1] if values else None


def fake_stage_runner(commands, finetune_metrics, envs=None, distill_log=None):
    """A stand-in for ``subprocess.run`` in ``scripts/run_*.py``: records each
    command (and its environment in ``envs``) and writes the output its recipe
    would: the corpus manifest, ``teacher/``, ``student/`` (and the
    ``train_log.txt`` that ``distill_log(command)`` returns), or the
    ``metrics.json`` that ``finetune_metrics(command)`` returns."""

    def fake_run(command, cwd, check, env=None):
        commands.append(command)
        if envs is not None:
            envs.append(env)
        if "kdsrl_lobes.data.synth" in command:
            out = command[command.index("--output") + 1]
            os.makedirs(out, exist_ok=True)
            open(os.path.join(out, "kdsrl_synth_manifest.json"), "w").close()
            for folder in ("speech_commands_test_set_v0.01", "IEMOCAP_full_release"):
                os.makedirs(os.path.join(out, folder), exist_ok=True)
            return
        out = option(command, "output_folder")
        script = command[1]
        if script.endswith(os.path.join("pretrain", "train.py")):
            os.makedirs(os.path.join(out, "teacher"), exist_ok=True)
        elif script.endswith(os.path.join("distill", "train.py")):
            os.makedirs(os.path.join(out, "student"), exist_ok=True)
            if distill_log is not None:
                with open(os.path.join(out, "train_log.txt"), "w") as f:
                    f.write(distill_log(command))
        else:
            os.makedirs(out, exist_ok=True)
            with open(os.path.join(out, "metrics.json"), "w") as f:
                json.dump(finetune_metrics(command), f)

    return fake_run

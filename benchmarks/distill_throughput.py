"""Distillation throughput with and without the teacher-target cache.

Usage::

    PYTHONPATH=. python benchmarks/distill_throughput.py [--teacher DIR]
        [--data_folder DIR/LibriSpeech [--split train-clean-100]]
        [--crop_seconds 3] [--batch_size 8] [--steps 20] [--warmup_steps 2]
        [--threads 2] [--output results/benchmarks/distill_throughput.json]

Audio-seconds per wall-second of distillation training steps in three modes,
each in its own subprocess so that its peak RSS (``ru_maxrss``) is its own (this
parent never imports torch, so no child inherits a high-water mark from it):

- ``no_cache``: frozen teacher forward -> student -> prediction heads ->
  `DistillationLoss` -> backward -> gradient clipping -> Adam step (its LR
  set first by the schedule), as ``DistillBrain.fit_batch`` does with
  ``teacher_cache: False``;
- ``cache_cold``: the same with an empty `TeacherCache`: the teacher runs and
  its target layers are written in fp16 (the first epoch);
- ``cache_warm``: the same with the targets read back from that cache, no
  teacher forward (later epochs; just written, the files come from the page
  cache, as a small corpus's do in a real run).

The models, loss, optimiser, LR schedule and clipping are the recipe's: its
hparams file (``--hparams``, default ``distill_embedded.yaml``) is loaded
with the teacher, crop and batch sizes as overrides. All modes see the same
fixed crops (`kdsrl_lobes.training.crops`, ``deterministic=True``) of ``--data_folder``
(prepared with `prepare_librispeech`) or, without it, seeded random noise.
Batches are loaded before the clock starts (step throughput, not data loading);
``--warmup_steps`` untimed steps on their own crops come first. Without
``--teacher``, a random-init teacher of ``--random_size`` (``embedded``: 12
layers of 128) is built with `random_speech_model` in a temporary folder.

Reported: per mode the throughput (a step's mean audio over the median step
time, robust to steps that another process slowed down), the share of a step
spent getting the targets (the teacher forward in ``no_cache``) and the peak
RSS; the ratios
``cache_warm / no_cache`` (the speed-up) and ``cache_cold / no_cache``; the
cache's size on disk. The markdown table is printed and saved beside the JSON.
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_HPARAMS = os.path.join(
    ROOT, "recipes", "LibriSpeech", "distill", "hparams", "distill_embedded.yaml"
)
DEFAULT_OUTPUT = os.path.join(ROOT, "results", "benchmarks", "distill_throughput.json")
MODES = {
    "no_cache": "teacher forward + student step",
    "cache_cold": "teacher forward + fp16 cache write + student step",
    "cache_warm": "cache read + student step (no teacher)",
}


def summarize_steps(
    step_seconds: list[float], target_seconds: list[float], audio_seconds: float
) -> dict:
    """Throughput of the measured steps.

    Arguments
    ---------
    step_seconds : list of float
        Wall time of each measured step.
    target_seconds : list of float
        Part of each step spent getting the teacher targets.
    audio_seconds : float
        Audio (without padding) in the measured steps.

    Returns
    -------
    summary : dict
        ``audio_seconds``, ``wall_seconds``, ``audio_seconds_per_second`` (the
        mean audio of a step over the *median* step time: every step has the
        same batch shape, and the median ignores the steps another process
        slowed down), ``targets_share`` (fraction of the wall time spent on the
        targets) and ``step_seconds_range`` (fastest and slowest step: a wide
        range means a noisy machine).

    Example
    -------
    >>> s = summarize_steps([1.0, 2.0, 9.0], [0.5, 1.0, 1.5], audio_seconds=48.0)
    >>> s["audio_seconds_per_second"], s["targets_share"]
    (8.0, 0.25)
    """
    wall = sum(step_seconds)
    if not step_seconds or wall <= 0:
        raise ValueError(f"Expected measured steps, found {len(step_seconds)}")
    median_step = statistics.median(step_seconds)
    return {
        "audio_seconds": audio_seconds,
        "wall_seconds": wall,
        "audio_seconds_per_second": audio_seconds / (len(step_seconds) * median_step),
        "targets_share": sum(target_seconds) / wall,
        "step_seconds_range": [min(step_seconds), max(step_seconds)],
    }


def throughput_ratios(modes: dict) -> dict:
    """Throughput of each cache mode relative to ``no_cache``.

    Arguments
    ---------
    modes : dict
        ``{mode: {"audio_seconds_per_second": float, ...}}`` with ``no_cache``.

    Returns
    -------
    ratios : dict
        ``warm_over_no_cache`` (the speed-up) and ``cold_over_no_cache``, for
        the modes present.

    Example
    -------
    >>> throughput_ratios({"no_cache": {"audio_seconds_per_second": 10.0},
    ...                    "cache_warm": {"audio_seconds_per_second": 35.0}})
    {'warm_over_no_cache': 3.5}
    """
    base = modes["no_cache"]["audio_seconds_per_second"]
    return {
        f"{mode.removeprefix('cache_')}_over_no_cache": (
            modes[mode]["audio_seconds_per_second"] / base
        )
        for mode in ("cache_warm", "cache_cold")
        if mode in modes
    }


def markdown_report(report: dict) -> str:
    """The markdown table (and its caption) of a finished run's report."""
    setup, modes, ratios = report["setup"], report["modes"], report["ratios"]
    ratio_of = {
        "no_cache": 1.0,
        "cache_warm": ratios["warm_over_no_cache"],
        "cache_cold": ratios["cold_over_no_cache"],
    }
    lines = [
        "## Distillation throughput with and without the teacher cache",
        "",
        f"Teacher: {setup['teacher_description']}.  ",
        f"Data: {setup['data_description']}; {setup['crop_seconds']:g} s crops, "
        f"batch {setup['batch_size']}, {setup['threads']} threads, "
        f"{setup['steps']} measured steps per mode after "
        f"{setup['warmup_steps']} warm-up steps; torch {setup['torch']}.",
        "",
        "| mode | a step is | audio s / wall s | vs no cache "
        "| step share: targets | step s (min-max) | peak RSS (MiB) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for mode, what in MODES.items():
        m = modes[mode]
        lines.append(
            f"| {mode} | {what} | {m['audio_seconds_per_second']:.2f} "
            f"| {ratio_of[mode]:.2f}x | {m['targets_share']:.2f} "
            f"| {m['step_seconds_range'][0]:.2f}-{m['step_seconds_range'][1]:.2f} "
            f"| {m['peak_rss_mib']:.0f} |"
        )
    cache = report["cache"]
    lines += [
        "",
        f"Speed-up of a cached epoch (cache_warm / no_cache): "
        f"**{ratios['warm_over_no_cache']:.2f}x**; first epoch (cache_cold / "
        f"no_cache): {ratios['cold_over_no_cache']:.2f}x. In a no-cache step the "
        f"teacher forward takes {modes['no_cache']['targets_share']:.0%} of the "
        "time.",
        f"Cache on disk: {cache['bytes'] / 2**20:.2f} MiB in {cache['files']} "
        f"files ({cache['bytes'] / 2**10 / cache['audio_seconds']:.1f} KiB per "
        "audio-second, fp16).",
        "",
    ]
    return "\n".join(lines)


def folder_size(folder: str) -> tuple[int, int]:
    """``(bytes, files)`` under a folder."""
    total = count = 0
    for parent, _, names in os.walk(folder):
        for name in names:
            total += os.path.getsize(os.path.join(parent, name))
            count += 1
    return total, count


# --- worker side: everything below runs in the subprocesses -------------------
# torch, speechbrain and kdsrl_lobes are imported inside these functions so that
# the parent process stays small (see the module docstring).


def setup_worker(job: dict) -> dict:
    """Saves the random-init teacher if none was given, prepares the split's
    CSV (None: synthetic crops) and describes the teacher."""
    from kdsrl_lobes import load_teacher
    from kdsrl_lobes.data import prepare_librispeech
    from kdsrl_lobes.models.configs import random_speech_model

    out = {"teacher": job["teacher"], "csv": None}
    if job["teacher"] is None:
        out["teacher"] = os.path.join(job["workdir"], "teacher")
        model = random_speech_model(job["random_arch"], job["random_size"])
        model.save_pretrained(out["teacher"])
    if job["data_folder"] is not None:
        csvs = prepare_librispeech(
            job["data_folder"], os.path.join(job["workdir"], "data"), [job["split"]]
        )
        out["csv"] = csvs[job["split"]]
    teacher = load_teacher(out["teacher"], layers=None)
    out["teacher_type"] = teacher.model.config.model_type
    out["teacher_layers"] = teacher.num_layers
    out["teacher_hidden"] = teacher.hidden_size
    out["teacher_parameters"] = sum(p.numel() for p in teacher.parameters())
    return out


def load_parts(job: dict) -> dict:
    """The recipe's hparams (teacher, student, heads, loss, optimiser class, LR
    schedule) loaded with the job's overrides, output under its work folder."""
    from hyperpyyaml import load_hyperpyyaml

    overrides = {
        "teacher_source": job["teacher"],
        "data_folder": job["data_folder"] or job["workdir"],
        "output_folder": os.path.join(job["workdir"], "run"),
        "crop_seconds": job["crop_seconds"],
        "batch_size": job["batch_size"],
    }
    if job["target_layers"]:
        overrides["target_layers"] = job["target_layers"]
    with open(job["hparams"], encoding="utf-8") as fin:
        return load_hyperpyyaml(fin, overrides)


def load_batches(job: dict, min_duration: float) -> list:
    """``warmup_steps + steps`` padded batches of distinct fixed crops (``id``,
    ``sig``, ``crop_id``, as the recipe's loader gives them), the same in every
    process: of ``job["csv"]``, or seeded noise when it is None."""
    import torch
    from speechbrain.dataio.batch import PaddedBatch

    from kdsrl_lobes.training.crops import SAMPLE_RATE, crop_dataset, crop_id

    size = job["batch_size"]
    needed = (job["warmup_steps"] + job["steps"]) * size
    if job["csv"] is None:
        samples = int(round(job["crop_seconds"] * SAMPLE_RATE))
        gen = torch.Generator().manual_seed(job["seed"])
        items = []
        for i in range(needed):
            utt = f"synthetic-{i:05d}"
            sig = 0.1 * torch.randn(samples, generator=gen)
            items.append({"id": utt, "sig": sig, "crop_id": crop_id(utt, 0, samples)})
    else:
        data = crop_dataset(
            job["csv"],
            job["crop_seconds"],
            deterministic=True,
            min_duration=min_duration,
        )
        if len(data) < needed:
            raise ValueError(
                f"Expected at least {needed} utterances of {min_duration} s or more "
                f"in {job['csv']} ((warmup_steps + steps) x batch_size distinct "
                f"crops), found {len(data)}"
            )
        items = [data[i] for i in range(needed)]
    return [PaddedBatch(items[i : i + size]) for i in range(0, needed, size)]


def mode_worker(job: dict) -> dict:
    """Runs one mode's warm-up and measured steps (``cache_warm`` reads what
    ``cache_cold`` wrote in the same work folder); returns `summarize_steps`
    with the step times, peak RSS and the cache's hits, misses and size."""
    import torch

    from kdsrl_lobes.training.crops import SAMPLE_RATE
    from kdsrl_lobes.training.teacher_cache import TeacherCache

    torch.set_num_threads(job["threads"])
    hp = load_parts(job)
    teacher, student, heads = hp["teacher"], hp["student"], hp["prediction_heads"]
    loss_fn, scheduler = hp["distillation_loss"], hp["lr_scheduler"]
    modules = torch.nn.ModuleDict(hp["modules"]).train()
    params = [p for p in modules.parameters() if p.requires_grad]
    optimizer = hp["opt_class"](params)
    cache = None
    if job["mode"] != "no_cache":
        cache = TeacherCache(teacher, hp["cache_folder"])
    batches = load_batches(job, hp["min_duration"])

    def train_step(batch) -> tuple[float, float]:
        """One optimiser step as ``DistillBrain`` takes it; returns its wall
        time and the part spent getting the targets. Written out here rather
        than run through ``Brain.fit_batch`` so that the targets can be timed
        on their own."""
        start = time.perf_counter()
        scheduler(optimizer)  # before the step, as ScheduledBrain does
        wavs, lens = batch.sig
        if cache is None:
            targets = teacher(wavs, lens)  # B x L x T x D, under no_grad
        else:
            targets = cache(wavs, lens, batch.crop_id)
        got_targets = time.perf_counter()
        loss, _ = loss_fn(heads(student(wavs, lens)), targets, lens)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, hp["max_grad_norm"])
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return time.perf_counter() - start, got_targets - start

    def batch_seconds(batch) -> float:
        """Audio in a batch, padding left out."""
        wavs, lens = batch.sig
        return float((lens * wavs.shape[1]).round().sum()) / SAMPLE_RATE

    for batch in batches[: job["warmup_steps"]]:
        train_step(batch)
    step_seconds, target_seconds = [], []
    measured = batches[job["warmup_steps"] :]
    for batch in measured:
        step, targets = train_step(batch)
        step_seconds.append(step)
        target_seconds.append(targets)
    out = summarize_steps(
        step_seconds, target_seconds, sum(batch_seconds(b) for b in measured)
    )
    out["all_steps_audio_seconds"] = sum(batch_seconds(b) for b in batches)
    out["step_seconds"] = step_seconds
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["torch"] = torch.__version__
    out["target_layers"] = list(teacher.layers)
    if cache is not None:
        out.update(cache_hits=cache.hits, cache_misses=cache.misses)
        out["cache_bytes"], out["cache_files"] = folder_size(cache.folder)
    return out


def run_job(job: dict, threads: int) -> dict:
    """Runs a job in a fresh Python process with ``threads`` BLAS/OpenMP threads
    and returns its result."""
    path = os.path.join(job["workdir"], f"{job['mode']}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(job, f)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--worker", path],
        env=env,
        check=True,
    )
    with open(path + ".out", encoding="utf-8") as f:
        return json.load(f)


def make_job(args: argparse.Namespace, workdir: str, mode: str = "setup") -> dict:
    """The options a worker needs, as a JSON-able dict."""
    job = {k: v for k, v in vars(args).items() if k not in ("worker", "output")}
    job.update(workdir=workdir, mode=mode)
    return job


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--teacher", default=None, help="transformers model folder")
    parser.add_argument("--random_arch", default="hubert")
    parser.add_argument("--random_size", default="embedded")
    parser.add_argument("--data_folder", default=None, help="LibriSpeech folder")
    parser.add_argument("--split", default="train-clean-100")
    parser.add_argument("--hparams", default=DEFAULT_HPARAMS)
    parser.add_argument("--target_layers", type=int, nargs="+", default=None)
    parser.add_argument("--crop_seconds", type=float, default=3.0)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup_steps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="JSON file")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup_steps < 0 or args.batch_size < 1:
        parser.error("--steps and --batch_size must be >= 1, --warmup_steps >= 0")
    return args


def main(argv: list[str] | None = None) -> dict:
    """Runs the setup and the three modes, prints and saves the report."""
    args = parse_args(argv)
    if args.worker:
        with open(args.worker, encoding="utf-8") as f:
            job = json.load(f)
        result = setup_worker(job) if job["mode"] == "setup" else mode_worker(job)
        with open(args.worker + ".out", "w", encoding="utf-8") as f:
            json.dump(result, f)
        return result
    workdir = tempfile.mkdtemp(prefix="distill_throughput_")
    try:
        job = make_job(args, workdir)
        setup = run_job(job, args.threads)
        job.update(teacher=setup["teacher"], csv=setup["csv"])
        modes = {}
        for mode in MODES:
            job["mode"] = mode
            modes[mode] = run_job(job, args.threads)
            print(
                f"{mode}: {modes[mode]['audio_seconds_per_second']:.2f} audio s / "
                f"wall s, peak RSS {modes[mode]['peak_rss_mib']:.0f} MiB",
                flush=True,
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    teacher = (
        f"{setup['teacher_type']}, {setup['teacher_layers']} layers of "
        f"{setup['teacher_hidden']}, {setup['teacher_parameters'] / 1e6:.2f}M "
        f"parameters, targets {modes['no_cache']['target_layers']}"
    )
    if args.teacher is None:
        teacher += (
            f"; random init ({args.random_arch}, '{args.random_size}' size), "
            "saved to a temporary folder because no --teacher was given"
        )
    else:
        teacher += f"; from {os.path.abspath(args.teacher)}"
    cold = modes["cache_cold"]
    report = {
        "setup": {
            **{k: v for k, v in vars(args).items() if k != "worker"},
            "teacher_description": teacher,
            "data_description": (
                f"{args.split} of {os.path.abspath(args.data_folder)}"
                if args.data_folder
                else "synthetic random-noise crops (no --data_folder)"
            ),
            "torch": modes["no_cache"]["torch"],
            "cpu_count": os.cpu_count(),
        },
        "modes": modes,
        "ratios": throughput_ratios(modes),
        "cache": {
            "bytes": cold["cache_bytes"],
            "files": cold["cache_files"],
            "audio_seconds": cold["all_steps_audio_seconds"],
        },
    }
    text = markdown_report(report)
    print(text)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    with open(os.path.splitext(args.output)[0] + ".md", "w", encoding="utf-8") as f:
        f.write(text)
    return report


if __name__ == "__main__":
    main()

"""Single-thread CPU inference cost of teachers, students (the teacher's CNN
copied, or a thin one) and their ONNX / int8 exports: parameters, MACs per
second of audio, median latency per 1 s and 10 s of audio, peak memory.

Usage::

    python benchmarks/cpu_inference.py [--arch hubert] [--repeats 5] [--quick]
        [--embedded_teacher DIR] [--embedded_student DIR]
        [--embedded_student_thin DIR] [--calibration DIR]
        [--int8_format qoperator|qdq|dynamic] [--thin_channels C1 C2 ...]
        [--sizes base embedded] [--output_dir results/benchmarks]

Every row is the encoder plus the two linear heads (`MultiTaskNetwork`) on one
utterance, measured in its own subprocess (``torch.set_num_threads(1)``,
onnxruntime ``intra_op_num_threads=1``; peak RSS: `peak_rss_mb`): BASE
teacher and BASE-size 2-layer students (random init from
``kdsrl_lobes.models.configs``, nothing downloaded), the embedded-size teacher
and students (the given transformers directories, else random init), and the
students exported to ONNX fp32 and int8 (``kdsrl_lobes.hub.export``; static
whole-graph int8 calibrated on ``--calibration``'s clips by default). MACs come
from `kdsrl_lobes.evaluation.macs` (1 s of audio), split into front end and
transformer. Student rows also time the CNN front end alone. Speed-ups are
relative to the row's own teacher, measured in the same run. Writes
``cpu_inference.json`` and ``cpu_inference.md``.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CALIBRATION = os.path.join(ROOT, "embedded", "corpus", "speech_commands_v0.01")
SIZES = ("base", "embedded", "tiny")
# (suffix, role, front end, runtime: torch / onnx_fp32 / onnx_int8)
VARIANTS = (
    ("teacher", "teacher", None, "torch"),
    ("student", "student", "copy", "torch"),
    ("student_onnx", "student", "copy", "onnx_fp32"),
    ("student_int8", "student", "copy", "onnx_int8"),
    ("student_thin", "student", "thin", "torch"),
    ("student_thin_onnx", "student", "thin", "onnx_fp32"),
    ("student_thin_int8", "student", "thin", "onnx_int8"),
)


def build_network(size, role, arch, source=None, front_end="copy", channels=None):
    """Encoder (from ``source`` or random init) + KWS head + SV head; a random
    student is `build_student` of a random teacher (copied or thin CNN)."""
    from kdsrl_lobes.hub.files import MultiTaskNetwork
    from kdsrl_lobes.models.configs import random_speech_model
    from kdsrl_lobes.models.encoder import SSLEncoder, load_encoder
    from kdsrl_lobes.models.heads import KWSHead, SVHead
    from kdsrl_lobes.models.student import build_student

    if source:
        encoder = load_encoder(source)
    elif role == "teacher":
        encoder = SSLEncoder(random_speech_model(arch, size))
    else:
        teacher = random_speech_model(arch, size)
        options = {} if front_end == "copy" else {"front_end_channels": channels}
        student = build_student(teacher, num_layers=2, front_end=front_end, **options)
        encoder = SSLEncoder(student)
    hidden = encoder.hidden_size
    network = MultiTaskNetwork(encoder, KWSHead(hidden, 12), SVHead(hidden, 256))
    return network.eval()


def peak_rss_mb():
    """This process's peak resident memory. ``/proc/self/status`` VmHWM, since
    Linux carries ``getrusage``'s ``ru_maxrss`` across ``exec`` (a worker
    would report its parent's peak); ``getrusage`` elsewhere."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _median_seconds(run, repeats):
    run()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def worker(spec):
    """Measures one row in this (fresh) process; returns its results."""
    import numpy as np
    import torch

    from kdsrl_lobes.evaluation.macs import count_macs

    torch.set_num_threads(1)
    torch.manual_seed(0)
    network = build_network(
        spec["size"], spec["role"], spec["arch"], spec["source"],
        spec["front_end"], spec["channels"],
    )  # fmt: skip
    macs = count_macs(network)
    result = {
        "params": sum(p.numel() for p in network.parameters()),
        "gmacs_per_s": macs["total"] / 1e9,
        "gmacs_front_end": macs["front_end"] / 1e9,
        "gmacs_transformer": macs["transformer"] / 1e9,
        "conv_dim": list(network.encoder.model.config.conv_dim),
    }
    if spec["kind"] != "torch":
        from kdsrl_lobes.hub.export import OnnxMultiTaskModel

        onnx_model = OnnxMultiTaskModel(spec["onnx"], threads=1)
        result["file_mb"] = os.path.getsize(spec["onnx"]) / 2**20
    for seconds in spec["durations"]:
        wav = torch.randn(1, 16000 * seconds) * 0.1
        if spec["kind"] == "torch":
            with torch.inference_mode():
                latency = _median_seconds(lambda w=wav: network(w), spec["repeats"])
                if spec["role"] == "student":
                    cnn = network.encoder.model.feature_extractor
                    result[f"cnn_ms_{seconds}s"] = 1000 * _median_seconds(
                        lambda w=wav, f=cnn: f(w), spec["repeats"]
                    )
        else:
            array = wav.numpy().astype(np.float32)
            latency = _median_seconds(lambda a=array: onnx_model(a), spec["repeats"])
        result[f"ms_{seconds}s"] = 1000 * latency
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def export_students(args, sources, folder):
    """ONNX fp32 + int8 graphs of every student; returns their paths by
    (size, front end, runtime)."""
    from kdsrl_lobes.hub.export import (
        calibration_clips,
        export_onnx,
        quantize_dynamic_int8,
        quantize_static_int8,
    )

    clips = None
    if args.int8_format != "dynamic":
        clips = calibration_clips(args.calibration, max_clips=args.calibration_clips)
    paths = {}
    for size in args.sizes:
        for front_end in ("copy", "thin"):
            network = build_network(
                size, "student", args.arch, sources.get((size, front_end)),
                front_end, args.thin_channels,
            )  # fmt: skip
            stem = os.path.join(folder, f"{size}_{front_end}")
            fp32 = export_onnx(network, f"{stem}.onnx")
            paths[(size, front_end, "onnx_fp32")] = fp32
            if clips is None:
                int8 = quantize_dynamic_int8(fp32, f"{stem}_int8.onnx")
            else:
                int8 = quantize_static_int8(
                    fp32, f"{stem}_int8.onnx", clips, args.int8_format,
                    quantize_cnn=args.int8_cnn,
                )  # fmt: skip
            paths[(size, front_end, "onnx_int8")] = int8
    return paths


def add_speedups(results, durations):
    """``speedup_<s>s``: the row's teacher latency over its own, same run.

    Example
    -------
    >>> rows = {"t": {"teacher": "t", "ms_1s": 100.0},
    ...         "s": {"teacher": "t", "ms_1s": 25.0}}
    >>> add_speedups(rows, [1])["s"]["speedup_1s"]
    4.0
    """
    for row in results.values():
        for s in durations:
            row[f"speedup_{s}s"] = results[row["teacher"]][f"ms_{s}s"] / row[f"ms_{s}s"]
    return results


def markdown(results, durations):
    """The results table."""
    head = ["Model", "Params (M)", "GMACs/s (front end + transformer)"]
    for s in durations:
        head += [f"{s} s audio (ms)", f"speed-up {s} s"]
    head += ["CNN share", "Peak RSS (MB)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in results.items():
        cells = [
            name,
            f"{row['params'] / 1e6:.2f}",
            f"{row['gmacs_per_s']:.2f} ({row['gmacs_front_end']:.2f} + "
            f"{row['gmacs_transformer']:.2f})",
        ]
        for s in durations:
            cells += [f"{row[f'ms_{s}s']:.1f}", f"{row[f'speedup_{s}s']:.2f}x"]
        cnn = row.get(f"cnn_ms_{durations[-1]}s")
        share = cnn / row[f"ms_{durations[-1]}s"] if cnn else None
        cells += ["" if share is None else f"{100 * share:.0f} %"]
        cells += [f"{row['peak_rss_mb']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    """Runs every row in a subprocess and writes the JSON and markdown."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="hubert")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 repeats, 1 s only")
    parser.add_argument(
        "--sizes", nargs="+", choices=SIZES, default=["base", "embedded"]
    )
    parser.add_argument("--embedded_teacher", help="transformers model directory")
    parser.add_argument("--embedded_student", help="transformers model directory")
    parser.add_argument("--embedded_student_thin", help="transformers model directory")
    parser.add_argument(
        "--thin_channels", type=int, nargs="+", help="random thin students' channels"
    )
    parser.add_argument("--calibration", default=DEFAULT_CALIBRATION)
    parser.add_argument("--calibration_clips", type=int, default=32)
    parser.add_argument(
        "--int8_format", choices=("qoperator", "qdq", "dynamic"), default="qoperator"
    )
    parser.add_argument(
        "--int8_cnn", action="store_true", help="static int8: quantise the CNN too"
    )
    parser.add_argument("--output_dir", default="results/benchmarks")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return None
    repeats, durations = (2, [1]) if args.quick else (args.repeats, [1, 10])
    sources = {
        ("embedded", "teacher"): args.embedded_teacher,
        ("embedded", "copy"): args.embedded_student,
        ("embedded", "thin"): args.embedded_student_thin,
    }
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        onnx_paths = export_students(args, sources, folder)
        for size in args.sizes:
            for suffix, role, front_end, kind in VARIANTS:
                name = f"{size}_{suffix}"
                key = (size, "teacher" if role == "teacher" else front_end)
                spec = {
                    "arch": args.arch,
                    "size": size,
                    "role": role,
                    "front_end": front_end,
                    "channels": args.thin_channels,
                    "kind": kind,
                    "source": sources.get(key),
                    "onnx": onnx_paths.get((size, front_end, kind)),
                    "durations": durations,
                    "repeats": repeats,
                }
                env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
                proc = subprocess.run(
                    [sys.executable, __file__, "--worker", json.dumps(spec)],
                    capture_output=True,
                    text=True,
                    env=env,
                    check=False,
                )
                if proc.returncode != 0:
                    raise RuntimeError(f"{name} failed:\n{proc.stderr[-3000:]}")
                row = json.loads(proc.stdout.strip().splitlines()[-1])
                row.update(kind=kind, teacher=f"{size}_teacher", source=spec["source"])
                results[name] = row
                print(f"{name}: {row}", flush=True)
    add_speedups(results, durations)
    os.makedirs(args.output_dir, exist_ok=True)
    report = {
        "arch": args.arch,
        "repeats": repeats,
        "durations_s": durations,
        "int8_format": args.int8_format,
        "int8_cnn": args.int8_cnn,
        "machine": f"{platform.processor() or platform.machine()}, 1 thread",
        "results": results,
    }
    with open(os.path.join(args.output_dir, "cpu_inference.json"), "w") as f:
        json.dump(report, f, indent=2)
    table = markdown(results, durations)
    with open(os.path.join(args.output_dir, "cpu_inference.md"), "w") as f:
        f.write(table)
    print(table)
    return report


if __name__ == "__main__":
    main(sys.argv[1:])

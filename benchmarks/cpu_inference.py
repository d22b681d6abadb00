"""Single-thread CPU inference cost of teachers, students and their ONNX / int8
exports: parameters, median latency per 1 s and 10 s of audio, peak memory.

Usage::

    python benchmarks/cpu_inference.py [--arch hubert] [--repeats 5] [--quick]
        [--embedded_teacher DIR] [--embedded_student DIR]
        [--output_dir results/benchmarks]

Every row is the encoder plus the two linear heads (`MultiTaskNetwork`) on one
utterance, measured in its own subprocess (``torch.set_num_threads(1)``,
onnxruntime ``intra_op_num_threads=1``; peak RSS: `peak_rss_mb`): BASE
teacher and BASE-size 2-layer student (random init from ``kdsrl_lobes.models.configs``,
nothing downloaded), the embedded-size teacher and student (the given
transformers directories, else random init), and the students exported to ONNX
fp32 and int8 (``kdsrl_lobes.hub.export``: int8 MatMul/Gemm, fp32 CNN). Student
rows also time the CNN front end alone, to show where the time goes. Speed-ups
are relative to the row's own teacher. Writes ``cpu_inference.json`` and
``cpu_inference.md``.
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

ROWS = (
    # name, size, role, runtime (torch / onnx_fp32 / onnx_int8)
    ("base_teacher", "base", "teacher", "torch"),
    ("base_student", "base", "student", "torch"),
    ("base_student_onnx", "base", "student", "onnx_fp32"),
    ("base_student_int8", "base", "student", "onnx_int8"),
    ("embedded_teacher", "embedded", "teacher", "torch"),
    ("embedded_student", "embedded", "student", "torch"),
    ("embedded_student_onnx", "embedded", "student", "onnx_fp32"),
    ("embedded_student_int8", "embedded", "student", "onnx_int8"),
)


def build_network(size, role, arch, source=None):
    """Encoder (from ``source`` or random init) + KWS head + SV head."""
    from kdsrl_lobes.hub.files import MultiTaskNetwork
    from kdsrl_lobes.models.configs import random_speech_model
    from kdsrl_lobes.models.encoder import SSLEncoder, load_encoder
    from kdsrl_lobes.models.heads import KWSHead, SVHead

    if source:
        encoder = load_encoder(source)
    else:
        layers = {"num_hidden_layers": 2} if role == "student" else {}
        encoder = SSLEncoder(random_speech_model(arch, size, **layers))
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

    torch.set_num_threads(1)
    torch.manual_seed(0)
    network = build_network(spec["size"], spec["role"], spec["arch"], spec["source"])
    result = {"params": sum(p.numel() for p in network.parameters())}
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
                    result[f"cnn_{seconds}s"] = _median_seconds(
                        lambda w=wav, f=cnn: f(w), spec["repeats"]
                    )
        else:
            array = wav.numpy().astype(np.float32)
            latency = _median_seconds(lambda a=array: onnx_model(a), spec["repeats"])
        result[f"latency_{seconds}s"] = latency
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def export_students(arch, sources, folder):
    """ONNX fp32 + int8 graphs of the two students; returns their paths."""
    from kdsrl_lobes.hub.export import export_onnx, quantize_dynamic_int8

    paths = {}
    for size in ("base", "embedded"):
        network = build_network(size, "student", arch, sources.get(size))
        fp32 = export_onnx(network, os.path.join(folder, f"{size}_student.onnx"))
        paths[(size, "onnx_fp32")] = fp32
        paths[(size, "onnx_int8")] = quantize_dynamic_int8(
            fp32, os.path.join(folder, f"{size}_student_int8.onnx")
        )
    return paths


def markdown(results, durations):
    """The results table (speed-up: the row's teacher latency / its latency)."""
    head = ["Model", "Params (M)"]
    for s in durations:
        head += [f"{s} s audio (ms)", f"speed-up {s} s"]
    head += ["CNN share", "Peak RSS (MB)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in results.items():
        teacher = results[row["teacher"]]
        cells = [name, f"{row['params'] / 1e6:.2f}"]
        for s in durations:
            latency = row[f"latency_{s}s"]
            speedup = teacher[f"latency_{s}s"] / latency
            cells += [f"{1000 * latency:.1f}", f"{speedup:.2f}x"]
        cnn = row.get(f"cnn_{durations[-1]}s")
        share = cnn / row[f"latency_{durations[-1]}s"] if cnn else None
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
    parser.add_argument("--embedded_teacher", help="transformers model directory")
    parser.add_argument("--embedded_student", help="transformers model directory")
    parser.add_argument("--output_dir", default="results/benchmarks")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return None
    repeats, durations = (2, [1]) if args.quick else (args.repeats, [1, 10])
    sources = {"teacher": args.embedded_teacher, "student": args.embedded_student}
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        onnx_paths = export_students(
            args.arch, {"embedded": sources["student"]}, folder
        )
        for name, size, role, kind in ROWS:
            spec = {
                "arch": args.arch,
                "size": size,
                "role": role,
                "kind": kind,
                "source": sources[role] if size == "embedded" else None,
                "onnx": onnx_paths.get((size, kind)),
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
    os.makedirs(args.output_dir, exist_ok=True)
    report = {
        "arch": args.arch,
        "repeats": repeats,
        "durations_s": durations,
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

"""Edge export of a packaged multi-task model to ONNX, optionally int8.

    python -m kdsrl_lobes.export <package dir> --format onnx [--int8 \
        --calibration DIR [--int8_format qoperator|qdq|dynamic] [--int8_cnn]] \
        [--output_dir DIR] [--check_audio A.wav B.wav] [--eval_corpus ROOT]

One graph, ``model.onnx``: inputs ``wav [batch, time]`` (16 kHz mono float32)
and ``wav_lens [batch]`` (relative lengths), outputs ``kws_logits [batch,
classes]`` and ``sv_embedding [batch, dim]``; batch and time are dynamic.
``--int8`` adds ``model_int8.onnx``: by default the convolutions and matrix
products quantised statically by onnxruntime (``--int8_format qoperator``, the
fastest measured, or ``qdq``), activation ranges calibrated on the clips of
``--calibration DIR``, the CNN front end kept fp32 unless ``--int8_cnn``;
``--int8_format dynamic`` quantises only the MatMul/Gemm weights and needs no
calibration. Both graphs are checked with onnxruntime against PyTorch on real
clips (the max absolute differences are printed), and ``--eval_corpus``
reports KWS accuracy and SV EER of PyTorch, ONNX fp32 and ONNX int8 on the
test sets. All results go to ``export.json`` beside the graphs.

Authors
 * kdsrl team 2026
"""

import argparse
import json
import os
import sys
import tempfile

import numpy as np
import torch
from speechbrain.utils.logger import get_logger

from kdsrl_lobes.data import load_audio
from kdsrl_lobes.hub.files import MultiTaskNetwork, receptive_field

logger = get_logger(__name__)

INPUT_NAMES = ("wav", "wav_lens")
OUTPUT_NAMES = ("kws_logits", "sv_embedding")
FP32_TOLERANCE = 1e-3


def export_onnx(network: MultiTaskNetwork, path: str, opset: int = 18) -> str:
    """Exports ``network`` (eval mode) to ONNX with dynamic batch and time.

    Example
    -------
    >>> import tempfile
    >>> from kdsrl_lobes.models.configs import speech_config
    >>> from kdsrl_lobes.models.heads import KWSHead, SVHead
    >>> from kdsrl_lobes.hub.files import encoder_from_config
    >>> enc = encoder_from_config(speech_config("hubert", "tiny").to_diff_dict())
    >>> net = MultiTaskNetwork(enc, KWSHead(16, 12), SVHead(16, 8)).eval()
    >>> path = export_onnx(net, os.path.join(tempfile.mkdtemp(), "m.onnx"))
    >>> logits, emb = OnnxMultiTaskModel(path)(np.zeros((1, 24000), np.float32))
    >>> logits.shape, emb.shape
    ((1, 12), (1, 8))
    """
    network = network.eval().cpu()
    min_time = receptive_field(network.encoder)
    example = (torch.randn(2, 16000), torch.tensor([1.0, 0.8]))
    batch = torch.export.Dim("batch", min=1)
    time = torch.export.Dim("time", min=min_time)
    torch.onnx.export(
        network,
        example,
        path,
        dynamo=True,
        opset_version=opset,
        input_names=list(INPUT_NAMES),
        output_names=list(OUTPUT_NAMES),
        dynamic_shapes={"wav": {0: batch, 1: time}, "wav_lens": {0: batch}},
        external_data=False,  # one self-contained file (< 2 GB for BASE)
        verbose=False,
    )
    return path


def quantize_dynamic_int8(path: str, output: str) -> str:
    """onnxruntime dynamic quantisation of the MatMul/Gemm weights to int8,
    activations quantised on the fly.

    The CNN front end stays fp32: onnxruntime's dynamically quantised
    convolution (``ConvInteger``) is slower than its fp32 convolution on CPU
    (the README's edge-export section has the measurement).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        path,
        output,
        op_types_to_quantize=["MatMul", "Gemm"],
        weight_type=QuantType.QInt8,
    )
    return output


INT8_FORMATS = ("qoperator", "qdq", "dynamic")
AUDIO_EXTENSIONS = (".wav", ".flac")


def calibration_clips(
    folder: str, max_clips: int = 64, max_seconds: float = 3.0
) -> list[np.ndarray]:
    """Up to ``max_clips`` clips ``[1, time]`` spread evenly over the sorted
    audio files under ``folder`` (GSC's ``_background_noise_`` excluded), each
    cut to ``max_seconds``: what static quantisation calibrates on.

    Example
    -------
    >>> calibration_clips("/no/such/folder")
    Traceback (most recent call last):
    ...
    FileNotFoundError: Calibration folder not found: /no/such/folder
    """
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Calibration folder not found: {folder}")
    files = sorted(
        os.path.join(root, name)
        for root, dirs, names in os.walk(folder)
        if "_background_noise_" not in root.split(os.sep)
        for name in names
        if name.lower().endswith(AUDIO_EXTENSIONS)
    )
    if not files:
        raise ValueError(
            f"Calibration folder {folder} holds no {'/'.join(AUDIO_EXTENSIONS)} files"
        )
    step = max(1, len(files) // max_clips)
    stop = int(max_seconds * 16000)
    return [load_audio(f).numpy()[None, :stop] for f in files[::step][:max_clips]]


STATIC_OP_TYPES = ("Conv", "MatMul", "Gemm")


def static_exclusions(path: str, quantize_cnn: bool = False) -> list[str]:
    """Nodes of an exported graph that static quantisation leaves in fp32:
    products of two activations (attention scores and their weighting, whose
    per-tensor ranges vary with every input), and the CNN front end's
    convolutions unless ``quantize_cnn``."""
    import onnx

    graph = onnx.load(path).graph
    weights = {init.name for init in graph.initializer}
    excluded = []
    for node in graph.node:
        if node.op_type not in STATIC_OP_TYPES:
            continue
        if not any(name in weights for name in node.input):
            excluded.append(node.name)
        elif not quantize_cnn and any(
            "feature_extractor." in name for name in node.input if name in weights
        ):
            excluded.append(node.name)
    return excluded


def quantize_static_int8(
    path: str,
    output: str,
    clips: list[np.ndarray],
    quant_format: str = "qoperator",
    quantize_cnn: bool = False,
) -> str:
    """onnxruntime static quantisation of the convolutions and matrix
    products: int8 per-channel weights, activations with ranges calibrated
    (min-max) on ``clips`` ``[1, time]``.

    Element-wise operators (norms, activations, residual additions, softmax)
    and products of two activations stay fp32 (`static_exclusions`), and so
    does the CNN front end unless ``quantize_cnn``: on the embedded models,
    quantising every operator cost 16.6 KWS points and 20 EER points, and the
    CNN's convolutions alone about 14 KWS points (per-tensor ranges of their
    activations are too coarse; the README's edge section has the figures).

    ``qoperator`` writes quantised operators (QLinearConv, QLinearMatMul...),
    uint8 activations; ``qdq`` writes QuantizeLinear/DequantizeLinear pairs
    around fp32 operators, int8 activations, for runtimes that fuse them.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if quant_format not in INT8_FORMATS[:2]:
        raise ValueError(
            f"Expected a static format in {INT8_FORMATS[:2]}, found {quant_format!r}"
        )
    if not clips:
        raise ValueError("Static quantisation needs at least one calibration clip")

    class Clips(CalibrationDataReader):
        def __init__(self):
            self.items = iter(clips)

        def get_next(self):
            clip = next(self.items, None)
            if clip is None:
                return None
            return {"wav": clip.astype(np.float32), "wav_lens": np.ones(1, np.float32)}

    with tempfile.TemporaryDirectory() as tmp:
        # onnxruntime's recommended pre-pass (constant folding, shape
        # inference); its symbolic pass cannot follow the dynamic time axis
        prepared = os.path.join(tmp, "prepared.onnx")
        quant_pre_process(path, prepared, skip_symbolic_shape=True)
        qoperator = quant_format == "qoperator"
        quantize_static(
            prepared,
            output,
            Clips(),
            quant_format=QuantFormat.QOperator if qoperator else QuantFormat.QDQ,
            activation_type=QuantType.QUInt8 if qoperator else QuantType.QInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=list(STATIC_OP_TYPES),
            nodes_to_exclude=static_exclusions(prepared, quantize_cnn),
        )
    return output


class OnnxMultiTaskModel:
    """An onnxruntime session of an exported graph, called like the network.

    Arguments
    ---------
    path : str
        ``model.onnx`` or ``model_int8.onnx``.
    threads : int
        ``intra_op_num_threads`` (1 for the single-thread benchmark).
    """

    def __init__(self, path: str, threads: int = 1):
        import onnxruntime

        if not os.path.isfile(path):
            raise FileNotFoundError(f"ONNX model not found: {path}")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            path, options, providers=["CPUExecutionProvider"]
        )

    def __call__(self, wav: np.ndarray, wav_lens: np.ndarray | None = None):
        """``(kws_logits, sv_embedding)`` of audio ``[batch, time]``."""
        wav = np.asarray(wav, dtype=np.float32)
        if wav_lens is None:
            wav_lens = np.ones(wav.shape[0], dtype=np.float32)
        feeds = {"wav": wav, "wav_lens": np.asarray(wav_lens, dtype=np.float32)}
        return tuple(self.session.run(list(OUTPUT_NAMES), feeds))


def torch_runner(network: MultiTaskNetwork):
    """``network`` as a numpy function, like `OnnxMultiTaskModel`."""

    @torch.no_grad()
    def run(wav, wav_lens=None):
        lens = None if wav_lens is None else torch.as_tensor(wav_lens)
        outputs = network(torch.as_tensor(wav), lens)
        return tuple(out.numpy() for out in outputs)

    return run


def max_differences(reference, candidate, clips: list[np.ndarray]) -> dict:
    """Largest absolute difference of each output over ``clips`` ``[1, time]``."""
    diffs = dict.fromkeys(OUTPUT_NAMES, 0.0)
    for wav in clips:
        for name, ref, out in zip(
            OUTPUT_NAMES, reference(wav), candidate(wav), strict=True
        ):
            diffs[name] = max(diffs[name], float(np.abs(ref - out).max()))
    return diffs


def _check_clips(paths, tests) -> tuple[list[str], list[np.ndarray]]:
    """Clips to compare on: the given files, else the first GSC and the first
    VoxCeleb1 test clips (two lengths), else seeded noise of 1 s and 3.3 s."""
    if not paths and tests is not None:
        paths = [tests["kws"][0]["wav"], tests["sv"][0]["wav"]]
    if paths:
        return list(paths), [load_audio(p).numpy()[None] for p in paths]
    logger.warning("No audio given: checking ONNX on random noise")
    rng = np.random.default_rng(0)
    lengths = (16000, 52800)
    return [f"noise_{n}" for n in lengths], [
        rng.standard_normal((1, n)).astype(np.float32) * 0.1 for n in lengths
    ]


def main(argv=None) -> dict:
    """Command line entry; returns the report written to export.json."""
    from kdsrl_lobes.evaluation.corpus_eval import evaluate_versions, load_test_sets
    from kdsrl_lobes.hub.inference import MultiTaskSpeechModel

    parser = argparse.ArgumentParser(description="Export a packaged model to ONNX")
    parser.add_argument("package_dir", help="folder written by kdsrl_lobes.hub.package")
    parser.add_argument("--format", choices=["onnx"], default="onnx")
    parser.add_argument("--int8", action="store_true", help="also an int8 graph")
    parser.add_argument("--int8_format", choices=INT8_FORMATS, default="qoperator")
    parser.add_argument(
        "--calibration", help="audio folder for static int8 (e.g. GSC's train clips)"
    )
    parser.add_argument(
        "--int8_cnn", action="store_true", help="static int8: quantise the CNN too"
    )
    parser.add_argument("--output_dir", help="default: <package_dir>/onnx")
    parser.add_argument("--opset", type=int, default=18)
    parser.add_argument("--check_audio", nargs="*", default=[], help="clips")
    parser.add_argument("--eval_corpus", help="root with GSC V1 and VoxCeleb1")
    parser.add_argument("--eval_max_kws", type=int, help="first N KWS test clips")
    parser.add_argument(
        "--eval_save_folder", help="prepared test CSVs (default: a temp folder)"
    )
    args = parser.parse_args(argv)
    out = args.output_dir or os.path.join(args.package_dir, "onnx")
    calibration = None
    if args.int8 and args.int8_format != "dynamic":
        if not args.calibration:
            parser.error(
                f"--int8_format {args.int8_format} calibrates on real clips: give "
                "--calibration DIR (or --int8_format dynamic)"
            )
        calibration = calibration_clips(args.calibration)
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as savedir:
        model = MultiTaskSpeechModel.from_hparams(
            source=args.package_dir, savedir=savedir, run_opts={"device": "cpu"}
        )
    network = model.network.eval()
    graphs = {"onnx_fp32": export_onnx(network, os.path.join(out, "model.onnx"))}
    if args.int8:
        int8_path = os.path.join(out, "model_int8.onnx")
        if calibration is None:
            graphs["onnx_int8"] = quantize_dynamic_int8(graphs["onnx_fp32"], int8_path)
        else:
            graphs["onnx_int8"] = quantize_static_int8(
                graphs["onnx_fp32"], int8_path, calibration, args.int8_format,
                quantize_cnn=args.int8_cnn,
            )  # fmt: skip
    tests = None
    if args.eval_corpus:
        scratch = tempfile.TemporaryDirectory(prefix="kdsrl_eval_")
        work = args.eval_save_folder or scratch.name
        tests = load_test_sets(args.eval_corpus, work)
    names, clips = _check_clips(args.check_audio, tests)
    versions = {"pytorch": torch_runner(network)}
    versions.update({k: OnnxMultiTaskModel(p) for k, p in graphs.items()})
    report = {
        "package": os.path.abspath(args.package_dir),
        "int8_format": args.int8_format if args.int8 else None,
        "int8_cnn": bool(args.int8 and args.int8_cnn),
        "files": {k: os.path.basename(p) for k, p in graphs.items()},
        "bytes": {k: os.path.getsize(p) for k, p in graphs.items()},
        "check_clips": names,
        "check_lengths": [int(c.shape[1]) for c in clips],
        "max_abs_diff": {
            k: max_differences(versions["pytorch"], versions[k], clips) for k in graphs
        },
    }
    fp32 = report["max_abs_diff"]["onnx_fp32"]
    if max(fp32.values()) > FP32_TOLERANCE:
        raise ValueError(
            f"ONNX fp32 differs from PyTorch by {fp32} (expected at most "
            f"{FP32_TOLERANCE}): the export is wrong"
        )
    if tests is not None:
        report["test_metrics"] = evaluate_versions(
            versions, tests, model.labels, max_kws=args.eval_max_kws
        )
        scratch.cleanup()
    with open(os.path.join(out, "export.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    for key, diffs in report["max_abs_diff"].items():
        shown = ", ".join(f"{n} {v:.2e}" for n, v in diffs.items())
        print(f"{key} vs PyTorch, max abs difference: {shown}")
    reference = report.get("test_metrics", {}).get("pytorch")
    for key, metrics in report.get("test_metrics", {}).items():
        print(
            f"{key}: KWS accuracy {metrics['kws_accuracy']:.2f} % "
            f"({metrics['kws_accuracy'] - reference['kws_accuracy']:+.2f}), "
            f"SV EER {metrics['sv_eer']:.2f} % "
            f"({metrics['sv_eer'] - reference['sv_eer']:+.2f}) vs PyTorch"
        )
    print(f"Wrote {', '.join(report['files'].values())} and export.json in {out}")
    return report


if __name__ == "__main__":
    main(sys.argv[1:])

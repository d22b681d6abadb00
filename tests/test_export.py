"""ONNX export of a packaged tiny model: onnxruntime against PyTorch on real
clips, int8 quantisation, and test-set metrics of every version."""

import json
import os

import numpy as np
import onnx
import pytest
import soundfile as sf
import torch

from kdsrl_lobes.hub import export, package
from kdsrl_lobes.hub.inference import MultiTaskSpeechModel


@pytest.fixture(scope="module")
def exported(trained_multitask, quick_corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    pkg = str(root / "package")
    package.main([trained_multitask, pkg])
    out = str(root / "onnx")
    calibration = os.path.join(quick_corpus, "speech_commands_v0.01")
    args = [pkg, "--format", "onnx", "--int8", "--calibration", calibration]
    args += ["--output_dir", out]
    report = export.main([*args, "--eval_corpus", quick_corpus])
    return {"package": pkg, "out": out, "report": report}


def test_onnx_matches_pytorch_on_real_clips(exported, capsys):
    report = exported["report"]
    with open(os.path.join(exported["out"], "export.json")) as f:
        assert json.load(f) == report
    # a 1 s GSC clip and a longer VoxCeleb1 utterance
    assert report["check_lengths"][0] == 16000 < report["check_lengths"][1]
    for output, diff in report["max_abs_diff"]["onnx_fp32"].items():
        assert diff < 1e-4, output
    assert sorted(os.listdir(exported["out"])) == [
        "export.json",
        "model.onnx",
        "model_int8.onnx",
    ]


def test_onnx_graph_has_dynamic_batch_and_time(exported, trained_multitask):
    path = os.path.join(exported["out"], "model.onnx")
    wav = onnx.load(path).graph.input[0]
    dims = wav.type.tensor_type.shape.dim
    assert wav.name == "wav" and len(dims) == 2  # [batch, time]
    assert all(d.dim_param and not d.dim_value for d in dims)
    model = MultiTaskSpeechModel.from_hparams(
        source=exported["package"], run_opts={"device": "cpu"}
    )
    with open(os.path.join(trained_multitask, "data", "voxceleb1", "test.csv")) as f:
        paths = [line.split(",")[2] for line in f.read().splitlines()[1:4]]
    wavs = [sf.read(p, dtype="float32")[0] for p in paths]
    longest = max(len(w) for w in wavs)
    batch = np.stack([np.pad(w, (0, longest - len(w))) for w in wavs])
    lens = np.array([len(w) / longest for w in wavs], dtype=np.float32)
    onnx_out = export.OnnxMultiTaskModel(path)(batch, lens)
    torch_out = model.network(torch.from_numpy(batch), torch.from_numpy(lens))
    for got, want in zip(onnx_out, torch_out, strict=True):
        np.testing.assert_allclose(got, want.detach().numpy(), atol=1e-4, rtol=0)


def test_int8_is_quantised_and_its_metrics_reported(exported, trained_multitask):
    graph = onnx.load(os.path.join(exported["out"], "model_int8.onnx")).graph
    ops = {node.op_type for node in graph.node}
    # static: the matrix products in int8, the CNN front end kept fp32
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    assert ops & {"QLinearMatMul", "MatMulInteger"}
    assert exported["report"]["int8_format"] == "qoperator"
    assert exported["report"]["int8_cnn"] is False
    metrics = exported["report"]["test_metrics"]
    assert sorted(metrics) == ["onnx_fp32", "onnx_int8", "pytorch"]
    with open(os.path.join(trained_multitask, "metrics.json")) as f:
        recipe = json.load(f)
    assert metrics["pytorch"]["kws_accuracy"] == pytest.approx(recipe["kws_accuracy"])
    for key in ("kws_accuracy", "sv_eer"):
        assert metrics["onnx_fp32"][key] == pytest.approx(metrics["pytorch"][key])
        assert 0.0 <= metrics["onnx_int8"][key] <= 100.0
        for version in metrics.values():  # every figure with its interval
            low, high = version[f"{key}_ci95"]
            assert low <= version[key] <= high
    assert exported["report"]["max_abs_diff"]["onnx_int8"]["kws_logits"] > 0.0


def test_export_of_a_missing_package_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no_package"):
        export.main([str(tmp_path / "no_package"), "--format", "onnx"])


def test_static_int8_needs_calibration_and_names_a_missing_folder(exported, tmp_path):
    out = str(tmp_path / "onnx")
    base = [exported["package"], "--format", "onnx", "--int8", "--output_dir", out]
    with pytest.raises(SystemExit):  # argparse: --calibration DIR is required
        export.main(base)
    missing = str(tmp_path / "no_clips")
    with pytest.raises(FileNotFoundError, match="no_clips"):
        export.main([*base, "--calibration", missing])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty"):
        export.calibration_clips(str(tmp_path / "empty"))
    assert not os.path.exists(out)  # nothing written before the check


@pytest.fixture(scope="module")
def thin_onnx(tmp_path_factory):
    """A tiny thin-front-end student with heads, exported to fp32 ONNX."""
    from kdsrl_lobes.hub.files import MultiTaskNetwork
    from kdsrl_lobes.models.configs import random_speech_model
    from kdsrl_lobes.models.encoder import SSLEncoder
    from kdsrl_lobes.models.heads import KWSHead, SVHead
    from kdsrl_lobes.models.student import build_student

    teacher = random_speech_model("hubert", "tiny", conv_dim=(16, 16, 16))
    student = build_student(teacher, front_end="thin")
    network = MultiTaskNetwork(SSLEncoder(student), KWSHead(16, 12), SVHead(16, 8))
    root = tmp_path_factory.mktemp("thin_onnx")
    path = export.export_onnx(network.eval(), str(root / "thin.onnx"))
    return network, path, root


@pytest.mark.parametrize(
    "quant_format, quantize_cnn",
    [("qoperator", True), ("qoperator", False), ("qdq", True)],
)
def test_thin_student_static_int8_runs_close_to_pytorch(
    thin_onnx, quant_format, quantize_cnn
):
    network, path, root = thin_onnx
    rng = np.random.default_rng(0)
    clips = [rng.standard_normal((1, 16000)).astype(np.float32) * 0.1 for _ in range(8)]
    out = export.quantize_static_int8(
        path, str(root / f"{quant_format}_{quantize_cnn}.onnx"), clips, quant_format,
        quantize_cnn=quantize_cnn,
    )  # fmt: skip
    graph = onnx.load(out).graph
    ops = {node.op_type for node in graph.node}
    assert "QuantizeLinear" in ops
    cnn_convs = [
        node
        for node in graph.node
        if "Conv" in node.op_type
        and any("feature_extractor." in name for name in node.input)
    ]
    assert len(cnn_convs) == 3  # the tiny CNN's three layers
    if quant_format == "qoperator":
        want = "QLinearConv" if quantize_cnn else "Conv"
        assert {node.op_type for node in cnn_convs} == {want}
    wav = rng.standard_normal((1, 24000)).astype(np.float32) * 0.1
    logits, embedding = export.OnnxMultiTaskModel(out)(wav)
    with torch.no_grad():
        ref_logits, ref_embedding = network(torch.from_numpy(wav))
    cosine = torch.nn.functional.cosine_similarity(
        torch.from_numpy(embedding), ref_embedding
    )
    assert float(cosine) > 0.95
    assert (
        np.abs(logits - ref_logits.numpy()).max()
        < 0.1 * np.abs(ref_logits.numpy()).max() + 0.05
    )


def test_dynamic_int8_keeps_the_convolutions_float(thin_onnx):
    _, path, root = thin_onnx
    out = export.quantize_dynamic_int8(path, str(root / "dynamic.onnx"))
    ops = {node.op_type for node in onnx.load(out).graph.node}
    assert "Conv" in ops and "MatMulInteger" in ops

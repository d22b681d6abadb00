"""benchmarks/cpu_inference.py on tiny configs: every row and field, speed-ups
relative to the teacher of the same run, MACs of thin below copy, and a clear
error for missing calibration clips (timings themselves are not tested)."""

import json
import os

import pytest

from .recipe_utils import load_script


def test_rows_fields_and_ratios(quick_corpus, tmp_path):
    bench = load_script("benchmarks", "cpu_inference")
    calibration = os.path.join(quick_corpus, "speech_commands_v0.01")
    out = str(tmp_path / "out")
    report = bench.main(
        ["--quick", "--sizes", "tiny", "--calibration", calibration,
         "--calibration_clips", "4", "--output_dir", out]
    )  # fmt: skip
    rows = report["results"]
    assert list(rows) == [
        "tiny_teacher", "tiny_student", "tiny_student_onnx", "tiny_student_int8",
        "tiny_student_thin", "tiny_student_thin_onnx", "tiny_student_thin_int8",
    ]  # fmt: skip
    for name, row in rows.items():
        for key in ("gmacs_per_s", "ms_1s", "speedup_1s", "params", "peak_rss_mb"):
            assert row[key] > 0, (name, key)
        assert row["speedup_1s"] == pytest.approx(
            rows["tiny_teacher"]["ms_1s"] / row["ms_1s"]
        )
    assert rows["tiny_teacher"]["speedup_1s"] == 1.0
    copy, thin = rows["tiny_student"], rows["tiny_student_thin"]
    assert thin["gmacs_front_end"] < copy["gmacs_front_end"]
    assert thin["gmacs_transformer"] == pytest.approx(copy["gmacs_transformer"])
    assert copy["gmacs_per_s"] < rows["tiny_teacher"]["gmacs_per_s"]
    assert thin["conv_dim"] == [2, 2, 4] and copy["conv_dim"] == [8, 8, 8]
    # an ONNX row counts the MACs of the network it exports
    assert rows["tiny_student_thin_int8"]["gmacs_per_s"] == thin["gmacs_per_s"]
    with open(os.path.join(out, "cpu_inference.json")) as f:
        assert json.load(f)["results"] == rows
    table = open(os.path.join(out, "cpu_inference.md")).read()
    assert table.count("\n") == 2 + len(rows)


def test_missing_calibration_folder_is_named(tmp_path):
    bench = load_script("benchmarks", "cpu_inference")
    missing = str(tmp_path / "no_clips")
    with pytest.raises(FileNotFoundError, match="no_clips"):
        bench.main(["--quick", "--sizes", "tiny", "--calibration", missing])

"""scripts/run_thin.py and the thin row of scripts/run_tables.py: the
distillations they stage, the variant chosen by held-out layer loss, the
fine-tunings and the reports (recipes replaced by a recording stand-in)."""

import json
import os

import pytest

from .recipe_utils import fake_stage_runner, load_script, option


def _log(command):
    """Two epochs; the cnn variant ends with the lower layer loss, although
    its front-end terms make its total loss the higher."""
    target = option(command, "front_end_target")
    init = option(command, "front_end_init")
    end = {"cnn": 0.30, "projection": 0.40, None: 0.20}[target]
    end -= 0.05 if init == "slice" else 0.0
    lines = []
    for layer_term in (0.9, end):
        parts = [f"valid l1_layer4: {layer_term}", f"valid cos_layer4: {layer_term}"]
        if target:
            parts += ["valid l1_front_end: 5.0", "valid cos_front_end: 0.5"]
        total = 2 * layer_term + (5.5 if target else 0.0)
        lines.append(
            f"epoch: 1 - train loss: 9 - valid loss: {total}, " + ", ".join(parts)
        )
    return "\n".join(lines) + "\n"


def _metrics(command):
    thin = "distill_thin" in option(command, "encoder_source")
    eer = 22.0 if thin else 18.0
    return {
        "kws_accuracy": 88.0, "kws_accuracy_ci95": [87.0, 89.0],
        "sv_eer": eer, "sv_eer_ci95": [eer - 1.0, eer + 1.0],
        "num_parameters": 2.0e6, "sv_min_dcf": 0.9,
        "sv_keyword_eer": eer + 10.0, "sv_keyword_eer_ci95": [eer + 8.0, eer + 12.0],
    }  # fmt: skip


def _with_fake_recipes(monkeypatch, script):
    """``script`` loaded with its recipes replaced; returns it and the list
    that records their commands."""
    module = load_script("scripts", script)
    commands = []
    fake = fake_stage_runner(commands, _metrics, distill_log=_log)
    monkeypatch.setattr(module.run_embedded.subprocess, "run", fake)
    return module, commands


def test_variants_choice_and_comparison(monkeypatch, tmp_path):
    run_thin, commands = _with_fake_recipes(monkeypatch, "run_thin")
    workdir = str(tmp_path / "w")
    variants = ["--variants", "cnn:random", "projection:slice"]
    run_thin.main(["--workdir", workdir, "--quick", "--jobs", "2", *variants])
    distills = [
        c for c in commands if c[1].endswith(os.path.join("distill", "train.py"))
    ]
    thin = {
        option(c, "front_end_target")
        for c in distills
        if "distill_thin" in option(c, "output_folder")
    }
    assert thin == {"cnn", "projection"}
    inits = {
        option(c, "front_end_init")
        for c in distills
        if "distill_thin" in option(c, "output_folder")
    }
    assert inits == {"random", "slice"}
    assert all(
        option(c, "student_front_end") == "thin"
        for c in distills
        if "distill_thin" in option(c, "output_folder")
    )
    finetunes = {option(c, "encoder_source") for c in commands if "multitask" in c[1]}
    assert finetunes == {
        os.path.join(workdir, "distill_hubert", "student"),
        os.path.join(workdir, "distill_thin", "hubert_thin_cnn_random", "student"),
    }
    with open(os.path.join(workdir, "thin", "thin.json")) as f:
        report = json.load(f)
    assert report["chosen"] == "thin_cnn_random"  # lowest layer loss, not total
    text = open(os.path.join(workdir, "thin", "thin.md")).read()
    assert "| thin_cnn_random - copy |" in text
    assert "+4.00 (outside the noise)" in text  # SV EER 22 vs 18, intervals apart
    assert "+0.00 (inside the noise)" in text  # KWS
    assert os.path.getsize(os.path.join(workdir, "thin", "distill_curves.png")) > 1000


def test_tables_gain_the_thin_row_with_intervals(monkeypatch, tmp_path):
    run_tables, commands = _with_fake_recipes(monkeypatch, "run_tables")
    workdir = str(tmp_path / "w")
    run_tables.main(["--workdir", workdir, "--quick"])
    thin_rows = [
        c for c in commands
        if "distill_thin" in (option(c, "encoder_source") or "")
    ]  # fmt: skip
    assert len(thin_rows) == 1 and option(thin_rows[0], "freeze_encoder") == "False"
    assert thin_rows[0][2].endswith("multitask.yaml")
    table3 = open(os.path.join(workdir, "tables", "table3.md")).read()
    assert "| DistilledHuBERT, thin CNN | 2.00 M | 88.00 [87.00, 89.00] |" in table3
    assert "22.00 [21.00, 23.00] | 0.900 | 32.00 [30.00, 34.00] |" in table3
    table2 = open(os.path.join(workdir, "tables", "table2.md")).read()
    assert "| SV |  | 18.00 [17.00, 19.00] | 28.00 [26.00, 30.00] |" in table2
    assert os.path.getsize(os.path.join(workdir, "tables", "tables.png")) > 1000


def test_finetune_names_only_known_variants(monkeypatch, tmp_path):
    run_thin, _ = _with_fake_recipes(monkeypatch, "run_thin")
    argv = ["--workdir", str(tmp_path), "--quick", "--variants", "cnn:random"]
    with pytest.raises(ValueError, match="thin_projection_slice"):
        run_thin.main([*argv, "--finetune", "projection:slice"])
    with pytest.raises(SystemExit):  # argparse names the bad TARGET:INIT
        run_thin.main([*argv, "--finetune", "cnn:pretrained"])

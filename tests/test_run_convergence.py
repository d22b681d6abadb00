"""scripts/run_convergence.py: the fine-tunings it runs (rows x epochs, the
variants), the gaps it reports with their noise verdicts, and its outputs (the
recipes themselves are tested in their own files; here the subprocess is
replaced by one that records the command and writes the metrics a recipe
would)."""

import json
import os

from .recipe_utils import fake_stage_runner, option
from .test_run_ekd import load


def test_rows_epochs_and_variants(monkeypatch, tmp_path):
    run_convergence = load("run_convergence")
    run_embedded = run_convergence.run_embedded
    commands = []

    def metrics(command):  # multi-task EER 10 points worse at 2 epochs, 2.5 at 8
        epochs = int(option(command, "number_of_epochs"))
        multi = command[2].endswith("multitask.yaml")
        eer = 20.0 + (20.0 / epochs if multi else 0.0)
        if option(command, "sv_lr_scale") == "2.0":
            eer -= 1.0
        found = {"sv_eer": eer, "sv_eer_ci95": [eer - 1.5, eer + 1.5]}
        if multi:
            found.update(kws_accuracy=80.0, kws_accuracy_ci95=[78.0, 82.0])
        return found

    fake_run = fake_stage_runner(commands, metrics)
    monkeypatch.setattr(run_embedded.subprocess, "run", fake_run)
    workdir = str(tmp_path / "w")
    argv = [
        "--workdir", workdir, "--quick", "--epochs", "2", "8", "--jobs", "2",
        "--variant", "lr2=--sv_lr_scale=2.0", "--variant_epochs", "8",
    ]  # fmt: skip
    run_convergence.main(argv)
    finetunes = [
        c for c in commands if c[1].endswith(os.path.join("multitask", "train.py"))
    ]
    runs = sorted(
        (
            os.path.basename(c[2]),
            option(c, "number_of_epochs"),
            option(c, "sv_lr_scale") or "-",
        )
        for c in finetunes
    )
    assert runs == [
        ("multitask.yaml", "2", "-"),
        ("multitask.yaml", "8", "-"),
        ("multitask.yaml", "8", "2.0"),
        ("sv.yaml", "2", "-"),
        ("sv.yaml", "8", "-"),
    ]
    # every run starts from the main job's student, tests on the official set
    assert {option(c, "encoder_source") for c in finetunes} == {
        os.path.join(workdir, "distill_hubert", "student")
    }
    assert all(option(c, "test_folder").endswith("speech_commands_test_set_v0.01")
               for c in finetunes)  # fmt: skip
    folder = os.path.join(workdir, "convergence")
    text = open(os.path.join(folder, "convergence.md")).read()
    assert "| 2 | +10.00 (outside the noise) |" in text
    assert "| 8 | +2.50 (inside the noise) |" in text
    assert "| lr2 | +0.00 (inside the noise) | -1.00 (inside the noise) |" in text
    saved = json.load(open(os.path.join(folder, "convergence.json")))
    assert saved["runs"]["sv"]["8"]["sv_eer"] == 20.0
    assert os.path.getsize(os.path.join(folder, "convergence.png")) > 1000
    # a second call reuses every run
    commands.clear()
    run_convergence.main(argv)
    assert commands == []
    # a corpus made before the SUPERB extras: the generator runs again (it
    # adds only those), every other stage is reused
    os.rmdir(os.path.join(workdir, "corpus", "IEMOCAP_full_release"))
    run_convergence.main(argv)
    assert len(commands) == 1 and "kdsrl_lobes.data.synth" in commands[0]


def test_two_pipelines_on_one_folder_keep_each_others_stages(tmp_path):
    run_embedded = load("run_convergence").run_embedded
    first = run_embedded.Pipeline(str(tmp_path))
    second = run_embedded.Pipeline(str(tmp_path))  # started before first's stage
    first.stage("a", ["true"], str(tmp_path))
    second.stage("b", ["true"], str(tmp_path))
    record = run_embedded.Pipeline(str(tmp_path)).record
    assert sorted(record) == ["a", "b"]


def test_a_stage_with_changed_options_does_not_resume_the_old_run(tmp_path):
    run_embedded = load("run_convergence").run_embedded
    pipe = run_embedded.Pipeline(str(tmp_path))
    out = tmp_path / "run"
    make = ["python", "-c", f"import os; os.makedirs({str(out)!r}, exist_ok=True)"]
    pipe.stage("s", [*make, f"--output_folder={out}", "--epochs=4"], str(out))
    (out / "checkpoint").write_text("epoch 4")
    pipe.stage("s", [*make, f"--output_folder={out}", "--epochs=3"], str(out))
    assert (tmp_path / "run.superseded-1" / "checkpoint").read_text() == "epoch 4"
    assert not (out / "checkpoint").exists()
    # the same options again: reused, nothing set aside
    pipe.stage("s", [*make, f"--output_folder={out}", "--epochs=3"], str(out))
    assert not (tmp_path / "run.superseded-2").exists()

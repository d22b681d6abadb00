"""Multi-task / single-task / frozen fine-tuning on the quick corpus with a tiny
encoder: metrics.json, plots, resume, DDP and bad input."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from kdsrl_lobes.data import GSC_CLASSES, read_trials
from kdsrl_lobes.data.gsc import OFFICIAL_TEST_FOLDER

from .recipe_utils import (
    complete_checkpoints,
    loaded_checkpoints,
    recipe_path,
    run_recipe,
)

SCRIPT = recipe_path("GSC_VoxCeleb1", "multitask", "train.py")


def _hparams(name):
    return recipe_path("GSC_VoxCeleb1", "multitask", "hparams", f"{name}.yaml")


def _args(yaml, corpus, encoder, out, *extra):
    args = [
        _hparams(yaml),
        f"--encoder_source={encoder}",
        f"--output_folder={out}",
        "--number_of_epochs=1",
        "--epoch_rounds=6",
        "--kws_batch_size=8",
        "--sv_batch_size=4",
        "--sv_crop_seconds=1.5",
        "--num_workers=0",
        "--noprogressbar",
        *extra,
    ]
    if yaml != "sv":
        args.append(f"--gsc_folder={os.path.join(corpus, 'speech_commands_v0.01')}")
    if yaml != "kws":
        args.append(f"--voxceleb_folder={os.path.join(corpus, 'voxceleb1')}")
    args.append(f"--test_folder={os.path.join(corpus, OFFICIAL_TEST_FOLDER)}")
    other = {"kws": "--sv_", "sv": "--kws_"}.get(yaml)
    args = [a for a in args if not (other and a.startswith(other))]
    keys = [a.split("=")[0] for a in args]
    return [a for i, a in enumerate(args) if a.split("=")[0] not in keys[i + 1 :]]


def _metrics(out):
    with open(os.path.join(out, "metrics.json")) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def multitask_run(quick_corpus, tiny_teacher_dir, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("multitask"))
    run_recipe(SCRIPT, _args("multitask", quick_corpus, tiny_teacher_dir(), out))
    return out


def test_multitask_writes_metrics_and_plots(multitask_run, tiny_teacher_dir):
    m = _metrics(multitask_run)
    assert 0.0 <= m["kws_accuracy"] <= 100.0 and m["kws_num_test"] > 0
    assert 0.0 <= m["sv_eer"] <= 100.0 and 0.0 <= m["sv_min_dcf"] <= 1.0 + 1e-6
    assert m["sv_num_trials"] == 24
    # the official balanced test set is the KWS test split: 12 classes alike
    assert set(m["kws_num_test_per_class"]) == set(GSC_CLASSES)
    assert len(set(m["kws_num_test_per_class"].values())) == 1
    assert m["kws_num_test"] == sum(m["kws_num_test_per_class"].values())
    # every metric with a 95 % interval around it
    for key in ("kws_accuracy", "kws_balanced_accuracy", "sv_eer", "sv_keyword_eer"):
        low, high = m[f"{key}_ci95"]
        assert low <= m[key] <= high, key
    assert set(m["kws_recall"]) == set(GSC_CLASSES)
    # keyword SV: same-keyword trials of the test set, half of them targets
    trials = read_trials(os.path.join(multitask_run, "keyword_trials.txt"))
    assert len(trials) == m["sv_keyword_num_trials"] > 0
    assert 2 * sum(label for label, _, _ in trials) == len(trials)
    assert all(a.split("/")[0] == b.split("/")[0] for _, a, b in trials)
    assert m["tasks"] == ["kws", "sv"]
    assert m["encoder_source"] == tiny_teacher_dir()
    # all but the unused SpecAugment embedding (hidden size 16) train
    assert m["num_trainable_parameters"] == m["num_parameters"] - 16
    assert m["num_parameters"] > m["num_encoder_parameters"] > 0
    for png in ("kws_confusion.png", "sv_det.png", "training_curves.png"):
        assert os.path.getsize(os.path.join(multitask_run, png)) > 1000
    with open(os.path.join(multitask_run, "train_log.txt")) as f:
        line = f.read()
    assert "valid kws_acc" in line and "valid sv_acc" in line
    with open(os.path.join(multitask_run, "label_encoder.txt")) as f:
        assert "'_silence_'" in f.read()


def test_test_only_reevaluates_a_trained_folder(
    multitask_run, quick_corpus, tiny_teacher_dir
):
    before = _metrics(multitask_run)
    train_log = os.path.join(multitask_run, "train_log.txt")
    with open(train_log) as f:
        log_before = f.read()
    save = os.path.join(multitask_run, "save")
    ckpts_before = sorted(os.listdir(save))
    os.remove(os.path.join(multitask_run, "metrics.json"))
    # without --test_only, a second epoch would be trained, logged and saved
    args = _args(
        "multitask",
        quick_corpus,
        tiny_teacher_dir(),
        multitask_run,
        "--number_of_epochs=2",
    )
    run_recipe(SCRIPT, [*args, "--test_only"])
    with open(train_log) as f:
        assert f.read() == log_before
    assert sorted(os.listdir(save)) == ckpts_before
    after = _metrics(multitask_run)  # rewritten
    assert after["kws_accuracy"] == pytest.approx(before["kws_accuracy"])
    assert after["sv_eer"] == pytest.approx(before["sv_eer"])


@pytest.mark.parametrize("task", ["kws", "sv"])
def test_single_task_runs(task, quick_corpus, tiny_teacher_dir, tmp_path):
    # the flag that the speaker-count error message tells users to pass
    extra = ["--n_speakers=auto"] if task == "sv" else []
    run_recipe(SCRIPT, _args(task, quick_corpus, tiny_teacher_dir(), tmp_path, *extra))
    m = _metrics(tmp_path)
    assert m["tasks"] == [task]
    if task == "kws":
        assert "sv_eer" not in m and 0.0 <= m["kws_accuracy"] <= 100.0
        assert not os.path.exists(tmp_path / "sv_det.png")
    else:
        assert "kws_accuracy" not in m and 0.0 <= m["sv_eer"] <= 100.0
        assert not os.path.exists(tmp_path / "kws_confusion.png")
        # keyword SV from the official test folder alone (no gsc_folder)
        assert 0.0 <= m["sv_keyword_eer"] <= 100.0


def test_keyword_sv_skipped_with_a_one_speaker_test_split(
    quick_corpus, tiny_teacher_dir, tmp_path
):
    # the quick corpus's testing list holds one speaker: no keyword trials
    args = _args(
        "multitask", quick_corpus, tiny_teacher_dir(), tmp_path, "--epoch_rounds=1"
    )
    args = [a for a in args if not a.startswith("--test_folder")]
    result = run_recipe(SCRIPT, args)
    m = _metrics(tmp_path)
    assert "sv_keyword_eer" not in m and "sv_eer" in m
    assert "no keyword SV" in result.stdout + result.stderr


def test_sv_extra_gsc_adds_the_gsc_speakers(quick_corpus, tiny_teacher_dir, tmp_path):
    args = _args(
        "multitask",
        quick_corpus,
        tiny_teacher_dir(),
        tmp_path,
        "--sv_extra_gsc=True",
        "--epoch_rounds=1",
    )
    run_recipe(SCRIPT, args)
    with open(tmp_path / "speaker_encoder.txt") as f:
        speakers = [line for line in f if line.startswith("'")]
    gsc = [line for line in speakers if line.startswith("'gsc-")]
    vox = [line for line in speakers if line.startswith("'id")]
    assert len(gsc) > 0 and len(vox) == 4  # quick corpus: 4 VoxCeleb dev speakers
    assert "sv_eer" in _metrics(tmp_path)


def test_frozen_encoder_trains_only_the_heads(quick_corpus, tiny_teacher_dir, tmp_path):
    run_recipe(
        SCRIPT,
        _args(
            "multitask",
            quick_corpus,
            tiny_teacher_dir(),
            tmp_path,
            "--freeze_encoder=True",
        ),
    )
    m = _metrics(tmp_path)
    assert m["freeze_encoder"] is True
    assert (
        m["num_trainable_parameters"]
        == m["num_parameters"] - m["num_encoder_parameters"]
    )
    import transformers

    initial = transformers.AutoModel.from_pretrained(tiny_teacher_dir()).state_dict()
    saved = [d for d in os.listdir(tmp_path / "save") if d.startswith("CKPT")]
    state = torch.load(tmp_path / "save" / saved[0] / "encoder.ckpt", weights_only=True)
    assert all(torch.equal(state[f"model.{k}"], v) for k, v in initial.items())


def test_head_size_from_another_config_is_refused(
    multitask_run, quick_corpus, tiny_teacher_dir
):
    args = _args(
        "multitask",
        quick_corpus,
        tiny_teacher_dir(),
        multitask_run,
        "--sv_embedding_size=32",
    )
    result = run_recipe(SCRIPT, args, check=False)
    assert result.returncode != 0
    assert "sv_embedding_size: checkpoint 256, now 32" in result.stdout + result.stderr


def test_bad_inputs_fail_before_training(quick_corpus, tiny_teacher_dir, tmp_path):
    # an encoder directory that is not a speech model
    not_model = tmp_path / "not_a_model"
    not_model.mkdir()
    result = run_recipe(
        SCRIPT, _args("kws", quick_corpus, str(not_model), tmp_path / "a"), check=False
    )
    assert result.returncode != 0
    assert "has no config.json" in result.stdout + result.stderr
    # a speaker count that does not match the prepared corpus
    result = run_recipe(
        SCRIPT,
        _args(
            "sv", quick_corpus, tiny_teacher_dir(), tmp_path / "b", "--n_speakers=1211"
        ),
        check=False,
    )
    assert result.returncode != 0
    assert (
        "n_speakers is 1211 but the prepared VoxCeleb1" in result.stdout + result.stderr
    )
    # a KWS label outside the 12 classes in a prepared CSV
    out = tmp_path / "c"
    run_recipe(
        SCRIPT, _args("kws", quick_corpus, tiny_teacher_dir(), out, "--epoch_rounds=1")
    )
    csv = out / "data" / "gsc" / "train.csv"
    lines = csv.read_text().splitlines()
    lines[1] = lines[1].rsplit(",", 1)[0] + ",marvin"
    csv.write_text("\n".join(lines) + "\n")
    result = run_recipe(
        SCRIPT, _args("kws", quick_corpus, tiny_teacher_dir(), out), check=False
    )
    assert result.returncode != 0
    assert (
        "labels outside the 12 GSC V1 classes: ['marvin']"
        in result.stdout + result.stderr
    )


def test_killed_run_resumes(quick_corpus, tiny_teacher_dir, tmp_path):
    args = _args(
        "multitask",
        quick_corpus,
        tiny_teacher_dir(),
        tmp_path,
        "--ckpt_interval_minutes=0",
        "--ckpt_interval_steps=2",
        "--number_of_epochs=2",
    )
    proc = subprocess.Popen(
        [sys.executable, SCRIPT, *args],
        cwd=os.path.dirname(SCRIPT),
        env=dict(os.environ, OMP_NUM_THREADS="1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    save = tmp_path / "save"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if complete_checkpoints(save):
            break
        time.sleep(0.2)
    assert proc.poll() is None, "run ended before a checkpoint"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "metrics.json").exists(), "killed after the run ended"
    killed = complete_checkpoints(save)
    log_at_kill = len((tmp_path / "log.txt").read_text())
    run_recipe(SCRIPT, args)
    # the resumed run starts from a checkpoint of the killed run (every run
    # also loads its best checkpoint before testing, so the first load counts)
    loaded = loaded_checkpoints((tmp_path / "log.txt").read_text()[log_at_kill:])
    assert loaded and loaded[0] in killed
    epochs = [line.split(",")[0] for line in (tmp_path / "train_log.txt").open()]
    assert epochs == ["epoch: 1", "epoch: 2"]
    assert _metrics(tmp_path)["tasks"] == ["kws", "sv"]


def test_ddp_with_two_processes(quick_corpus, tiny_teacher_dir, tmp_path):
    run_recipe(
        SCRIPT,
        _args(
            "multitask",
            quick_corpus,
            tiny_teacher_dir(),
            tmp_path,
            "--distributed_backend=gloo",
        ),
        nproc=2,
    )
    assert 0.0 <= _metrics(tmp_path)["sv_eer"] <= 100.0
    with open(tmp_path / "train_log.txt") as f:
        epochs = [line.split(",")[0] for line in f]
    assert epochs == ["epoch: 1"]  # logged by the main process only


def test_debug_runs_two_short_epochs(quick_corpus, tiny_teacher_dir, tmp_path):
    out = str(tmp_path)
    args = _args(
        "multitask", quick_corpus, tiny_teacher_dir(), out, "--number_of_epochs=3"
    )
    run_recipe(SCRIPT, [*args, "--debug"])  # SpeechBrain's debug: 2 epochs at most
    log = (tmp_path / "train_log.txt").read_text().splitlines()
    assert [line.split(",")[0] for line in log] == ["epoch: 1", "epoch: 2"]
    assert 0.0 <= _metrics(out)["kws_accuracy"] <= 100.0


def test_per_task_lr_scale(quick_corpus, tiny_teacher_dir, tmp_path):
    import transformers

    # every update of a KWS-only run at lr x 0: the encoder stays as loaded
    args = _args(
        "kws", quick_corpus, tiny_teacher_dir(), tmp_path, "--kws_lr_scale=0.0"
    )
    run_recipe(SCRIPT, args)
    initial = transformers.AutoModel.from_pretrained(tiny_teacher_dir()).state_dict()
    saved = [d for d in os.listdir(tmp_path / "save") if d.startswith("CKPT")]
    state = torch.load(tmp_path / "save" / saved[0] / "encoder.ckpt", weights_only=True)
    assert all(torch.equal(state[f"model.{k}"], v) for k, v in initial.items())
    # scales need one task per update
    result = run_recipe(
        SCRIPT,
        _args(
            "multitask",
            quick_corpus,
            tiny_teacher_dir(),
            tmp_path / "sum",
            "--schedule=sum",
            "--sv_lr_scale=2.0",
        ),
        check=False,
    )
    assert result.returncode != 0
    assert "need schedule: alternate" in result.stdout + result.stderr

"""Smoke tests of recipes/LibriSpeech/pretrain/train.py on a tiny generated corpus
with a tiny model: outputs, resume, and clear errors on bad input."""

import importlib.util
import os
import runpy
import sys

import numpy as np
import pytest
import soundfile as sf
import torch
import transformers

from kdsrl_lobes import load_teacher
from kdsrl_lobes.pretrain import LossHistory

RECIPE = os.path.join(
    os.path.dirname(__file__), "..", "recipes", "LibriSpeech", "pretrain"
)
TINY = dict(
    teacher_size="tiny",
    num_layers=2,
    mask_length=3,
    crop_seconds=0.5,
    batch_size=2,
    warmup_steps=1,
    number_of_epochs=1,
)
TINY_OBJECTIVE = {
    "hubert": dict(num_clusters=8, final_dim=8),
    "wavlm": dict(num_clusters=8, final_dim=8, mix_prob=1.0),
    "robust_hubert": dict(num_clusters=8, final_dim=8),
    "wav2vec2": dict(
        num_negatives=10,
        codevector_dim=16,  # the default's 16 groups, 1 dimension each
        proj_codevector_dim=8,
        num_codevectors_per_group=4,
    ),
}


def write_librispeech(root, num_speakers=2, utterances=3, seconds=1.2, seed=0):
    """A LibriSpeech-layout folder of chirps in noise, with transcripts."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    for spk in range(100, 100 + num_speakers):
        folder = os.path.join(root, "train-clean-100", str(spk), "7")
        os.makedirs(folder)
        lines = []
        for utt in range(utterances):
            f0, f1 = rng.uniform(100, 3000, size=2)
            wav = 0.5 * np.sin(2 * np.pi * (f0 + (f1 - f0) * t / seconds / 2) * t)
            wav += 0.05 * rng.standard_normal(t.size)
            name = f"{spk}-7-{utt:04d}"
            sf.write(os.path.join(folder, name + ".flac"), wav, 16000)
            lines.append(f"{name} HELLO WORLD\n")
        with open(os.path.join(folder, f"{spk}-7.trans.txt"), "w") as f:
            f.writelines(lines)
    return root


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_librispeech(str(tmp_path_factory.mktemp("corpus") / "LibriSpeech"))


def run_recipe(objective, data_folder, output_folder, *flags, **overrides):
    options = {**TINY, **TINY_OBJECTIVE[objective], **overrides}
    argv = [
        f"hparams/{objective}.yaml",
        f"--data_folder={data_folder}",
        f"--output_folder={output_folder}",
        *(f"--{key}={value}" for key, value in options.items()),
        *flags,
    ]
    old_argv, old_cwd = sys.argv, os.getcwd()
    os.chdir(RECIPE)
    sys.argv = ["train.py", *argv]
    try:
        runpy.run_path("train.py", run_name="__main__")
    finally:
        sys.argv = old_argv
        os.chdir(old_cwd)


def _benchmark(name):
    path = os.path.join(RECIPE, "..", "..", "..", "benchmarks", f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _log_lines(output):
    with open(os.path.join(output, "train_log.txt")) as f:
        return f.read().splitlines()


MODEL_TYPE = {"robust_hubert": "hubert"}  # the other YAMLs are named after it
CLUSTER_OBJECTIVES = ("hubert", "wavlm", "robust_hubert")


@pytest.mark.parametrize("objective", [*CLUSTER_OBJECTIVES, "wav2vec2"])
def test_recipe_writes_a_loadable_teacher_and_resumes(objective, corpus, tmp_path):
    out = str(tmp_path / objective)
    run_recipe(objective, corpus, out)
    for name in ("train_log.txt", "loss.png", "teacher/model.safetensors"):
        assert os.path.getsize(os.path.join(out, name)) > 0
    lines = _log_lines(out)
    assert len(lines) == 1 and lines[0].startswith("epoch: 1")
    loss = float(lines[0].split("train loss: ")[1].split(",")[0])
    assert np.isfinite(loss)
    model = transformers.AutoModel.from_pretrained(os.path.join(out, "teacher"))
    assert model.config.model_type == MODEL_TYPE.get(objective, objective)
    # wav2vec2.yaml's CNN biases reach the teacher (and so its students)
    assert model.config.conv_bias == (objective == "wav2vec2")
    teacher = load_teacher(os.path.join(out, "teacher"), layers=[1, 2])
    assert teacher(torch.randn(1, 8000)).shape[:2] == (1, 2)

    codebook = os.path.join(out, "save", "kmeans_codebook.pt")
    stamp = os.path.getmtime(codebook) if objective in CLUSTER_OBJECTIVES else None
    # resume: the first epoch is not redone, the codebook is not recomputed
    run_recipe(objective, corpus, out, number_of_epochs=2)
    lines = _log_lines(out)
    assert [line.split(",")[0] for line in lines] == ["epoch: 1", "epoch: 2"]
    steps = [int(line.split("steps: ")[1].split(" ")[0]) for line in lines]
    assert steps == [3, 6]  # 6 utterances, batches of 2, optimiser steps go on
    if objective in CLUSTER_OBJECTIVES:
        assert os.path.getmtime(codebook) == stamp
    else:  # the codebook benchmark reads the run's latest checkpoint
        clips = ["--split", "train-clean-100", "--utterances", "2", "--seconds", "1.0"]
        stats = _benchmark("wav2vec2_codes").main(["--run", out, *clips])
        assert 0.0 <= stats["adjacent_agreement"] <= 1.0
        assert len(stats["codes_used"]) == 16  # codebook groups, as in wav2vec2.yaml
        teacher = ["--model", os.path.join(out, "teacher"), "--data_folder", corpus]
        trained = _benchmark("wav2vec2_codes").main([*teacher, *clips])
        assert trained["feature_similarity"] == pytest.approx(
            stats["feature_similarity"], abs=1e-5
        )
        random = _benchmark("wav2vec2_codes").main([*teacher, *clips, "--random_init"])
        assert random["feature_similarity"] != trained["feature_similarity"]
        with pytest.raises(ValueError, match="has 6 utterances of 1.0 s or more"):
            _benchmark("wav2vec2_codes").main(
                ["--run", out, *clips[:-4], "--utterances", "7", *clips[-2:]]
            )


@pytest.mark.parametrize("objective", [*CLUSTER_OBJECTIVES, "wav2vec2"])
def test_debug_runs_two_short_epochs(objective, corpus, tmp_path):
    out = str(tmp_path / objective)
    run_recipe(objective, corpus, out, "--debug", batch_size=1, number_of_epochs=3)
    lines = _log_lines(out)
    steps = [int(line.split("steps: ")[1].split(" ")[0]) for line in lines]
    assert steps == [2, 4]  # SpeechBrain's debug: 2 epochs of 2 batches (of 6)
    assert os.path.getsize(os.path.join(out, "teacher", "model.safetensors")) > 0


def test_more_clusters_than_frames_is_a_clear_error(corpus, tmp_path):
    with pytest.raises(ValueError, match="50000 clusters needs at least 50000"):
        run_recipe("hubert", corpus, str(tmp_path), num_clusters=50000)


def test_empty_corpus_is_a_clear_error(tmp_path):
    os.makedirs(tmp_path / "LibriSpeech" / "train-clean-100")
    with pytest.raises(ValueError, match="has no rows"):
        run_recipe("wav2vec2", str(tmp_path / "LibriSpeech"), str(tmp_path / "out"))


def test_mask_that_masks_nothing_is_a_clear_error(corpus, tmp_path):
    with pytest.raises(ValueError, match="masks nothing"):
        run_recipe("hubert", corpus, str(tmp_path), mask_prob=0.0)


def test_a_run_killed_mid_epoch_resumes_from_its_last_step(
    corpus, tmp_path, monkeypatch
):
    out = str(tmp_path / "killed")
    every_step = dict(ckpt_interval_minutes=0, ckpt_interval_steps=1)
    append = LossHistory.append

    def killed_at_third_step(self, step, loss):
        if step == 3:
            raise KeyboardInterrupt("killed")
        append(self, step, loss)

    monkeypatch.setattr(LossHistory, "append", killed_at_third_step)
    with pytest.raises(KeyboardInterrupt):
        run_recipe("hubert", corpus, out, **every_step)
    assert not os.path.exists(os.path.join(out, "train_log.txt"))
    monkeypatch.setattr(LossHistory, "append", append)
    run_recipe("hubert", corpus, out, **every_step)
    # the resumed run did only the epoch's last batch: 3 steps in all, not 2 + 3
    assert _log_lines(out)[0].startswith("epoch: 1, lr: 0.00e+00, steps: 3")


def test_wav2vec2_sweep_logs_code_statistics_and_writes_a_loadable_encoder(
    corpus, tmp_path
):
    out = str(tmp_path / "sweep")
    tiny = {**TINY, **TINY_OBJECTIVE["wav2vec2"], "warmup_steps": 1}
    lines = _benchmark("wav2vec2_sweep").main(
        [
            *("--data_folder", corpus, "--steps", "4", "--log_every", "2"),
            *("--split", "train-clean-100", "--utterances", "2", "--seconds", "1.0"),
            *("--output", out),
            *(f"--{key}={value}" for key, value in tiny.items()),
        ]
    )
    assert [line["step"] for line in lines] == [2, 4]
    for line in lines:
        assert np.isfinite(line["contrastive_loss"]) and line["contrastive_loss"] > 0
        assert 0.0 <= line["adjacent_agreement"] <= 1.0
        assert len(line["codes_used"]) == 16  # the recipe's codebook groups
    model = transformers.AutoModel.from_pretrained(out)  # the recipe's config
    assert model.config.model_type == "wav2vec2" and model.config.conv_bias
    assert model.config.num_hidden_layers == 2 and model.config.num_negatives == 10
    with pytest.raises(ValueError, match="Expected --KEY=VALUE"):
        _benchmark("wav2vec2_sweep").main(["--data_folder", corpus, "--mask_length"])

"""Packaging a tiny trained multi-task model, loading it back offline with
MultiTaskSpeechModel, and its inference interface (rates, channels, short and
long inputs, bad input)."""

import json
import os
import shutil

import numpy as np
import pytest
import safetensors.torch
import soundfile as sf
import torch
import torchaudio
from hyperpyyaml import load_hyperpyyaml
from speechbrain.utils.checkpoints import Checkpointer

from kdsrl_lobes.evaluation.corpus_eval import evaluate_versions, load_test_sets
from kdsrl_lobes.hub import package
from kdsrl_lobes.hub.export import torch_runner
from kdsrl_lobes.hub.files import (
    REQUIRED_FILES,
    MultiTaskNetwork,
    receptive_field,
)
from kdsrl_lobes.hub.inference import NON_KEYWORDS, MultiTaskSpeechModel


@pytest.fixture(scope="module")
def package_dir(trained_multitask, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("pkg") / "package")
    package.main([trained_multitask, out])
    return out


@pytest.fixture(scope="module")
def model(package_dir, tmp_path_factory):
    savedir = str(tmp_path_factory.mktemp("savedir"))
    return MultiTaskSpeechModel.from_hparams(
        source=package_dir, savedir=savedir, run_opts={"device": "cpu"}
    )


@pytest.fixture(scope="module")
def recipe_model(trained_multitask):
    """The recipe's own modules (its YAML) at its best checkpoint."""
    with open(os.path.join(trained_multitask, "hyperparams.yaml")) as f:
        hparams = load_hyperpyyaml(f)
    hparams["checkpointer"].recover_if_possible(min_key="error")
    modules = hparams["modules"]
    for module in modules.values():
        module.eval()
    return modules


@pytest.fixture(scope="module")
def clips(quick_corpus, tmp_path_factory):
    """Test CSV rows of the quick corpus."""
    return load_test_sets(quick_corpus, str(tmp_path_factory.mktemp("eval")))


def _batch(paths):
    wavs = [torch.from_numpy(sf.read(p, dtype="float32")[0]) for p in paths]
    longest = max(len(w) for w in wavs)
    batch = torch.stack(
        [torch.nn.functional.pad(w, (0, longest - len(w))) for w in wavs]
    )
    return batch, torch.tensor([len(w) / longest for w in wavs])


def test_package_layout_card_and_best_checkpoint(package_dir, trained_multitask):
    files = set(os.listdir(package_dir))
    assert (
        set(REQUIRED_FILES)
        | {
            "README.md",
            "metrics.json",
            "config.json",
            "preprocessor_config.json",
        }
        <= files
    )
    metrics = json.load(open(os.path.join(trained_multitask, "metrics.json")))
    card = open(os.path.join(package_dir, "README.md")).read()
    assert f"| KWS accuracy (%) | {metrics['kws_accuracy']:.2f} |" in card
    assert f"| SV EER (%) | {metrics['sv_eer']:.2f} |" in card
    for section in ("## Intended use", "## Limitations", "## Citation", "@misc"):
        assert section in card
    hparams = open(os.path.join(package_dir, "hyperparams.yaml")).read()
    assert "!new:speechbrain.utils.parameter_transfer.Pretrainer" in hparams
    assert f"sv_threshold: {metrics['sv_threshold']!r}" in hparams
    # the packaged encoder is the checkpoint with the lowest valid error
    checkpoints = Checkpointer(os.path.join(trained_multitask, "save"))
    metas = checkpoints.list_checkpoints()
    assert metas  # the recipe keeps the best checkpoint (min error)
    best = min(metas, key=lambda c: c.meta["error"])
    state = torch.load(best.path / "encoder.ckpt", weights_only=True)
    packed = safetensors.torch.load_file(
        os.path.join(package_dir, "encoder.safetensors")
    )
    assert packed.keys() == state.keys()
    assert all(torch.equal(packed[k], state[k]) for k in state)


def test_packaged_model_gives_the_recipe_outputs(model, recipe_model, clips):
    paths = [clips["kws"][0]["wav"], clips["kws"][5]["wav"], clips["sv"][0]["wav"]]
    wavs, lens = _batch(paths)
    assert lens.min() < 0.5  # padded utterances in the batch
    with torch.no_grad():
        feats = recipe_model["encoder"](wavs, lens)
        kws = recipe_model["kws_head"](feats, lens)
        emb = recipe_model["sv_head"](feats, lens)
    logits, embeddings = model(wavs, lens)
    torch.testing.assert_close(logits, kws, rtol=0, atol=1e-6)
    torch.testing.assert_close(embeddings, emb, rtol=0, atol=1e-6)
    torch.testing.assert_close(model.encode_batch(wavs, lens), emb, rtol=0, atol=1e-6)
    keep = int(round(float(lens[:2].max()) * wavs.shape[1]))  # the two KWS clips
    probs, score, index, labels = model.classify_batch(
        wavs[:2, :keep], lens[:2] / lens[:2].max()
    )
    assert torch.equal(index, kws[:2].argmax(dim=-1))
    torch.testing.assert_close(score, probs.max(dim=-1).values)
    assert labels == [model.labels[i] for i in index.tolist()]


def test_test_metrics_of_the_package_equal_the_recipe(
    model, recipe_model, clips, trained_multitask
):
    metrics = json.load(open(os.path.join(trained_multitask, "metrics.json")))
    recipe = MultiTaskNetwork(
        recipe_model["encoder"], recipe_model["kws_head"], recipe_model["sv_head"]
    )
    found = evaluate_versions(
        {"package": torch_runner(model.network), "recipe": torch_runner(recipe)},
        clips,
        model.labels,
    )
    # GSC clips are all 1 s: no padding, the recipe's batched test is reproduced
    assert found["package"]["kws_num_test"] == metrics["kws_num_test"]
    assert found["package"]["kws_accuracy"] == pytest.approx(metrics["kws_accuracy"])
    # whole utterances one at a time (the recipe pads them into batches of 8,
    # which moves a group-norm encoder's outputs): the recipe modules scored
    # the same way give the same EER
    assert found["package"] == found["recipe"]
    assert found["package"]["sv_num_trials"] == metrics["sv_num_trials"]


def test_verification_uses_the_stored_threshold(model, clips, trained_multitask):
    metrics = json.load(open(os.path.join(trained_multitask, "metrics.json")))
    assert model.hparams.sv_threshold == pytest.approx(metrics["sv_threshold"])
    a, b = clips["sv"][0]["wav"], clips["sv"][-1]["wav"]
    score, same = model.verify_files(a, a)
    assert score.shape == (1,) and score.item() == pytest.approx(1.0, abs=1e-5)
    assert same.item()
    score, same = model.verify_files(a, b)
    assert same.item() == (score.item() >= metrics["sv_threshold"])
    _, forced = model.verify_files(a, b, threshold=score.item() + 1e-3)
    assert not forced.item()


@pytest.mark.parametrize("rate", [8000, 22050, 44100])
def test_files_at_other_rates_are_resampled(model, clips, tmp_path, rate):
    wav16 = torch.from_numpy(sf.read(clips["kws"][3]["wav"], dtype="float32")[0])
    other = torchaudio.functional.resample(wav16, 16000, rate)
    path = str(tmp_path / f"clip_{rate}.wav")
    sf.write(path, other.numpy(), rate, subtype="FLOAT")
    probs, _, _, _ = model.classify_file(path)
    expected = torchaudio.functional.resample(other, rate, 16000)
    want, _, _, _ = model.classify_batch(expected[None])
    torch.testing.assert_close(probs, want, rtol=0, atol=1e-6)
    same, _, _, _ = model.classify_batch(other[None], sample_rate=rate)
    torch.testing.assert_close(same, want, rtol=0, atol=1e-6)
    if rate > 16000:  # up- then down-sampling keeps the 16 kHz content
        emb = model.encode_batch(wav16[None])
        emb_file = model.encode_batch(model.load_audio(path)[None])
        assert torch.nn.functional.cosine_similarity(emb, emb_file).item() > 0.99


def test_stereo_files_are_down_mixed(model, clips, tmp_path):
    wav = sf.read(clips["kws"][4]["wav"], dtype="float32")[0]
    left, right = wav, np.roll(wav, 800) * 0.5
    path = str(tmp_path / "stereo.wav")
    sf.write(path, np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    probs, _, _, _ = model.classify_file(path)
    mono = torch.from_numpy((left + right) / 2)
    torch.testing.assert_close(probs, model.classify_batch(mono[None])[0])
    stacked = torch.from_numpy(np.stack([left, right], axis=1))[None]  # B x T x C
    torch.testing.assert_close(probs, model.classify_batch(stacked)[0])


def test_short_clips_are_padded_to_the_receptive_field(model):
    field = receptive_field(model.mods.encoder)
    assert field == 325  # tiny CNN: kernels 10, 8, 8 and strides 5, 8, 8
    short = torch.randn(1, 100, generator=torch.Generator().manual_seed(1))
    probs, _, _, labels = model.classify_batch(short)
    padded = torch.nn.functional.pad(short, (0, field - 100))
    torch.testing.assert_close(probs, model.classify_batch(padded)[0])
    assert probs.shape == (1, 12) and len(labels) == 1
    # in a batch with a long clip, the short one's length grows to the field
    batch = torch.randn(2, 16000)
    wavs, lens = model.prepare_batch(batch, torch.tensor([100 / 16000, 1.0]))
    assert wavs.shape == (2, 16000)
    assert lens.tolist() == pytest.approx([field / 16000, 1.0])
    assert torch.equal(wavs[0, :100], batch[0, :100]) and not wavs[0, field:].any()


def test_long_recordings_use_a_sliding_window_for_kws(model, clips):
    keyword = torch.from_numpy(sf.read(clips["kws"][2]["wav"], dtype="float32")[0])
    noise = 0.01 * torch.randn(16000, generator=torch.Generator().manual_seed(2))
    recording = torch.cat([noise, keyword, noise, noise[:8000]])  # 3.5 s
    probs, score, index, _ = model.classify_batch(recording[None])
    starts = [0, 8000, 16000, 24000, 32000, 40000]  # 1 s windows, 0.5 s hop
    windows = torch.stack([recording[s : s + 16000] for s in starts])
    per_window = model.classify_batch(windows)[0]
    top, best = per_window.max(dim=-1)
    keyword_windows = [
        i for i, c in enumerate(best.tolist()) if model.labels[c] not in NON_KEYWORDS
    ]
    chosen = (
        max(keyword_windows, key=lambda i: top[i].item())
        if keyword_windows
        else int(top.argmax())
    )
    torch.testing.assert_close(probs[0], per_window[chosen])
    assert index.item() == best[chosen].item()
    # speaker embeddings use the whole recording in one pass
    torch.testing.assert_close(
        model.encode_batch(recording[None]), model(recording[None])[1]
    )


def test_bad_audio_files_are_named(model, tmp_path):
    missing = str(tmp_path / "missing.wav")
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        model.classify_file(missing)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n" * 10)
    silent = str(tmp_path / "zero_samples.wav")
    sf.write(silent, np.zeros(0, dtype=np.float32), 16000)
    for path in (str(empty), str(text), silent):
        with pytest.raises(ValueError, match=os.path.basename(path)):
            model.verify_files(path, path)
    with pytest.raises(ValueError, match=r"Expected audio \[time\]"):
        model.classify_batch(torch.zeros(1, 2, 3, 4))


def test_package_missing_or_corrupt_files_are_named(package_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(package_dir, broken)
    os.remove(broken / "kws_head.safetensors")
    with pytest.raises(FileNotFoundError, match="kws_head.safetensors"):
        MultiTaskSpeechModel.from_hparams(
            source=str(broken), savedir=str(tmp_path / "s")
        )
    (broken / "kws_head.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(ValueError, match="kws_head.safetensors"):
        MultiTaskSpeechModel.from_hparams(
            source=str(broken), savedir=str(tmp_path / "t")
        )
    with pytest.raises(FileNotFoundError, match="not found"):
        MultiTaskSpeechModel.from_hparams(source=str(tmp_path / "nothing"))


def test_trained_folder_missing_a_checkpoint_is_named(trained_multitask, tmp_path):
    copy = tmp_path / "trained"
    shutil.copytree(trained_multitask, copy, ignore=shutil.ignore_patterns("data"))
    best = min(
        Checkpointer(str(copy / "save")).list_checkpoints(),
        key=lambda c: c.meta["error"],
    )
    os.remove(best.path / "sv_head.ckpt")
    with pytest.raises(FileNotFoundError, match="sv_head.ckpt"):
        package.main([str(copy), str(tmp_path / "pkg")])
    assert not os.path.exists(tmp_path / "pkg")


def test_loading_never_unpickles(package_dir, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("torch.load (pickle) called while loading a package")

    monkeypatch.setattr(torch, "load", refuse)
    model = MultiTaskSpeechModel.from_hparams(
        source=package_dir, savedir=str(tmp_path), run_opts={"device": "cpu"}
    )
    assert model.classify_batch(torch.zeros(1, 16000))[0].shape == (1, 12)


def test_loading_and_classifying_warns_nothing_about_labels(
    package_dir, clips, tmp_path
):
    """A fresh process loads the package and classifies a clip without
    SpeechBrain's "expect_len was never called" warning."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from kdsrl_lobes.hub.inference import MultiTaskSpeechModel\n"
        "m = MultiTaskSpeechModel.from_hparams(source=sys.argv[1], "
        "savedir=sys.argv[2], run_opts={'device': 'cpu'})\n"
        "assert m.hparams.label_encoder.expected_len == 12\n"
        "print(m.classify_file(sys.argv[3])[3])\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            package_dir,
            str(tmp_path / "s"),
            clips["kws"][0]["wav"],
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "expect_len" not in result.stdout + result.stderr


def test_a_package_written_before_the_layout_change_loads(
    package_dir, model, clips, tmp_path
):
    """Packages written before the subpackage layout name the old module
    paths in their hyperparams.yaml; they still load and give the same output."""
    old = tmp_path / "old_package"
    shutil.copytree(package_dir, old)
    hparams = old / "hyperparams.yaml"
    text = hparams.read_text()
    assert "kdsrl_lobes.models.heads." in text and "kdsrl_lobes.hub.files." in text
    text = text.replace("kdsrl_lobes.models.heads.", "kdsrl_lobes.heads.")
    text = text.replace("kdsrl_lobes.hub.files.", "kdsrl_lobes.model_package.")
    # ... and their SV head took the training classifier's settings and kept
    # its weights in sv_head.safetensors
    text = text.replace(
        "    pooling: !ref <sv_pooling>",
        "    n_speakers: 3\n    margin: 0.2\n    scale: 30.0\n"
        "    pooling: !ref <sv_pooling>",
    )
    hparams.write_text(text)
    sv_file = old / "sv_head.safetensors"
    state = safetensors.torch.load_file(str(sv_file))
    size = state["embedding.weight"].shape[0]
    state["classifier.weight"] = torch.randn(3, size)
    safetensors.torch.save_file(state, str(sv_file))
    legacy = MultiTaskSpeechModel.from_hparams(
        source=str(old), savedir=str(tmp_path / "s"), run_opts={"device": "cpu"}
    )
    wavs, lens = _batch([clips["kws"][0]["wav"], clips["sv"][0]["wav"]])
    for a, b in zip(legacy(wavs, lens), model(wavs, lens), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize(
    "command", ["package", "export", "params", "data.synth"], ids=lambda c: c
)
def test_stable_command_names_still_run(command):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", f"kdsrl_lobes.{command}", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage:" in result.stdout

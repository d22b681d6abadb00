"""Every YAML under recipes/*/*/hparams/ loads with overrides that point it at
tiny local models and folders (nothing downloads)."""

import glob
import os

import pytest
import torch
from hyperpyyaml import load_hyperpyyaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
YAMLS = sorted(glob.glob(os.path.join(ROOT, "recipes", "*", "*", "hparams", "*.yaml")))
DISTILL_HPARAMS = os.path.join(ROOT, "recipes", "LibriSpeech", "distill", "hparams")


def _overrides(path, text, tiny_dir, tmp_path):
    """Overrides for the keys this YAML declares: local tiny model sources, temp
    folders, and layer indices that the 4-layer tiny teacher has."""
    candidates = {
        "teacher_source": tiny_dir,
        "teacher_sources": [tiny_dir, tiny_dir],
        "encoder_source": tiny_dir,
        "target_layers": [2, 4],
        "data_folder": str(tmp_path / "data"),
        "gsc_folder": str(tmp_path / "gsc"),
        "voxceleb_folder": str(tmp_path / "vox"),
        "output_folder": str(tmp_path / "out"),
        "n_speakers": 5,
        "n_outputs": 5,  # SUPERB recipes count it after preparation (auto)
    }
    return {k: v for k, v in candidates.items() if f"\n{k}:" in "\n" + text}


def test_every_recipe_has_yamls():
    recipes = glob.glob(os.path.join(ROOT, "recipes", "*", "*", "train.py"))
    with_yamls = {os.path.dirname(os.path.dirname(p)) for p in YAMLS}
    assert recipes and {os.path.dirname(p) for p in recipes} == with_yamls


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: os.path.relpath(p, ROOT))
def test_yaml_loads(path, tiny_teacher_dir, tmp_path):
    with open(path) as f:
        text = f.read()
    with open(path) as f:
        hparams = load_hyperpyyaml(
            f, _overrides(path, text, tiny_teacher_dir(), tmp_path)
        )
    modules = [v for v in hparams.values() if isinstance(v, torch.nn.Module)]
    assert modules, f"{path} builds no module"


@pytest.mark.parametrize("name", ["distill.yaml", "distill_embedded.yaml"])
def test_distillation_wires_teacher_student_heads(
    name, tiny_teacher_dir, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # the output folder is relative
    overrides = {
        "teacher_source": tiny_teacher_dir(),
        "target_layers": [2, 4],
        "data_folder": str(tmp_path / "data"),
        "experiment_name": "distill_tiny",
    }
    with open(os.path.join(DISTILL_HPARAMS, name)) as f:
        hp = load_hyperpyyaml(f, overrides)
    assert hp["output_folder"] == f"results/distill_tiny/{hp['seed']}"
    wav = torch.randn(2, 16000)
    targets = hp["teacher"](wav)
    preds = hp["prediction_heads"](hp["student"](wav))
    loss, terms = hp["distillation_loss"](preds, targets)
    assert preds.shape == targets.shape and torch.isfinite(loss)
    assert set(terms) == {"l1_layer2", "cos_layer2", "l1_layer4", "cos_layer4"}
    assert hp["student"].num_layers == 2


@pytest.mark.parametrize(
    "name", ["distill_ensemble.yaml", "distill_ensemble_embedded.yaml"]
)
@pytest.mark.parametrize(
    "aggregation, n_targets, dim",
    [("average", 2, 16), ("concat", 2, 32), ("per_teacher", 4, 16)],
)
def test_ensemble_distillation_wires_one_head_per_target(
    name, aggregation, n_targets, dim, tiny_teacher_dir, tmp_path
):
    overrides = {
        "teacher_sources": [tiny_teacher_dir("hubert"), tiny_teacher_dir("wavlm")],
        "target_layers": [2, 4],
        "aggregation": aggregation,
        "init_teacher": "wavlm",
        "data_folder": str(tmp_path / "data"),
        "output_folder": str(tmp_path / "out"),
    }
    with open(os.path.join(DISTILL_HPARAMS, name)) as f:
        hp = load_hyperpyyaml(f, overrides)
    wav = torch.randn(2, 16000)
    targets = hp["teacher"](wav)
    preds = hp["prediction_heads"](hp["student"](wav))
    assert preds.shape == targets.shape == (2, n_targets, 49, dim)
    loss, terms = hp["distillation_loss"](preds, targets)
    assert torch.isfinite(loss) and len(terms) == 2 * n_targets
    assert type(hp["student"].model).__name__ == "WavLMModel"


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: os.path.relpath(p, ROOT))
def test_weight_decay_never_reaches_norms_and_biases(path, tiny_teacher_dir, tmp_path):
    """Every recipe optimiser decays matrices only, or nothing: a LayerNorm
    gain pulled to zero by weight decay is a bug."""
    with open(path) as f:
        text = f.read()
    if "opt_class:" not in text:
        pytest.skip("no optimiser")
    with open(path) as f:
        hparams = load_hyperpyyaml(
            f, _overrides(path, text, tiny_teacher_dir(), tmp_path)
        )
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    if "modules" in hparams and "recipes/LibriSpeech/distill" in path:
        model = torch.nn.ModuleList(hparams["modules"].values())
    optimizer = hparams["opt_class"](model.parameters())
    for group in optimizer.param_groups:
        if group.get("weight_decay", 0.0):
            assert all(p.dim() >= 2 for p in group["params"]), (
                f"{path}: weight decay {group['weight_decay']} on norms/biases"
            )

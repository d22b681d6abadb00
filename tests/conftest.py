"""Shared fixtures: tiny random-init teachers saved to a temp dir (no hub)."""

import pytest

from kdsrl_lobes.models.configs import random_speech_model

ARCHS = ("wav2vec2", "hubert", "wavlm")
STYLES = (False, True)  # post-LN BASE style, pre-LN LARGE style


@pytest.fixture(scope="session")
def tiny_teacher_dir(tmp_path_factory):
    """Returns a function ``(arch, stable_layer_norm) -> directory`` of a saved
    tiny 4-layer teacher; each is built once per session."""
    cache = {}

    def make(arch="hubert", stable_layer_norm=False):
        key = (arch, stable_layer_norm)
        if key not in cache:
            path = tmp_path_factory.mktemp(f"{arch}_{int(stable_layer_norm)}")
            model = random_speech_model(arch, "tiny", stable_layer_norm, seed=1)
            model.save_pretrained(path)
            cache[key] = str(path)
        return cache[key]

    return make


@pytest.fixture(scope="session")
def quick_corpus(tmp_path_factory):
    """One ``--quick`` embedded corpus per test session (a few seconds)."""
    from kdsrl_lobes.data import synth

    root = tmp_path_factory.mktemp("quick_corpus")
    synth.main(["--output", str(root), "--quick"])
    return str(root)


@pytest.fixture(scope="session")
def trained_multitask(quick_corpus, tiny_teacher_dir, tmp_path_factory):
    """Output folder of one tiny multi-task recipe run on the quick corpus
    (about 10 s), shared by the packaging, inference and export tests."""
    from .recipe_utils import recipe_path, run_recipe

    out = str(tmp_path_factory.mktemp("trained_multitask"))
    run_recipe(
        recipe_path("GSC_VoxCeleb1", "multitask", "train.py"),
        [
            recipe_path("GSC_VoxCeleb1", "multitask", "hparams", "multitask.yaml"),
            f"--encoder_source={tiny_teacher_dir()}",
            f"--output_folder={out}",
            f"--gsc_folder={quick_corpus}/speech_commands_v0.01",
            f"--voxceleb_folder={quick_corpus}/voxceleb1",
            f"--test_folder={quick_corpus}/speech_commands_test_set_v0.01",
            "--number_of_epochs=2",
            "--epoch_rounds=4",
            "--kws_batch_size=8",
            "--sv_batch_size=4",
            "--sv_crop_seconds=1.5",
            "--num_workers=0",
            "--noprogressbar",
        ],
    )
    return out

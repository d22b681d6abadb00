"""Distillation recipe on the quick corpus with a tiny 4-layer teacher."""

import csv
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch
import transformers

from .recipe_utils import (
    complete_checkpoints,
    load_recipe,
    loaded_checkpoints,
    recipe_path,
    run_recipe,
)

SCRIPT = recipe_path("LibriSpeech", "distill", "train.py")
HPARAMS = recipe_path("LibriSpeech", "distill", "hparams", "distill_embedded.yaml")
ENSEMBLE = recipe_path(
    "LibriSpeech", "distill", "hparams", "distill_ensemble_embedded.yaml"
)


def _args(corpus, teacher, out, *extra):
    return _recipe_args(HPARAMS, f"--teacher_source={teacher}", corpus, out, *extra)


def _ensemble_args(corpus, teachers, out, aggregation, *extra):
    sources = f"--teacher_sources=[{','.join(teachers)}]"
    return _recipe_args(
        ENSEMBLE, sources, corpus, out, f"--aggregation={aggregation}", *extra
    )


def _recipe_args(hparams, teacher_arg, corpus, out, *extra):
    return [
        hparams,
        f"--data_folder={os.path.join(corpus, 'LibriSpeech')}",
        teacher_arg,
        f"--output_folder={out}",
        "--target_layers=[2, 4]",
        *[
            a
            for a in ("--number_of_epochs=1", "--batch_size=4")
            if a.split("=")[0] not in {e.split("=")[0] for e in extra}
        ],
        "--crop_seconds=1.0",
        "--warmup_steps=1",
        "--noprogressbar",
        *extra,
    ]


@pytest.fixture(scope="module")
def distilled(quick_corpus, tiny_teacher_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("distill")
    run_recipe(SCRIPT, _args(quick_corpus, tiny_teacher_dir(), out))
    return str(out)


def test_outputs_student_log_and_plot(distilled, tiny_teacher_dir):
    student_dir = os.path.join(distilled, "student")
    student = transformers.AutoModel.from_pretrained(student_dir)
    assert type(student).__name__ == "HubertModel"
    assert student.config.num_hidden_layers == 2
    teacher = transformers.AutoModel.from_pretrained(tiny_teacher_dir())
    trained = student.encoder.layers[1].feed_forward.output_dense.weight
    initial = teacher.encoder.layers[1].feed_forward.output_dense.weight
    assert not torch.equal(trained, initial), "distillation changed nothing"
    assert os.path.isfile(os.path.join(student_dir, "preprocessor_config.json"))
    with open(os.path.join(distilled, "train_log.txt")) as f:
        log = f.read()
    for key in ("train loss", "valid loss", "valid l1_layer2", "valid cos_layer4"):
        assert key in log
    assert os.path.getsize(os.path.join(distilled, "distill_curves.png")) > 1000
    # the linear decay's length is the run's own: the LR ends at exactly 0
    assert log.splitlines()[-1].startswith("epoch: 1, lr: 0.0000e+00 ")
    # the teacher cache holds one fp16 file [target layers, frames, hidden] per
    # crop: one fixed crop of each training and each validation utterance
    cached = [
        os.path.join(d, f)
        for d, _, fs in os.walk(os.path.join(distilled, "teacher_cache"))
        for f in fs
    ]
    assert all(f.endswith(".pt") for f in cached)
    utterances = []
    for name in ("train.csv", "dev-clean.csv"):
        with open(os.path.join(distilled, "save", name)) as f:
            utterances += [
                row["ID"]
                for row in csv.DictReader(f)
                if float(row["duration"]) >= 0.5  # min_duration in the YAML
            ]
    cached_ids = [os.path.basename(f).split("@")[0] for f in cached]
    assert utterances and sorted(cached_ids) == sorted(utterances)
    item = torch.load(cached[0], weights_only=True)
    assert item.dtype == torch.float16
    assert item.shape[0] == 2  # --target_layers=[2, 4]
    assert item.shape[2] == teacher.config.hidden_size


def test_checkpoint_from_another_config_is_refused(
    distilled, quick_corpus, tiny_teacher_dir
):
    result = run_recipe(
        SCRIPT,
        _args(quick_corpus, tiny_teacher_dir(), distilled, "--student_layers=1"),
        check=False,
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "another configuration: student_layers: checkpoint 2, now 1" in output


def test_layers_the_teacher_lacks_fail_before_training(
    quick_corpus, tiny_teacher_dir, tmp_path
):
    args = _args(quick_corpus, tiny_teacher_dir(), tmp_path)
    args[4] = "--target_layers=[4, 8, 12]"
    result = run_recipe(SCRIPT, args, check=False)
    assert result.returncode != 0
    assert "Layer(s) [8, 12] requested" in result.stdout + result.stderr
    assert not os.path.exists(os.path.join(tmp_path, "save"))


def test_loss_falls_on_a_fixed_batch(quick_corpus, tiny_teacher_dir, tmp_path):
    import speechbrain as sb
    from hyperpyyaml import load_hyperpyyaml

    recipe = load_recipe("LibriSpeech", "distill", "train.py")
    overrides = {
        "data_folder": os.path.join(quick_corpus, "LibriSpeech"),
        "teacher_source": tiny_teacher_dir(),
        "output_folder": str(tmp_path),
        "target_layers": [2, 4],
        "crop_seconds": 1.0,
        "teacher_cache": False,
        "lr": 0.002,
        "warmup_steps": 0,
    }
    with open(HPARAMS) as f:
        hparams = load_hyperpyyaml(f, overrides)
    from kdsrl_lobes.data import prepare_librispeech

    prepare_librispeech(
        overrides["data_folder"],
        hparams["save_folder"],
        ["train-clean-100", "dev-clean"],
    )
    data = recipe.dataio_prepare(hparams)["train"]
    batch = sb.dataio.batch.PaddedBatch([data[i] for i in range(4)])
    brain = recipe.DistillBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts={"device": "cpu"},
        checkpointer=None,
    )
    brain.total_steps = 6
    brain.on_fit_start()
    brain.on_stage_start(sb.Stage.TRAIN)
    losses = [float(brain.fit_batch(batch)) for _ in range(6)]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]


def _kill_and_resume(args, out):
    """Kills a run right after its first intra-epoch checkpoint, reruns it, and
    checks that it resumed from that checkpoint and finished both epochs."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, SCRIPT, *args],
        cwd=os.path.dirname(SCRIPT),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    save = os.path.join(out, "save")
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if complete_checkpoints(save):
            break
        time.sleep(0.2)
    assert proc.poll() is None, "run ended before an intra-epoch checkpoint"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not os.path.isdir(os.path.join(out, "student"))
    killed = complete_checkpoints(save)
    with open(os.path.join(out, "log.txt")) as f:
        log_at_kill = len(f.read())
    run_recipe(SCRIPT, args)
    # the resumed run starts from a checkpoint of the killed run (the export
    # also loads the best checkpoint, so only the first load counts)
    with open(os.path.join(out, "log.txt")) as f:
        loaded = loaded_checkpoints(f.read()[log_at_kill:])
    assert loaded and loaded[0] in killed
    assert os.path.isfile(os.path.join(out, "student", "model.safetensors"))
    with open(os.path.join(out, "train_log.txt")) as f:
        epochs = [line.split(",")[0] for line in f]
    assert epochs == ["epoch: 1", "epoch: 2"]


KILL_OPTIONS = (
    "--ckpt_interval_minutes=0",
    "--ckpt_interval_steps=1",
    "--batch_size=2",
    "--number_of_epochs=2",
)


def test_killed_run_resumes_from_intra_epoch_checkpoint(
    quick_corpus, tiny_teacher_dir, tmp_path
):
    args = _args(quick_corpus, tiny_teacher_dir(), tmp_path, *KILL_OPTIONS)
    _kill_and_resume(args, tmp_path)


def test_ddp_with_two_processes(quick_corpus, tiny_teacher_dir, tmp_path):
    run_recipe(
        SCRIPT,
        _args(quick_corpus, tiny_teacher_dir(), tmp_path, "--distributed_backend=gloo"),
        nproc=2,
    )
    assert os.path.isfile(os.path.join(tmp_path, "student", "model.safetensors"))
    with open(os.path.join(tmp_path, "train_log.txt")) as f:
        assert len(f.readlines()) == 1  # logged by the main process only


def test_debug_runs_two_short_epochs(quick_corpus, tiny_teacher_dir, tmp_path):
    args = _args(
        quick_corpus, tiny_teacher_dir(), str(tmp_path), "--number_of_epochs=3"
    )
    run_recipe(SCRIPT, [*args, "--debug"])  # SpeechBrain's debug: 2 epochs at most
    log = (tmp_path / "train_log.txt").read_text().splitlines()
    assert [line.split(",")[0] for line in log] == ["epoch: 1", "epoch: 2"]
    model = transformers.AutoModel.from_pretrained(tmp_path / "student")
    assert model.config.num_hidden_layers == 2


ENSEMBLE_ARCHS = ("hubert", "wavlm")


@pytest.mark.parametrize(
    "aggregation, targets, dim, init, student_class",
    [
        ("average", ["layer2", "layer4"], 16, "0", "HubertModel"),
        ("concat", ["layer2", "layer4"], 32, "1", "WavLMModel"),
        (
            "per_teacher",
            ["t0_layer2", "t0_layer4", "t1_layer2", "t1_layer4"],
            16,
            "wavlm",
            "WavLMModel",
        ),
    ],
)
def test_ensemble_debug_per_aggregation(
    aggregation,
    targets,
    dim,
    init,
    student_class,
    quick_corpus,
    tiny_teacher_dir,
    tmp_path,
):
    teachers = [tiny_teacher_dir(arch) for arch in ENSEMBLE_ARCHS]
    args = _ensemble_args(
        quick_corpus, teachers, tmp_path, aggregation, f"--init_teacher={init}"
    )
    run_recipe(SCRIPT, [*args, "--debug"])
    log = (tmp_path / "train_log.txt").read_text()
    assert [line.split(",")[0] for line in log.splitlines()] == ["epoch: 1"]
    logged = {
        part.split(":")[0].removeprefix("valid l1_")
        for part in log.split(", ")
        if part.startswith("valid l1_")
    }
    assert logged == set(targets)  # one L1 (and cosine) term per target
    assert os.path.getsize(tmp_path / "distill_curves.png") > 1000
    model = transformers.AutoModel.from_pretrained(tmp_path / "student")
    assert type(model).__name__ == student_class
    assert model.config.num_hidden_layers == 2
    cached = sorted((tmp_path / "teacher_cache").glob("*/*.pt"))
    item = torch.load(cached[0], weights_only=True)
    assert item.shape[0] == len(targets) and item.shape[2] == dim


@pytest.fixture(scope="module")
def ensemble_distilled(quick_corpus, tiny_teacher_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("distill_ensemble")
    teachers = [tiny_teacher_dir(arch) for arch in ENSEMBLE_ARCHS]
    run_recipe(SCRIPT, _ensemble_args(quick_corpus, teachers, out, "average"))
    return str(out)


@pytest.mark.parametrize(
    "order, aggregation, differs",
    [
        (ENSEMBLE_ARCHS[::-1], "average", "teacher_sources: checkpoint"),
        (ENSEMBLE_ARCHS, "per_teacher", "aggregation: checkpoint 'average', now"),
        (ENSEMBLE_ARCHS[:1], "concat", "teacher_sources: checkpoint"),
    ],
)
def test_checkpoint_from_another_ensemble_is_refused(
    order, aggregation, differs, ensemble_distilled, quick_corpus, tiny_teacher_dir
):
    assert complete_checkpoints(os.path.join(ensemble_distilled, "save"))
    teachers = [tiny_teacher_dir(arch) for arch in order]
    args = _ensemble_args(quick_corpus, teachers, ensemble_distilled, aggregation)
    result = run_recipe(SCRIPT, args, check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "written with another configuration" in output and differs in output


def test_ensemble_killed_run_resumes(quick_corpus, tiny_teacher_dir, tmp_path):
    teachers = [tiny_teacher_dir(arch) for arch in ENSEMBLE_ARCHS]
    args = _ensemble_args(
        quick_corpus, teachers, tmp_path, "per_teacher", *KILL_OPTIONS
    )
    _kill_and_resume(args, tmp_path)


@pytest.mark.parametrize("target", ["cnn", "projection"])
def test_thin_front_end_distils_with_its_own_loss(
    target, quick_corpus, tiny_teacher_dir, tmp_path
):
    teacher_dir = tiny_teacher_dir()
    thin = ["--student_front_end=thin", "--front_end_channels=[4, 4, 4]"]
    args = _args(
        quick_corpus,
        teacher_dir,
        str(tmp_path),
        *thin,
        f"--front_end_target={target}",
        "--front_end_warmup_epochs=1",
        "--number_of_epochs=2",
    )
    run_recipe(SCRIPT, args)
    log = (tmp_path / "train_log.txt").read_text().splitlines()
    assert len(log) == 2
    for line in log:
        assert "valid l1_front_end" in line and "valid cos_front_end" in line
        assert "valid l1_layer2" in line
    student = transformers.AutoModel.from_pretrained(tmp_path / "student")
    teacher = transformers.AutoModel.from_pretrained(teacher_dir)
    assert list(student.config.conv_dim) == [4, 4, 4]
    assert type(student) is type(teacher)
    with torch.no_grad():
        wav = torch.randn(1, 16000)
        assert (
            student(wav).last_hidden_state.shape == teacher(wav).last_hidden_state.shape
        )
    # the front end's targets are cached beside the layers'
    assert len(list((tmp_path / "teacher_cache").iterdir())) == 2
    # the front end (and, for cnn, its projection) are checkpointed
    last = sorted(complete_checkpoints(str(tmp_path / "save")))[-1]
    saved = os.listdir(tmp_path / "save" / last)
    assert "front_end_loss.ckpt" in saved
    front = torch.load(tmp_path / "save" / last / "front_end_loss.ckpt")
    assert ("projection.weight" in front) == (target == "cnn")
    # a checkpoint of a thin student refuses a copied front end
    copy_args = _args(quick_corpus, teacher_dir, str(tmp_path), "--number_of_epochs=3")
    result = run_recipe(SCRIPT, copy_args, check=False)
    assert result.returncode != 0
    assert "student_conv_dim: checkpoint [4, 4, 4]" in result.stdout + result.stderr


def test_warmup_trains_the_front_end_alone(quick_corpus, tiny_teacher_dir, tmp_path):
    """During warm-up the transformer layers and heads get no gradient."""
    args = _args(
        quick_corpus,
        tiny_teacher_dir(),
        str(tmp_path),
        "--student_front_end=thin",
        "--front_end_target=projection",
        "--front_end_warmup_epochs=1",
        "--number_of_epochs=1",
    )
    run_recipe(SCRIPT, args)
    student = transformers.AutoModel.from_pretrained(tmp_path / "student")
    teacher = transformers.AutoModel.from_pretrained(tiny_teacher_dir())
    layer = "encoder.layers.1.feed_forward.output_dense.weight"
    assert torch.equal(student.state_dict()[layer], teacher.state_dict()[layer])
    # the loss reported (and that picks the checkpoint) is the full one
    line = (tmp_path / "train_log.txt").read_text().splitlines()[0]
    valid = {k: float(v) for k, v in re.findall(r"valid (\S+): ([-+.e0-9]+)", line)}
    terms = sum(v for k, v in valid.items() if k != "loss")
    assert valid["loss"] == pytest.approx(terms, abs=1e-3)
    assert valid["loss"] > valid["l1_front_end"] + valid["cos_front_end"]


def test_uncached_front_end_targets_equal_the_cached_ones(
    quick_corpus, tiny_teacher_dir
):
    """Without the cache the front-end target is read during the teacher's own
    forward pass; it must equal what the cache stores (a separate pass)."""
    import speechbrain as sb
    from hyperpyyaml import load_hyperpyyaml

    recipe = load_recipe("LibriSpeech", "distill", "train.py")
    args = _args(
        quick_corpus,
        tiny_teacher_dir(),
        "/tmp/unused",
        "--student_front_end=thin",
        "--front_end_target=projection",
    )
    with open(args[0]) as f:
        overrides = "\n".join(
            a.lstrip("-").replace("=", ": ", 1)
            for a in args[1:]
            if a.startswith("--") and "=" in a
        )
        hparams = load_hyperpyyaml(f, overrides)
    wavs, lens = torch.randn(2, 16000), torch.tensor([1.0, 0.7])
    teacher = hparams["teacher"]
    from kdsrl_lobes.models.front_end import FrontEndTap
    from kdsrl_lobes.training.front_end import FrontEndTeacher

    tap = FrontEndTap(teacher.model, "projection")
    teacher(wavs, lens)
    separate = FrontEndTeacher(teacher, "projection")(wavs, lens)[:, 0]
    torch.testing.assert_close(tap.output, separate)
    assert recipe.DistillBrain and sb  # the recipe imports with the change


def test_thin_front_end_without_the_cache(quick_corpus, tiny_teacher_dir, tmp_path):
    args = _args(quick_corpus, tiny_teacher_dir(), str(tmp_path),
                 "--student_front_end=thin", "--front_end_target=cnn",
                 "--teacher_cache=False")  # fmt: skip
    run_recipe(SCRIPT, args)
    log = (tmp_path / "train_log.txt").read_text()
    assert "valid cos_front_end" in log
    assert not (tmp_path / "teacher_cache").exists()

"""scripts/run_ekd.py: which recipes it runs for each row and seed, and the
table it writes (the recipes themselves are tested in their own files; here
the subprocess is replaced by one that records the command and writes the
output a recipe would)."""

import json
import os

import pytest

from .recipe_utils import fake_stage_runner, load_script, option


def load(name):
    return load_script("scripts", name)


@pytest.fixture
def fake_recipes(monkeypatch):
    run_ekd = load("run_ekd")
    run_embedded = run_ekd.run_embedded
    commands, envs = [], []

    def metrics(command):  # depend on the encoder and the seed
        seed = int(option(command, "seed"))
        bonus = 3.0 if "average" in option(command, "encoder_source") else 0.0
        return {"kws_accuracy": 80.0 + seed + bonus, "sv_eer": 20.0 - seed}

    fake_run = fake_stage_runner(commands, metrics, envs)
    monkeypatch.setattr(run_embedded.subprocess, "run", fake_run)
    return run_ekd, commands, envs


def test_every_row_and_seed_is_distilled_and_fine_tuned_with_the_same_budget(
    fake_recipes, tmp_path
):
    run_ekd, commands, envs = fake_recipes
    workdir = str(tmp_path / "w")
    run_ekd.main(
        [
            "--workdir", workdir, "--quick", "--teachers", "hubert", "wavlm",
            "--aggregations", "average", "per_teacher", "--seeds", "1", "2",
            "--distill_override=--number_of_epochs=3", "--jobs", "2",
            "--finetune_override=--number_of_epochs=2",
        ]
    )  # fmt: skip
    # two chains at once, each on half the cores (corpus and teachers alone)
    threads = str(max(1, (os.cpu_count() or 1) // 2))
    assert [e["OMP_NUM_THREADS"] if e else None for e in envs] == [None] * 3 + [
        threads
    ] * 16
    distills = [
        c for c in commands if c[1].endswith(os.path.join("distill", "train.py"))
    ]
    finetunes = [
        c for c in commands if c[1].endswith(os.path.join("multitask", "train.py"))
    ]
    assert len(distills) == len(finetunes) == 4 * 2  # 2 singles + 2 EKD, 2 seeds
    assert all(option(c, "number_of_epochs") == "3" for c in distills)
    # the override replaces the main job's 4 epochs: one key each (SpeechBrain
    # refuses a repeated override)
    assert {option(c, "number_of_epochs") for c in finetunes} == {"2"}
    for c in distills + finetunes:
        keys = [a.split("=", 1)[0] for a in c if a.startswith("--")]
        assert len(keys) == len(set(keys)), c
    ensembles = [c for c in distills if option(c, "teacher_sources")]
    assert len(ensembles) == 4
    teachers = os.path.join(workdir, "pretrain_{}", "teacher")
    assert {option(c, "teacher_sources") for c in ensembles} == {
        f"[{teachers.format('hubert')},{teachers.format('wavlm')}]"
    }
    assert sorted(option(c, "aggregation") for c in ensembles) == [
        "average", "average", "per_teacher", "per_teacher"
    ]  # fmt: skip
    for c in distills + finetunes:
        assert option(c, "seed") in ("1", "2")
    # each fine-tuning gets the student of its own row and seed
    for c in finetunes:
        assert option(c, "encoder_source").endswith(
            f"_s{option(c, 'seed')}{os.sep}student"
        )

    folder = os.path.join(workdir, "ekd")
    table = json.load(open(os.path.join(folder, "table.json")))
    assert table["reference"] == "single_hubert"
    average = table["rows"]["ekd_average"]["kws_accuracy"]
    assert average["values"] == [84.0, 85.0] and average["mean"] == 84.5
    verdict = table["comparisons"]["ekd_average"]["kws_accuracy"]
    assert (
        verdict["difference"] == pytest.approx(3.0) and verdict["verdict"] == "better"
    )
    same = table["comparisons"]["single_wavlm"]["sv_eer"]
    assert same["difference"] == 0.0 and same["verdict"] == "inside the noise"
    assert os.path.getsize(os.path.join(folder, "table.png")) > 0
    assert "EKD, per-teacher heads" in open(os.path.join(folder, "table.md")).read()

    # a second run reuses every stage
    commands.clear()
    run_ekd.main(
        [
            "--workdir", workdir, "--quick", "--teachers", "hubert", "wavlm",
            "--aggregations", "average", "per_teacher", "--seeds", "1", "2",
            "--distill_override=--number_of_epochs=3",
            "--finetune_override=--number_of_epochs=2",
        ]
    )  # fmt: skip
    assert commands == []


def test_one_seed_is_not_judged():
    run_ekd = load("run_ekd")
    runs = {
        "single_hubert": {1: {"kws_accuracy": 80.0, "sv_eer": 20.0}},
        "ekd_concat": {1: {"kws_accuracy": 90.0, "sv_eer": 10.0}},
    }
    table = run_ekd.summarise(runs)
    verdict = run_ekd.compare(table, "ekd_concat", "single_hubert")
    assert verdict["kws_accuracy"]["verdict"].startswith("one seed")
    assert verdict["sv_eer"]["difference"] == 10.0  # lower EER counts as better

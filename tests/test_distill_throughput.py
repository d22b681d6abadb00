"""The distillation-throughput benchmark's pieces: its ratios and a cold then warm
pass over the teacher cache with a tiny teacher (no timing asserted)."""

import os

import pytest

from kdsrl_lobes.models.configs import random_speech_model

from .recipe_utils import load_script

distill_throughput = load_script("benchmarks", "distill_throughput")


def test_summary_and_ratios_against_hand_computation():
    summary = distill_throughput.summarize_steps([2.0, 2.0], [1.0, 0.0], 24.0)
    assert summary["audio_seconds_per_second"] == 6.0
    assert summary["targets_share"] == 0.25
    assert summary["step_seconds_range"] == [2.0, 2.0]
    modes = {
        "no_cache": {"audio_seconds_per_second": 4.0},
        "cache_cold": {"audio_seconds_per_second": 3.0},
        "cache_warm": {"audio_seconds_per_second": 10.0},
    }
    assert distill_throughput.throughput_ratios(modes) == {
        "warm_over_no_cache": 2.5,
        "cold_over_no_cache": 0.75,
    }
    with pytest.raises(ValueError, match="Expected measured steps"):
        distill_throughput.summarize_steps([], [], 0.0)


def test_cold_pass_fills_the_cache_and_warm_pass_skips_the_teacher(tmp_path):
    teacher = tmp_path / "teacher"
    random_speech_model("hubert", "tiny", seed=1).save_pretrained(teacher)
    options = "--target_layers 2 4 --crop_seconds 0.5 --batch_size 2 --steps 1"
    args = distill_throughput.parse_args(
        ["--teacher", str(teacher), *options.split(), "--warmup_steps", "1"]
    )
    job = distill_throughput.make_job(args, str(tmp_path / "work"))
    job["csv"] = None
    crops = (args.steps + args.warmup_steps) * args.batch_size
    results = {}
    for mode in ("cache_cold", "cache_warm"):
        job["mode"] = mode
        results[mode] = distill_throughput.mode_worker(job)
    cold, warm = results["cache_cold"], results["cache_warm"]
    assert (cold["cache_misses"], cold["cache_hits"]) == (crops, 0)
    assert (warm["cache_misses"], warm["cache_hits"]) == (0, crops)
    assert cold["cache_files"] == warm["cache_files"] == crops
    assert cold["cache_bytes"] > 0
    assert cold["audio_seconds"] == pytest.approx(args.steps * args.batch_size * 0.5)
    assert cold["target_layers"] == [2, 4]
    assert len(warm["step_seconds"]) == args.steps


def test_corpus_batches_are_distinct_fixed_crops(
    quick_corpus, tiny_teacher_dir, tmp_path
):
    args = distill_throughput.parse_args(
        ["--data_folder", os.path.join(quick_corpus, "LibriSpeech")]
        + ["--teacher", tiny_teacher_dir()]
        + "--crop_seconds 1.0 --batch_size 2 --steps 2 --warmup_steps 1".split()
    )
    job = distill_throughput.make_job(args, str(tmp_path))
    job["csv"] = distill_throughput.setup_worker(job)["csv"]
    batches = distill_throughput.load_batches(job, min_duration=0.5)
    again = distill_throughput.load_batches(job, min_duration=0.5)
    crop_ids = [c for batch in batches for c in batch.crop_id]
    assert len(set(crop_ids)) == len(crop_ids) == 6
    assert crop_ids == [c for batch in again for c in batch.crop_id]
    assert all(batch.sig[0].shape[1] <= 16000 for batch in batches)
    job["steps"] = 10**4
    with pytest.raises(ValueError, match="distinct crops"):
        distill_throughput.load_batches(job, min_duration=0.5)

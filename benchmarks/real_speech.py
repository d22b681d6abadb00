"""Speaker verification on real recordings: the spoken words of Debian's
``ktuberling-data`` (one voice per language folder), for models trained on the
embedded corpus against the MFCC baseline.

The embedded corpus is synthetic speech (espeak-ng voices): this benchmark says
how much of what a model learned there carries over to real voices.

Usage::

    apt-get install ktuberling-data
    python benchmarks/real_speech.py --model PACKAGE_DIR [--model ...] \\
        [--sounds /usr/share/ktuberling/sounds] --output OUT_DIR

- **Speakers.** Each language folder is one speaker. Files whose content
  repeats an earlier file (the ``sr@*`` folders are copies of ``sr``) are
  dropped. A folder is kept when it has at least ``--min_clips`` clips and one
  consistent voice: the spread of its clips' median pitch (90th over 10th
  percentile, torchaudio's ``detect_pitch_frequency``) is at most
  ``--max_pitch_spread``; two voices of different pitch in one folder exceed
  it. Every folder's figures and verdict go into the JSON.
- **Trials.** Balanced and seeded: for each speaker, ``--trials_per_speaker``
  pairs of two of its clips (target) and as many pairs of one of its clips and
  a clip of another kept speaker (non-target). Both clips of a pair are
  different words, so a model cannot score the word; but each speaker is also
  one language, so non-target pairs differ in language too: the EER measures
  voice and language together, a bound on what a model knows of the voice.
- **Scores.** Cosine of the packaged model's speaker embedding
  (``MultiTaskSpeechModel.encode_batch``), and of the MFCC baseline's
  mean + std vector (`kdsrl_lobes.evaluation.mfcc`) standardised over all kept
  clips. EER and minDCF with 95 % intervals over enrolment speakers
  (`kdsrl_lobes.evaluation.reports.verification_report`).
- **Output.** ``OUT/real_speech.json``, ``real_speech.md`` and
  ``real_speech.png`` (EER with its interval per model).
"""

import argparse
import hashlib
import itertools
import json
import os
import time

import numpy as np
import torch
import torchaudio

from kdsrl_lobes.data.audio import load_audio
from kdsrl_lobes.data.rng import item_rng
from kdsrl_lobes.evaluation.metrics import enrolment_speakers, score_trials
from kdsrl_lobes.evaluation.mfcc import mfcc_lobe, mfcc_mean_std
from kdsrl_lobes.evaluation.probe import standardise
from kdsrl_lobes.evaluation.reports import verification_report

DEFAULT_SOUNDS = "/usr/share/ktuberling/sounds"
AUDIO_EXTENSIONS = (".ogg", ".wav", ".opus", ".flac")
SAMPLE_RATE = 16000


def median_pitch(audio: torch.Tensor) -> float:
    """Median pitch (Hz) of a clip, torchaudio's autocorrelation estimate."""
    pitch = torchaudio.functional.detect_pitch_frequency(
        audio.unsqueeze(0), SAMPLE_RATE, freq_low=60
    )
    return float(pitch.median())


def speaker_folders(
    root: str, min_clips: int, max_pitch_spread: float
) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, dict]]:
    """Reads every language folder; returns the kept speakers' clips
    ``{speaker: {relative path: audio [time]}}`` and a report of every folder."""
    if not os.path.isdir(root):
        raise FileNotFoundError(
            f"ktuberling sounds not found: {root} (apt-get install ktuberling-data, "
            "or pass --sounds)"
        )
    seen: dict[str, str] = {}  # content hash -> first relative path
    kept, report = {}, {}
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        if not os.path.isdir(folder):
            continue
        clips, duplicates = {}, 0
        for file in sorted(os.listdir(folder)):
            if not file.endswith(AUDIO_EXTENSIONS):
                continue
            rel = f"{name}/{file}"
            with open(os.path.join(folder, file), "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            if digest in seen:
                duplicates += 1
                continue
            seen[digest] = rel
            clips[rel] = load_audio(os.path.join(folder, file))
        pitches = np.array([median_pitch(a) for a in clips.values()])
        low, high = np.percentile(pitches, [10, 90]) if clips else (None, None)
        spread = float(high / low) if clips else None
        if not clips and duplicates:
            verdict = "a copy of earlier folders"
        elif len(clips) < min_clips:
            verdict = f"fewer than {min_clips} clips"
        elif not spread <= max_pitch_spread:
            verdict = f"pitch spread {spread:.2f} > {max_pitch_spread}: not one voice"
        else:
            verdict = "kept"
            kept[name] = clips
        report[name] = {
            "clips": len(clips),
            "duplicates_dropped": duplicates,
            "median_pitch_hz": round(float(np.median(pitches)), 1) if clips else None,
            "pitch_spread_p90_p10": round(spread, 3) if clips else None,
            "verdict": verdict,
        }
    if len(kept) < 2:
        raise ValueError(
            f"Expected at least 2 speaker folders in {root} with >= {min_clips} "
            f"clips of one voice, found {sorted(kept)}"
        )
    return kept, report


def make_trials(
    speakers: dict[str, list[str]], per_speaker: int, seed: int
) -> list[tuple[int, str, str]]:
    """Balanced trials: per speaker, ``per_speaker`` target pairs of two of its
    clips and as many non-target pairs with the clips of other speakers.

    Example
    -------
    >>> trials = make_trials({"a": ["a/1", "a/2", "a/3"], "b": ["b/1", "b/2"]}, 1, 0)
    >>> sorted(label for label, _, _ in trials)
    [0, 0, 1, 1]
    """
    trials = []
    names = sorted(speakers)
    for spk in names:
        rng = item_rng(seed, "real-speech-trials", spk)
        own = sorted(speakers[spk])
        pairs = list(itertools.combinations(own, 2))
        others = [c for other in names if other != spk for c in speakers[other]]
        count = min(per_speaker, len(pairs))
        for i in rng.permutation(len(pairs))[:count]:
            trials.append((1, *pairs[i]))
        for _ in range(count):
            enrol = own[int(rng.integers(len(own)))]
            trials.append((0, enrol, others[int(rng.integers(len(others)))]))
    return trials


@torch.no_grad()
def model_embeddings(package: str, clips: dict[str, torch.Tensor], savedir: str):
    """Speaker embeddings of a packaged model, one clip at a time."""
    from kdsrl_lobes.hub.inference import MultiTaskSpeechModel

    model = MultiTaskSpeechModel.from_hparams(
        source=package, savedir=savedir, run_opts={"device": "cpu"}
    )
    model.mods.eval()
    return {
        rel: model.encode_batch(audio.unsqueeze(0))[0].cpu()
        for rel, audio in clips.items()
    }


def mfcc_embeddings(clips: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The MFCC baseline's vectors, standardised over all the clips."""
    mfcc = mfcc_lobe()
    names = sorted(clips)
    vectors = torch.stack([mfcc_mean_std(clips[n], mfcc) for n in names])
    (vectors,) = standardise(vectors)
    return dict(zip(names, vectors, strict=True))


def write_outputs(results: dict, output: str) -> None:
    """``real_speech.{json,md,png}`` under ``output``."""
    os.makedirs(output, exist_ok=True)
    with open(os.path.join(output, "real_speech.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    lines = [
        f"Speaker verification on ktuberling-data ({results['num_trials']} trials, "
        f"{len(results['speakers'])} speakers: {', '.join(results['speakers'])}); "
        "95 % intervals over enrolment speakers.",
        "",
        "| model | EER (%) | 95 % interval | minDCF (0.01) |",
        "|---|---:|---:|---:|",
    ]
    for name, m in results["models"].items():
        low, high = m["real_eer_ci95"]
        lines.append(
            f"| {name} | {m['real_eer']:.2f} | {low:.2f} to {high:.2f} | "
            f"{m['real_min_dcf']:.3f} |"
        )
    with open(os.path.join(output, "real_speech.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["models"])
    eers = [results["models"][n]["real_eer"] for n in names]
    bounds = np.array([results["models"][n]["real_eer_ci95"] for n in names])
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(names), 4))
    ax.bar(names, eers, color="tab:blue", alpha=0.7)
    ax.errorbar(
        names, eers, yerr=[np.subtract(eers, bounds[:, 0]), bounds[:, 1] - eers],
        fmt="none", ecolor="black", capsize=4,
    )  # fmt: skip
    ax.axhline(50, color="grey", ls=":", lw=0.8)
    ax.set_ylabel("EER (%) on real recordings, 95 % interval")
    ax.set_title("ktuberling-data speaker verification")
    fig.tight_layout()
    fig.savefig(os.path.join(output, "real_speech.png"), dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    """Command-line entry point; returns the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=[], metavar="PACKAGE",
                        help="a packaged model (python -m kdsrl_lobes.package); "
                        "repeatable, NAME=DIR names its row")  # fmt: skip
    parser.add_argument("--sounds", default=DEFAULT_SOUNDS)
    parser.add_argument("--output", required=True)
    parser.add_argument("--min_clips", type=int, default=30)
    parser.add_argument("--max_pitch_spread", type=float, default=1.6)
    parser.add_argument("--trials_per_speaker", type=int, default=300)
    parser.add_argument("--n_resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.time()
    kept, report = speaker_folders(args.sounds, args.min_clips, args.max_pitch_spread)
    clips = {rel: audio for spk in kept.values() for rel, audio in spk.items()}
    trials = make_trials(
        {spk: list(c) for spk, c in kept.items()}, args.trials_per_speaker, args.seed
    )
    speakers = enrolment_speakers(trials)
    embeddings = {"MFCC baseline": mfcc_embeddings(clips)}
    for spec in args.model:
        name, _, path = spec.rpartition("=")
        name = name or os.path.basename(os.path.normpath(path))
        savedir = os.path.join(args.output, "savedir", name)
        embeddings[name] = model_embeddings(path, clips, savedir)
    models = {}
    for name, vectors in embeddings.items():
        scores, labels = score_trials(vectors, trials)
        models[name] = verification_report(
            scores, labels, speakers, "real", args.n_resamples, args.seed
        )
    results = {
        "sounds": os.path.abspath(args.sounds),
        "speakers": sorted(kept),
        "folders": report,
        "num_trials": len(trials),
        "models": models,
        "seconds": round(time.time() - start, 1),
    }
    write_outputs(results, args.output)
    print(open(os.path.join(args.output, "real_speech.md"), encoding="utf-8").read())
    return results


if __name__ == "__main__":
    main()

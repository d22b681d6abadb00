"""The ``README.md`` model card of a packaged multi-task model.

Authors
 * kdsrl team 2026
"""

from collections.abc import Sequence

CITATION = """\
@article{kerpicci2022kdmultitask,
  title   = {Application of Knowledge Distillation to Multi-Task Speech
             Representation Learning},
  author  = {Kerpicci, Mine and Nguyen, Van and Zhang, Shuhua and Visser, Erik},
  journal = {arXiv preprint arXiv:2210.16611},
  year    = {2022}
}

@misc{speechbrainV1,
  title  = {Open-Source Conversational AI with SpeechBrain 1.0},
  author = {Mirco Ravanelli and Titouan Parcollet and others},
  year   = {2024},
  eprint = {2407.00463},
  archivePrefix = {arXiv}
}"""


def _number(value, digits: int = 2) -> str:
    return "n/a" if value is None else f"{float(value):.{digits}f}"


def render_model_card(
    metrics: dict,
    model_type: str,
    num_layers: int,
    num_parameters: int,
    labels: Sequence[str],
    repo_id: str | None = None,
) -> str:
    """Markdown model card with hub metadata, test metrics, usage, intended use,
    limitations and citation.

    Arguments
    ---------
    metrics : dict
        The recipe's ``metrics.json``.
    model_type : str
        ``wav2vec2``, ``hubert`` or ``wavlm``.
    num_layers : int
        Transformer layers of the encoder.
    num_parameters : int
        Parameters of encoder and heads.
    labels : sequence of str
        KWS labels in class order.
    repo_id : str, optional
        Hub id shown in the usage snippet.

    Returns
    -------
    str

    Example
    -------
    >>> card = render_model_card({"kws_accuracy": 95.0, "sv_eer": 4.5}, "hubert",
    ...                          2, 24_000_000, ["yes", "no"])
    >>> "| KWS accuracy (%) | 95.00 |" in card, card.startswith("---")
    (True, True)
    """
    source = repo_id or "<this folder or hub id>"
    rows = [
        ("KWS accuracy (%)", _number(metrics.get("kws_accuracy"))),
        ("KWS test clips", str(metrics.get("kws_num_test", "n/a"))),
        ("SV EER (%)", _number(metrics.get("sv_eer"))),
        ("SV minDCF (p=0.01)", _number(metrics.get("sv_min_dcf"), 4)),
        ("SV threshold (cosine, EER point)", _number(metrics.get("sv_threshold"), 4)),
        ("SV trials", str(metrics.get("sv_num_trials", "n/a"))),
        ("Parameters", f"{num_parameters / 1e6:.2f} M"),
    ]
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    return f"""---
language: en
license: apache-2.0
library_name: speechbrain
tags:
- keyword-spotting
- speaker-verification
- knowledge-distillation
- {model_type}
datasets:
- google/speech_commands
- voxceleb
---

# Multi-task keyword spotting and speaker verification ({model_type}, \
{num_layers} layers)

One {model_type} encoder with {num_layers} transformer layers (a student
distilled from a self-supervised teacher, or the encoder named below) and two
linear heads, fine-tuned jointly: keyword spotting over the 12 Google Speech
Commands V1 classes ({", ".join(labels)}) and speaker embeddings trained with an
additive angular margin softmax on VoxCeleb1 dev speakers, scored by cosine.
Trained with the kdsrl SpeechBrain recipe
`recipes/GSC_VoxCeleb1/multitask` from `{metrics.get("encoder_source", "n/a")}`.

## Test results

| Metric | Value |
|---|---|
{table}

These are the test sets the recipe ran on: GSC V1 test and the VoxCeleb1-O
trial list for the real corpora, or kdsrl's generated embedded corpus, which is
far smaller and easier: check the number of clips and trials before comparing.

## Usage

```bash
pip install -e <a clone of the kdsrl repository>  # kdsrl_lobes and its pinned deps
```

```python
from kdsrl_lobes.hub.inference import MultiTaskSpeechModel

model = MultiTaskSpeechModel.from_hparams(source="{source}", savedir="pretrained")
probs, score, index, label = model.classify_file("keyword.wav")
score, same_speaker = model.verify_files("enrol.wav", "test.wav")
embeddings = model.encode_batch(wavs, wav_lens)  # [batch, embedding]
```

Audio at any sample rate and channel count is resampled to 16 kHz and
down-mixed. Recordings longer than one second are classified with a sliding
one-second window (0.5 s hop); speaker embeddings use the whole utterance. The
same-speaker decision uses the EER threshold of the test trials above; set
`threshold=` for another operating point. Edge export:
`python -m kdsrl_lobes.export <folder> --format onnx [--int8 --calibration
<folder of clips>]` (int8: static, calibrated on the clips; `--int8_format
dynamic` needs none).

## Intended use

Research and prototyping of small on-device voice interfaces: detecting one of
ten command words (or silence / unknown word) in one-second clips, and scoring
whether two recordings come from the same speaker.

## Limitations

- English isolated command words only; other words map to `_unknown_`.
- The verification threshold was set on the test trials above; recalibrate it on
  data from the target domain (microphones, noise, languages) before use.
- Speaker verification is not a security mechanism: it is not robust to replay,
  synthesis or impersonation, and its error rates differ across speaker groups
  and recording conditions in ways these test sets do not measure.
- Do not use it to identify or track people without their informed consent.
- `hyperparams.yaml` builds Python objects when loaded: load packages from
  sources you trust. The weights themselves are safetensors (no pickle).

## Citation

```bibtex
{CITATION}
```
"""

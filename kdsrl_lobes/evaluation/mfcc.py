"""The MFCC baseline's utterance vector: mean and standard deviation over time
of 20 MFCCs (SpeechBrain's ``MFCC`` lobe, no deltas), 40 dimensions.

One copy for every benchmark that compares a model with it
(``benchmarks/mfcc_baseline.py`` on the embedded corpus,
``benchmarks/real_speech.py`` on real recordings).

Authors
 * kdsrl team 2026
"""

from collections.abc import Iterable

import torch
from speechbrain.lobes.features import MFCC

from kdsrl_lobes.data.audio import load_audio

N_MFCC = 20


def mfcc_lobe() -> MFCC:
    """SpeechBrain's MFCC lobe as the baseline uses it (20 MFCCs, no deltas)."""
    return MFCC(deltas=False, context=False, n_mfcc=N_MFCC)


@torch.no_grad()
def mfcc_mean_std(audio: torch.Tensor, mfcc: MFCC) -> torch.Tensor:
    """Mean and std over time of the MFCCs of one utterance.

    Arguments
    ---------
    audio : torch.Tensor
        ``[time]`` mono audio at 16 kHz.
    mfcc : MFCC
        The lobe (`mfcc_lobe`).

    Returns
    -------
    torch.Tensor
        ``[2 * n_mfcc]``.

    Example
    -------
    >>> mfcc_mean_std(torch.randn(16000), mfcc_lobe()).shape
    torch.Size([40])
    """
    if audio.dim() != 1:
        raise ValueError(f"Expected [time] audio, found {list(audio.shape)}")
    feats = mfcc(audio.unsqueeze(0))[0]  # time x n_mfcc
    return torch.cat([feats.mean(0), feats.std(0)])


def mfcc_rows(rows: Iterable[dict], mfcc: MFCC) -> torch.Tensor:
    """`mfcc_mean_std` of prepared CSV rows (``wav``, ``start``, ``stop``):
    ``[rows, 2 * n_mfcc]``."""
    return torch.stack(
        [
            mfcc_mean_std(
                load_audio(row["wav"], int(row["start"]), int(row["stop"])), mfcc
            )
            for row in rows
        ]
    )

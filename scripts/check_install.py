#!/usr/bin/env python3
"""Imports the installed stack one package at a time and runs one small call of
each, so that a broken install names its package and the likely fix instead of
failing later with a traceback from deep inside torch. Run by
``scripts/setup.sh``; exits non-zero on the first failure.

Example: torchaudio builds load only against the torch release they were built
for (torchaudio 2.11.1 does not load against torch 2.11.0:
``libtorchaudio.so: undefined symbol ...``).
"""

import importlib
import importlib.metadata
import sys

PAIR_FIX = (
    "install the matching pair locked in requirements/constraints.txt: "
    "bash scripts/setup.sh (or KDSRL_FRESH_VENV=1 bash scripts/setup.sh to start "
    "from a clean environment)"
)


def version(name: str) -> str:
    """The installed distribution's version, or 'not installed'."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def check_torch():
    import torch

    torch.zeros(2).sum().item()


def check_torchaudio():
    import torch
    import torchaudio

    torchaudio.functional.resample(torch.zeros(1, 800), 8000, 16000)


def check_speechbrain():
    import speechbrain  # noqa: F401
    from speechbrain.dataio.dataio import read_audio  # noqa: F401


def check_transformers():
    from transformers import HubertConfig, HubertModel

    HubertModel(
        HubertConfig(
            hidden_size=8,
            num_hidden_layers=1,
            num_attention_heads=1,
            intermediate_size=8,
            conv_dim=(8,),
            conv_kernel=(10,),
            conv_stride=(5,),
            num_conv_pos_embeddings=4,
            num_conv_pos_embedding_groups=1,
        )
    )


def check_onnxruntime():
    import onnxruntime

    onnxruntime.get_available_providers()


def check_kdsrl():
    import kdsrl_lobes  # noqa: F401


CHECKS = [
    ("torch", check_torch, "torch"),
    ("torchaudio", check_torchaudio, "torchaudio"),
    ("speechbrain", check_speechbrain, "speechbrain"),
    ("transformers", check_transformers, "transformers"),
    ("onnxruntime", check_onnxruntime, "onnxruntime"),
    ("kdsrl_lobes", check_kdsrl, "kdsrl"),
]


def main() -> int:
    """Runs the checks in dependency order; returns the exit status."""
    for label, check, dist in CHECKS:
        try:
            check()
        except Exception as err:  # any failure: report it in a line, not a trace
            lines = [
                f"check_install: {label} {version(dist)} failed to load: "
                f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}",
            ]
            if label == "torchaudio":
                lines.append(
                    f"  torchaudio {version('torchaudio')} does not load against "
                    f"torch {version('torch')}: a torchaudio build only loads "
                    f"against its own torch release; {PAIR_FIX}"
                )
            elif label == "kdsrl_lobes":
                lines.append("  the package itself: pip install -e '.[dev]' here")
            else:
                lines.append(f"  {PAIR_FIX}")
            print("\n".join(lines), file=sys.stderr)
            return 1
    versions = ", ".join(f"{dist} {version(dist)}" for _, _, dist in CHECKS[:-1])
    print(f"check_install: OK ({versions})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

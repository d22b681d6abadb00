"""The embedded corpus generator: espeak-ng voices, recording channels, corpus
layout, rendering. ``python -m kdsrl_lobes.data.synth --output DIR [--quick]``.
Apart from the preparation of the real corpora (``kdsrl_lobes.data``), which
never imports it."""

from kdsrl_lobes.data.synth.generate import main

__all__ = ["main"]

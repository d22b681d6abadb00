"""SUPERB-style evaluation of a frozen encoder (KS, SID, ASV, PR, ASR, ER).

The encoder is frozen (`FrozenUpstream`); a learnable softmax-weighted sum of
all its hidden states (`WeightedLayerSum`) feeds a small task head; only the
weights and the head train (`brains`). The recipes under ``recipes/*/superb/``
run one task each through `run_downstream`; ``scripts/run_superb.py`` runs
them for several encoders and writes the table (`table`).
"""

from kdsrl_lobes.downstream.heads import CTCHead
from kdsrl_lobes.downstream.upstream import (
    FbankFeatures,
    FrozenUpstream,
    WeightedLayerSum,
    load_upstream,
)

__all__ = [
    "CTCHead",
    "FbankFeatures",
    "FrozenUpstream",
    "WeightedLayerSum",
    "load_upstream",
]

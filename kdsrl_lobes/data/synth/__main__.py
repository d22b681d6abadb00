"""``python -m kdsrl_lobes.data.synth``: generates the embedded corpus."""

from kdsrl_lobes.data.synth.generate import main

main()

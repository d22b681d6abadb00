"""Shared fixtures."""

import pytest


@pytest.fixture(scope="session")
def quick_corpus(tmp_path_factory):
    """One ``--quick`` embedded corpus per test session (a few seconds)."""
    from kdsrl_lobes.data import synth

    root = tmp_path_factory.mktemp("quick_corpus")
    synth.main(["--output", str(root), "--quick"])
    return str(root)

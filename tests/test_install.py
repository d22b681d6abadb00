"""The install checks: the lock pins the torch/torchaudio pair that setup.py
pins, and scripts/check_install.py names the package that fails to load."""

import importlib.util
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load_check_install():
    path = os.path.join(ROOT, "scripts", "check_install.py")
    spec = importlib.util.spec_from_file_location("check_install", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pins(text):
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==([^\s;]+)", text, re.M))


def test_lock_pins_the_setup_pair_exactly():
    with open(os.path.join(ROOT, "setup.py"), encoding="utf-8") as f:
        setup = f.read()
    with open(os.path.join(ROOT, "requirements", "constraints.txt")) as f:
        lock = _pins(f.read())
    for name in ("torch", "torchaudio"):
        pin = re.search(rf'"{name}==([0-9.]+)"', setup)
        assert pin, f"setup.py does not pin {name} exactly"
        assert lock[name] == pin.group(1), (name, lock[name], pin.group(1))
    for name in ("speechbrain", "transformers", "onnxruntime", "numpy"):
        assert name in lock, f"{name} is not locked"


def test_installed_stack_matches_the_lock():
    import torch
    import torchaudio

    with open(os.path.join(ROOT, "requirements", "constraints.txt")) as f:
        lock = _pins(f.read())
    assert torch.__version__.split("+")[0] == lock["torch"]
    assert torchaudio.__version__.split("+")[0] == lock["torchaudio"]


def test_check_install_passes_here(capsys):
    module = _load_check_install()
    assert module.main() == 0
    assert "check_install: OK" in capsys.readouterr().out


def test_check_install_names_a_torchaudio_that_does_not_load(monkeypatch, capsys):
    module = _load_check_install()

    def broken():
        raise OSError("libtorchaudio.so: undefined symbol: torch_exception_get_what")

    checks = [
        (label, broken if label == "torchaudio" else check, dist)
        for label, check, dist in module.CHECKS
    ]
    monkeypatch.setattr(module, "CHECKS", checks)
    assert module.main() == 1
    err = capsys.readouterr().err
    assert "torchaudio" in err and "does not load against torch" in err
    assert "requirements/constraints.txt" in err


@pytest.mark.parametrize("label", ["torch", "speechbrain", "transformers"])
def test_check_install_stops_at_the_first_failure(monkeypatch, capsys, label):
    module = _load_check_install()
    calls = []

    def make(name, check):
        def run():
            calls.append(name)
            if name == label:
                raise ImportError(f"No module named '{name}'")
            check()

        return run

    checks = [(name, make(name, check), dist) for name, check, dist in module.CHECKS]
    monkeypatch.setattr(module, "CHECKS", checks)
    assert module.main() == 1
    assert calls[-1] == label
    assert f"check_install: {label}" in capsys.readouterr().err

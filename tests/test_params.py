"""Parameter accounting on the real BASE configs (random init, no download)."""

import pytest

from kdsrl_lobes.evaluation import counts as params


def test_base_hubert_student_is_about_a_quarter(capsys):
    table = params.main(["--arch", "hubert"])
    out = capsys.readouterr().out
    assert "| student_encoder | 23.49 M |" in out
    assert table["teacher"] == pytest.approx(94.37e6, rel=1e-3)
    assert table["student_encoder"] == pytest.approx(23.49e6, rel=1e-3)
    assert 0.24 < table["student_encoder"] / table["teacher"] < 0.26
    assert table["prediction_heads"] == 3 * (768 * 768 + 768)

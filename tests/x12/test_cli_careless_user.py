"""A careless user of `cptverify parse`: options that would be silently ignored are refused.

An allowed amount for a code that was not asked for (a typo, or no `--cpt` at all), two different
amounts for one code, or `--network` without any code used to print a result without the
estimate the user asked for, and exit 0.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cptverify_local.cli import main
from tests.x12.builders import make_271


@pytest.fixture
def response(tmp_path: Path) -> Path:
    path = tmp_path / "response.x12"
    path.write_text(make_271())
    return path


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--allowed", "99213=100"], "--allowed 99213"),
        (["--cpt", "99214", "--allowed", "99213=100"], "--allowed 99213"),
        (["--cpt", "99213", "--allowed", "99213=100", "--allowed", "99213=50"], "--allowed 99213"),
        (["--network", "in"], "--network"),
        (["--network", "out", "--json"], "--network"),
    ],
    ids=["allowed_without_cpt", "allowed_other_code", "two_amounts", "network_alone", "json"],
)
def test_an_option_that_would_be_ignored_is_an_error(
    response: Path, capsys: pytest.CaptureFixture[str], argv: list[str], named: str
) -> None:
    code = main(["parse", str(response), *argv])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert named in err
    assert "Traceback" not in err


def test_the_same_amount_twice_is_accepted(
    response: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--cpt", "99213", "--allowed", "99213=100", "--allowed", "99213=100.00", "--json"]
    code = main(["parse", str(response), *argv])
    out, _ = capsys.readouterr()
    assert code == 0
    assert '"allowed_amount": "100.00"' in out


def test_lower_case_allowed_code_matches_its_cpt(
    response: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["parse", str(response), "--cpt", "99213", "--allowed", "99213=100", "--json"])
    assert code == 0
    code = main(["parse", str(response), "--cpt", "g0203", "--allowed", "G0203=10", "--json"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert '"allowed_amount": "10.00"' in out

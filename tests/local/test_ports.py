"""`--port` of `serve` and `simulator`: a bad number is an argparse error (exit 2), no traceback."""

from __future__ import annotations

import pytest

from cptverify_local.cli import main


@pytest.mark.parametrize("command", ["serve", "simulator"])
@pytest.mark.parametrize(
    ("port", "said"),
    [("99999", "99999 is outside 1-65535"), ("0", "0 is outside 1-65535"), ("x", "'x' is not")],
)
def test_a_port_outside_1_to_65535_is_a_usage_error(
    command: str, port: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--port", port])

    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --port: {said}" in err
    assert "Traceback" not in err

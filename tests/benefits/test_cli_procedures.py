"""`cptverify parse --cpt/--allowed/--network` on a 271 written here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cptverify_local.cli import main

# Our own 271: active plan, copay 10 in / 30 out for STC 98, deductible and OOP for the plan.
FIXTURE = (
    "ISA*00*          *00*          *ZZ*PAYER          *ZZ*CLINIC         *261203*1200*^*00501*"
    "000000001*0*T*:~GS*HB*PAYER*CLINIC*20261203*1200*1*X*005010X279A1~"
    "ST*271*0001*005010X279A1~BHT*0022*11*T1*20261203*1200~HL*1**20*1~"
    "NM1*PR*2*TEST PAYER*****PI*12345~HL*2*1*21*1~NM1*1P*2*TEST CLINIC*****XX*1234567893~"
    "HL*3*2*22*0~NM1*IL*1*CANARYLAST*JANE****MI*CANARYMEMBER123~DMG*D8*19010203*F~"
    "EB*1**30^98**TEST PLAN~EB*B**98*HM**27*10.00*****Y~EB*B**98*HM**27*30.00*****N~"
    "EB*C*IND*30***23*500*****Y~EB*C*IND*30***29*120*****Y~EB*G*IND*30***29*3000*****Y~"
    "SE*15*0001~GE*1*1~IEA*1*000000001~"
)


@pytest.fixture
def response(tmp_path: Path) -> Path:
    path = tmp_path / "response.x12"
    path.write_text(FIXTURE)
    return path


def test_json_gains_procedures(response: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["parse", str(response), "--cpt", "99213", "--allowed", "99213=95.00",
                 "--network", "in", "--json"])  # fmt: skip
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    (proc,) = data["transactions"][0]["patients"][0]["procedures"]
    assert (proc["status"], proc["match"], proc["service_types"]) == (
        "covered", "service_type", ["98", "96"])  # fmt: skip
    assert proc["networks"]["in"]["copay"][0]["amount"] == "10.00"
    assert proc["networks"]["out"]["copay"][0]["amount"] == "30.00"
    assert proc["networks"]["in"]["coinsurance"] == []
    # 95.00 allowed: deductible 120 remaining takes all of it; patient 95.00, plan 0.00.
    assert (proc["estimate"]["patient_pays"], proc["estimate"]["plan_pays"]) == ("95.00", "0.00")


def test_table_has_a_row_per_procedure_and_network(
    response: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["parse", str(response), "--cpt", "99213", "--cpt", "97110:GP"]) == 0
    out = capsys.readouterr().out
    assert "Procedures" in out
    assert "97110:GP" in out and "10.00" in out and "30.00" in out


def test_bad_option_exits_2_naming_it(response: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["parse", str(response), "--allowed", "99213=abc"])
    assert exc.value.code == 2
    assert "--allowed" in capsys.readouterr().err

"""template.yaml: cfn-lint (required), the properties the design depends on, SAM CLI checks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from cptverify_local.harness import PROJECT_ROOT, load_template

SAM = PROJECT_ROOT / ".venv-sam" / "bin" / "sam"


def _resources(kind: str) -> dict[str, Any]:
    return {k: v for k, v in load_template()["Resources"].items() if v["Type"] == kind}


def test_cfn_lint_passes() -> None:
    from cfnlint.api import lint_file

    matches = lint_file(PROJECT_ROOT / "template.yaml")
    assert [str(m) for m in matches] == []


def test_table_keys_indexes_ttl_pitr_and_cmk() -> None:
    table = load_template()["Resources"]["DataTable"]["Properties"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    gsi = table["GlobalSecondaryIndexes"][0]
    assert gsi["IndexName"] == "gsi1"
    assert [k["AttributeName"] for k in gsi["KeySchema"]] == ["gsi1pk", "gsi1sk"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["SSESpecification"]["KMSMasterKeyId"] == {"Ref": "DataKey"}


def test_bucket_is_encrypted_private_tls_only_and_expires() -> None:
    resources = load_template()["Resources"]
    bucket = resources["ArchiveBucket"]["Properties"]
    rule = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == {
        "Ref": "DataRetentionDays"
    }
    statement = resources["ArchiveBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_state_machine_logs_without_data_and_is_encrypted() -> None:
    machine = load_template()["Resources"]["InquiryStateMachine"]["Properties"]
    assert machine["StateMachineType"] == "STANDARD"
    assert machine["LoggingConfiguration"]["IncludeExecutionData"] is False
    assert machine["EncryptionConfiguration"]["Type"] == "CUSTOMER_MANAGED_KMS_KEY"
    assert machine["DefinitionS3Location"] == "statemachine/inquiry.asl.json"


def test_api_requires_keys_and_has_a_usage_plan() -> None:
    api = load_template()["Resources"]["InquiryApi"]["Properties"]
    assert api["Auth"]["ApiKeyRequired"] is True
    assert api["Auth"]["UsagePlan"]["CreateUsagePlan"] == "PER_API"


def test_functions_are_thin_handlers_on_the_layer() -> None:
    template = load_template()
    layer = template["Resources"]["CptverifyLayer"]
    assert layer["Metadata"]["BuildMethod"] == "python3.11"
    assert (PROJECT_ROOT / layer["Properties"]["ContentUri"] / "requirements.txt").exists()
    assert template["Globals"]["Function"]["Runtime"] == "python3.11"
    for name, function in _resources("AWS::Serverless::Function").items():
        app = PROJECT_ROOT / function["Properties"]["CodeUri"] / "app.py"
        assert app.exists(), name
        assert len(app.read_text(encoding="utf-8").splitlines()) < 40, f"{name} is not thin"


def test_every_wildcard_is_commented() -> None:
    """A `"*"` action or resource must sit under a comment saying why AWS needs it."""
    lines = (PROJECT_ROOT / "template.yaml").read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        stripped = line.strip()
        if stripped in ('Resource: "*"', 'Action: "kms:*"', 'Principal: "*"', 'Action: "s3:*"'):
            block = lines[max(0, number - 12) : number]
            assert any(b.strip().startswith("#") for b in block), f"line {number + 1}: {stripped}"


def _pypi_reachable() -> bool:
    try:
        with urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def sam() -> Path:
    """The SAM CLI in its own venv (`make sam-venv`), built on first use."""
    if not SAM.exists():
        if not _pypi_reachable():
            pytest.skip("the package index cannot be reached, so .venv-sam cannot be built")
        make = shutil.which("make")
        if make is None:
            pytest.skip("make is not installed")
        subprocess.run([make, "sam-venv"], cwd=PROJECT_ROOT, check=True)
    return SAM


def _sam_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
    env.update({"SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"})
    # sam build runs pip for the layer with the python3.11 found on PATH
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def test_sam_validate_lint(sam: Path) -> None:
    result = subprocess.run(
        [str(sam), "validate", "--lint", "--region", "us-east-1"],
        cwd=PROJECT_ROOT,
        env=_sam_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_build(sam: Path, tmp_path: Path) -> None:
    if not _pypi_reachable():
        pytest.skip("the package index cannot be reached; sam build installs the layer from it")
    build_dir = tmp_path / "build"
    result = subprocess.run(
        [
            str(sam),
            "build",
            "--build-dir",
            str(build_dir),
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        cwd=PROJECT_ROOT,
        env=_sam_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (build_dir / "CptverifyLayer" / "python" / "cptverify" / "inquiry.py").exists()
    assert (build_dir / "InquiryApiFunction" / "app.py").exists()
    assert (build_dir / "template.yaml").exists()

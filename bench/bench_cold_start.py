"""Cold start of each Lambda handler against a fresh `import boto3`, in fresh interpreters.

Measured in what Lambda has, not in the development venv: the bench makes (once, then reuses)
`.venv-bench-layer/`, a venv holding only boto3 at the project's pin and the layer's
`requirements.txt`; the layer package goes on PYTHONPATH (as `/opt/python` would be) with the
function's own directory. The development venv also holds the local CLI's packages (click,
rich, pygments), which httpx would import there and never in Lambda. The handler interpreters
and the `import boto3` baseline both run the layer venv's interpreter.

For each handler a new interpreter (configured as in Lambda: LAMBDA_TASK_ROOT, a function name,
an X-Ray trace header, Tracer on, no X-Ray daemon listening) times importing the handler module
and serving one sample event from `events/`. AWS is moto served over HTTP from this process
(the development venv; the child reaches it through AWS_ENDPOINT_URL, so the child imports
nothing of moto), and the payer is the simulator on loopback. The baseline is a fresh
interpreter timing `import boto3`. Each figure is the best of RUNS interpreters (the least
disturbed by other load). Goal: every handler within 4x the baseline.

Run: `python -m bench.bench_cold_start` from the project root.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAYER_VENV = ROOT / ".venv-bench-layer"
LAYER_REQUIREMENTS = ROOT / "layers/cptverify/requirements.txt"
# Packages of the development venv that Lambda never has; the child reports any it loaded.
DEV_ONLY = ("click", "rich", "pygments", "moto", "cptverify_local", "pytest")
RUNS = 7
# A sampled X-Ray trace, as Lambda sets it, so the Tracer records as when deployed.
TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
GOAL = 4.0

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
kind, target, event_path = sys.argv[1], sys.argv[2], sys.argv[3]
if kind == "baseline":
    import boto3  # noqa: F401
    print(json.dumps({"ms": (time.perf_counter() - t0) * 1000}))
    raise SystemExit(0)
import importlib.util
spec = importlib.util.spec_from_file_location("app", target)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
event = json.loads(open(event_path).read())
imported = time.perf_counter()

class Context:
    function_name = "bench"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench-request"
    def get_remaining_time_in_millis(self):
        return 30000

result = module.handler(event, Context())
elapsed = (time.perf_counter() - t0) * 1000
status = result.get("statusCode") if isinstance(result, dict) else None
dev = sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[4].split(",")))
print(json.dumps(
    {"ms": elapsed, "import_ms": (imported - t0) * 1000, "status": status, "dev": dev}
))
"""


def _boto3_pin() -> str:
    """boto3 as pinned in pyproject.toml (the layer's requirements leave it to the runtime)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pins = [d for d in project["project"]["dependencies"] if re.match(r"boto3==", d)]
    if not pins:
        raise RuntimeError("pyproject.toml pins no boto3")
    return str(pins[0])


def layer_python() -> Path:
    """The interpreter of a venv with only what Lambda has: boto3 (pinned) + layer requirements.

    Made once under `.venv-bench-layer/` and made again when the pins or the Python change
    (a stamp file holds their digest).
    """
    pins = [_boto3_pin(), LAYER_REQUIREMENTS.read_text(encoding="utf-8"), sys.version]
    digest = hashlib.sha256("\n".join(pins).encode()).hexdigest()
    stamp = LAYER_VENV / "layer-stamp"
    python = LAYER_VENV / "bin" / "python"
    if stamp.exists() and python.exists() and stamp.read_text() == digest:
        return python
    print(f"making {LAYER_VENV.name}/ (boto3 + layer requirements only)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(LAYER_VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", _boto3_pin(), "-r", str(LAYER_REQUIREMENTS)],
        check=True,
    )
    stamp.write_text(digest)
    return python


def _child(
    python: Path, kind: str, target: str, event_path: str, env: dict[str, str]
) -> dict[str, Any]:
    function_dir = str(Path(target).parent) if kind == "handler" else str(ROOT)
    env = {
        **env,
        "LAMBDA_TASK_ROOT": function_dir,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "cptverify"), function_dir]),
    }
    proc = subprocess.run(
        [str(python), "-c", CHILD, kind, target, event_path, ",".join(DEV_ONLY)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} {target} failed: {proc.stderr[-2000:]}")
    last = [line for line in proc.stdout.splitlines() if line.startswith('{"ms"')][-1]
    return dict(json.loads(last))


def _prepare(stack: Any, simulator_url: str, tmp: Path) -> dict[str, Path]:
    """Seed one inquiry and write the task events that point at it."""
    from cptverify.aws import store
    from cptverify.inquiry import Inquiry
    from cptverify.payers.credentials import SIMULATOR_PASSWORD, SIMULATOR_USERNAME
    from cptverify.service.store_request import save_request

    session = stack.session
    registry = (ROOT / "layers/cptverify/cptverify/data/payers.yaml").read_text(encoding="utf-8")
    session.client("ssm").put_parameter(Name="/cptverify/payers", Value=registry, Type="String")
    secret = json.dumps({"username": SIMULATOR_USERNAME, "password": SIMULATOR_PASSWORD})
    session.client("secretsmanager").create_secret(
        Name="cptverify/payers/ACME", SecretString=secret
    )

    api_event = json.loads((ROOT / "events/inquiry_api/post_inquiry.json").read_text())
    body = json.loads(api_event["body"])
    from datetime import UTC, datetime

    body["date_of_service"] = datetime.now(UTC).date().isoformat()
    body["payer"]["id"] = "ACME"
    body["subscriber"].update(
        member_id="ACM100001", first_name="JANE", last_name="DOE", birth_date="1980-01-15"
    )
    inquiry = Inquiry.model_validate(body)
    tenant, inquiry_id = "local", "20261203T090000-0123456789ab"
    save_request(tenant, inquiry_id, inquiry)
    store.put_inquiry(
        {
            "tenant": tenant,
            "inquiry_id": inquiry_id,
            "claim_id": inquiry.claim_id,
            "payer_id": "ACME",
            "mode": "realtime",
        }
    )
    return {
        "InquiryApiFunction": ROOT / "events/inquiry_api/get_inquiry.json",
        "PayerExchangeFunction": ROOT / "events/payer_exchange/task.json",
        "ResponseParserFunction": ROOT / "events/response_parser/task.json",
        "InquiryRecordFunction": ROOT / "events/inquiry_record/announce.json",
    }


def main() -> int:
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")  # this process only
    from moto.server import ThreadedMotoServer

    from cptverify_local.harness import AwsStack
    from cptverify_local.simulator import running_simulator

    python = layer_python()
    installed = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "list",
            "--format=freeze",
            "--exclude",
            "pip",
            "--exclude",
            "setuptools",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    print(
        f"measured in {LAYER_VENV.name}/ ({python.resolve().name}, {len(installed)} packages: "
        f"{_boto3_pin()} + {LAYER_REQUIREMENTS.relative_to(ROOT)}; layer package and function "
        "dir on PYTHONPATH); moto and the payer simulator run in this process"
    )
    results: dict[str, float] = {}
    with AwsStack() as stack, running_simulator() as simulator:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server.start()
        try:
            host, port = server.get_host_and_port()
            events = _prepare(stack, simulator.url, ROOT)
            env = {
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("POWERTOOLS_TRACE", "PYTHON", "VIRTUAL_ENV"))
            }
            env.update(stack.environment)
            env.update(
                {
                    "AWS_ENDPOINT_URL": f"http://{host}:{port}",
                    "AWS_DEFAULT_REGION": "us-east-1",
                    "AWS_ACCESS_KEY_ID": "testing",
                    "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_LAMBDA_FUNCTION_NAME": "bench",
                    "_X_AMZN_TRACE_ID": TRACE_HEADER,
                    "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
                    "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
                    "CPTVERIFY_PAYER_REGISTRY_PARAMETER": "/cptverify/payers",
                    "CPTVERIFY_PAYER_BASE_URL": simulator.url,
                    "POWERTOOLS_LOG_LEVEL": "WARNING",
                }
            )
            template = __import__("cptverify_local.harness", fromlist=["load_template"])
            resources = template.load_template()["Resources"]
            samples: dict[str, list[tuple[float, float]]] = {name: [] for name in events}
            baselines: list[float] = []
            # Rounds alternate the baseline and every handler, so they share the same load.
            for _ in range(RUNS):
                baselines.append(_child(python, "baseline", "-", "-", env)["ms"])
                for name, event_path in events.items():
                    if name == "PayerExchangeFunction":
                        _reopen(stack)
                    code = ROOT / resources[name]["Properties"]["CodeUri"] / "app.py"
                    outcome = _child(python, "handler", str(code), str(event_path), env)
                    if outcome["dev"]:
                        raise RuntimeError(f"{name} loaded dev-only packages: {outcome['dev']}")
                    samples[name].append((outcome["ms"], outcome["import_ms"]))
            baseline = min(baselines)
            print(f"baseline import boto3: {baseline:.1f} ms")
            for name, timings in samples.items():
                results[name] = min(t[0] for t in timings)
                imports = min(t[1] for t in timings)
                print(
                    f"{name}: {results[name]:.1f} ms, of which import {imports:.1f} ms "
                    f"({results[name] / baseline:.2f}x)"
                )
        finally:
            server.stop()
    worst = max(results.values()) / baseline
    verdict = "met" if worst <= GOAL else "missed"
    print(f"bench cold-start: worst {worst:.2f}x (goal <= {GOAL:.0f}x) {verdict}")
    return 0


def _reopen(stack: Any) -> None:
    """Put the seeded inquiry back to PENDING so each exchange run does the full work."""
    from cptverify.aws import clients, keys

    clients.table().update_item(
        Key={"pk": keys.inquiry_pk("local", "20261203T090000-0123456789ab"), "sk": "INQUIRY"},
        UpdateExpression="SET #s = :p",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":p": "PENDING"},
    )


if __name__ == "__main__":
    raise SystemExit(main())

"""`AwsStack`: the template's resources in moto, with our handlers behind its functions."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import sys
import threading
import time
import types
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from cptverify_local.harness.clock import RetryClock
from cptverify_local.harness.moto_memory import item_level_rollback, untracked_models
from cptverify_local.harness.template import (
    PROJECT_ROOT,
    Resolver,
    load_template,
    parameter_defaults,
    substitute_definition,
    table_keys,
)

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
LOCAL_TENANT = "local"
LOCAL_API_KEY_ID = "local-key-id"
LOCAL_API_KEY = "local-api-key-0123456789"

# Resource types the stack does not create in moto, and why.
SKIPPED_TYPES: dict[str, str] = {
    "AWS::Serverless::LayerVersion": "handlers import the layer package from the project",
    "AWS::Serverless::Api": "API events are served in-process (tests, the local API server)",
    "AWS::KMS::Alias": "the key is used by id",
    "AWS::Logs::LogGroup": "handlers log to the process; no CloudWatch Logs",
    "AWS::IAM::Role": "one stub role stands in for every role (moto does not enforce IAM)",
    "AWS::S3::BucketPolicy": "moto does not enforce bucket policies",
    "AWS::CloudWatch::Alarm": "no metrics are emitted to CloudWatch locally",
    "AWS::Events::Connection": "API destinations are not called locally",
    "AWS::Events::ApiDestination": "API destinations are not called locally",
    "AWS::Events::Rule": "the webhook rule targets an API destination",
    "AWS::SQS::QueuePolicy": "moto does not enforce queue policies",
}


@dataclass
class LambdaContext:
    """The parts of the Lambda context object Powertools reads."""

    function_name: str
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = ""
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timeout_seconds: float = 30.0
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        left = self.timeout_seconds - (time.monotonic() - self._started)
        return max(0, int(left * 1000))


@dataclass
class Invocation:
    """One handler run through the Lambda hook (for assertions and canary searches)."""

    function: str
    event: Any
    result: Any
    error: str | None


Handler = Callable[[Any, Any], Any]


def _import_handler(function_dir: Path, handler: str) -> Handler:
    module_name, _, attribute = handler.rpartition(".")
    path = function_dir / f"{module_name}.py"
    unique = f"cptverify_fn_{function_dir.name}_{module_name}"
    module = sys.modules.get(unique)
    if module is None:
        spec = importlib.util.spec_from_file_location(unique, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique] = module
        spec.loader.exec_module(module)
    fn: Handler = getattr(module, attribute)
    return fn


def _zip_stub() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


class AwsStack:
    """The template's resources in moto, with Step Functions running our handlers.

    Use as a context manager. `overrides` replaces template parameter values (the local stack
    passes short retry intervals); `concurrency` bounds how many handler runs may overlap
    (moto is not thread-safe; 1 serialises them). `real_waits` makes Wait states really wait
    (the clock records them either way); retry backoffs are always recorded, never slept.
    """

    def __init__(
        self,
        *,
        overrides: Mapping[str, Any] | None = None,
        template_path: Path | None = None,
        concurrency: int = 1,
        seed: int = 5,
        real_waits: bool = False,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self.template = load_template(template_path)
        self.parameters = parameter_defaults(self.template)
        self.parameters.update({k: str(v) for k, v in (overrides or {}).items()})
        self.clock = RetryClock(seed=seed)
        self.real_waits = real_waits
        self.extra_environment = dict(environment or {})
        self.invocations: list[Invocation] = []
        self.skipped: dict[str, str] = {}
        self.names: dict[str, str] = {}
        self.arns: dict[str, str] = {}
        self.handlers: dict[str, Handler] = {}
        self.timeouts: dict[str, float] = {}  # each function's Timeout (template), seconds
        self.environment: dict[str, str] = {}
        self._slots = threading.BoundedSemaphore(max(1, concurrency))
        self._exit = ExitStack()
        self._saved_env: dict[str, str | None] = {}
        self.suffix = uuid.uuid4().hex[:8]

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> AwsStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        from moto import mock_aws

        self._set_env(
            {
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
                "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
                "POWERTOOLS_TRACE_DISABLED": os.environ.get("POWERTOOLS_TRACE_DISABLED", "true"),
                "POWERTOOLS_METRICS_NAMESPACE": "cptverify",
                # moto's in-memory backends are not thread-safe: the functions' AWS calls that
                # run at once when deployed run one after another here (cptverify.aws.parallel).
                "CPTVERIFY_AWS_THREADS": "1",
            }
        )
        self._exit.enter_context(
            mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        )
        self._patch_moto()
        self._reset_clients()
        try:
            self._create()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        try:
            self.wait_all()
        finally:
            self._exit.close()
            for name, value in self._saved_env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            self._saved_env.clear()
            self._reset_clients()

    def _set_env(self, values: Mapping[str, str]) -> None:
        for name, value in values.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    @staticmethod
    def _reset_clients() -> None:
        from cptverify.aws import clients

        clients.reset()
        try:
            from cptverify.api import routes

            routes._tenant_cache.clear()
            routes._idempotent_submit.cache_clear()
        except ImportError:
            pass

    # -- moto patches ----------------------------------------------------------------------

    def _patch_moto(self) -> None:
        from moto.awslambda.models import LambdaFunction
        from moto.stepfunctions.parser.asl.component.common.retry import (
            jitter_strategy_decl,
            retrier_decl,
        )
        from moto.stepfunctions.parser.asl.component.state.wait.wait_function import (
            wait_function,
        )

        stack = self
        # moto otherwise keeps every object it ever made, and a copy of the whole table per
        # DynamoDB transaction: memory and time quadratic in a long run (see moto_memory).
        self._exit.enter_context(untracked_models())
        self._exit.enter_context(item_level_rollback())

        def invoke_local(function: Any, event: Any = None) -> tuple[str, bool, str]:
            return stack._invoke(function.function_name, event)

        original_wait = wait_function.WaitFunction._wait_interval

        def recorded_wait(function: Any, env: Any, wait_seconds: int) -> None:
            stack.clock.wait(wait_seconds)
            if stack.real_waits:
                original_wait(function, env, wait_seconds)

        self._exit.enter_context(mock.patch.object(LambdaFunction, "_invoke_lambda", invoke_local))
        self._exit.enter_context(
            mock.patch.object(retrier_decl, "time", types.SimpleNamespace(sleep=self.clock.sleep))
        )
        self._exit.enter_context(
            mock.patch.object(jitter_strategy_decl, "random", self.clock.random_module())
        )
        self._exit.enter_context(
            mock.patch.object(wait_function.WaitFunction, "_wait_interval", recorded_wait)
        )

    # Limitation: with the default concurrency of 1 handler runs are serialised, so local timings
    # never show payer calls overlapping.
    def _invoke(self, function_name: str, event: Any) -> tuple[str, bool, str]:
        """Run one handler as Lambda would; errors come back as Lambda's error payload."""
        payload = json.loads(event) if isinstance(event, str) and event else (event or {})
        handler = self.handlers[function_name]
        context = LambdaContext(
            function_name,
            invoked_function_arn=self.arns.get(function_name, ""),
            timeout_seconds=self.timeouts.get(function_name, 30.0),
        )
        with self._slots:
            try:
                result = handler(payload, context)
            except Exception as exc:  # noqa: BLE001 - reported the way Lambda reports it
                error = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
                self.invocations.append(
                    Invocation(function_name, payload, error, error["errorType"])
                )
                return json.dumps(error), True, ""
        self.invocations.append(Invocation(function_name, payload, result, None))
        return json.dumps(result), False, ""

    # -- resources -------------------------------------------------------------------------

    def _resources(self) -> dict[str, Any]:
        resources: dict[str, Any] = self.template["Resources"]
        return resources

    def _conditional_off(self, resource: Mapping[str, Any]) -> bool:
        condition = resource.get("Condition")
        return bool(condition)  # every condition of the template is an opt-in for AWS only

    def _create(self) -> None:
        import boto3

        self.session = boto3.session.Session(region_name=REGION)
        iam = self.client("iam")
        role = iam.create_role(
            RoleName=f"cptverify-local-{self.suffix}",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )
        self.role_arn = role["Role"]["Arn"]

        for logical_id, resource in self._resources().items():
            rtype = resource["Type"]
            if self._conditional_off(resource):
                self.skipped[logical_id] = f"condition {resource['Condition']} is off locally"
            elif rtype in SKIPPED_TYPES:
                self.skipped[logical_id] = SKIPPED_TYPES[rtype]

        created = {
            "AWS::KMS::Key": self._create_key,
            "AWS::DynamoDB::Table": self._create_table,
            "AWS::S3::Bucket": self._create_bucket,
            "AWS::SQS::Queue": self._create_queue,
            "AWS::Events::EventBus": self._create_bus,
        }
        for rtype, create in created.items():
            for logical_id, resource in self._resources().items():
                if resource["Type"] == rtype and logical_id not in self.skipped:
                    create(logical_id, resource.get("Properties") or {})

        functions = [
            (logical_id, resource)
            for logical_id, resource in self._resources().items()
            if resource["Type"] == "AWS::Serverless::Function" and logical_id not in self.skipped
        ]
        for logical_id, resource in functions:
            self._register_function(logical_id, resource.get("Properties") or {})
        for logical_id, resource in self._resources().items():
            if resource["Type"] == "AWS::StepFunctions::StateMachine":
                self._create_state_machine(logical_id, resource.get("Properties") or {})
        self.environment = self._function_environment()
        self._set_env({**self.environment, **self.extra_environment})
        self._reset_clients()
        for logical_id, resource in functions:
            self._wire_events(logical_id, resource.get("Properties") or {})
        self.add_tenant(LOCAL_TENANT, LOCAL_API_KEY_ID)

    def client(self, service: str) -> Any:
        """A boto3 client of the stack's session (inside moto)."""
        return self.session.client(service)  # type: ignore[call-overload]

    def resolver(self) -> Resolver:
        refs = {**self.parameters, **self.names}
        refs.update({"AWS::Region": REGION, "AWS::AccountId": ACCOUNT_ID, "AWS::Partition": "aws"})
        refs.update({"AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "cptverify-local"})
        return Resolver(refs, self._attribute)

    def _attribute(self, logical_id: str, attribute: str) -> str:
        if attribute == "Arn":
            return self.arns[logical_id]
        if attribute in ("Name", "QueueName"):
            return self.names[logical_id]
        raise KeyError(f"no attribute {logical_id}.{attribute} locally")

    def _create_key(self, logical_id: str, props: Mapping[str, Any]) -> None:
        key = self.client("kms").create_key(Description=str(props.get("Description", "")))
        self.names[logical_id] = key["KeyMetadata"]["KeyId"]
        self.arns[logical_id] = key["KeyMetadata"]["Arn"]

    def _create_table(self, logical_id: str, props: Mapping[str, Any]) -> None:
        resolve = self.resolver()
        name = f"cptverify-{logical_id.lower()}-{self.suffix}"
        client = self.client("dynamodb")
        kwargs: dict[str, Any] = {"TableName": name, **table_keys(logical_id)}
        sse = props.get("SSESpecification")
        if sse:
            spec = resolve(dict(sse))
            kwargs["SSESpecification"] = {
                "Enabled": bool(spec.get("SSEEnabled", True)),
                "SSEType": spec.get("SSEType", "KMS"),
                "KMSMasterKeyId": spec["KMSMasterKeyId"],
            }
        client.create_table(**kwargs)
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            client.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        pitr = props.get("PointInTimeRecoverySpecification")
        if pitr:
            client.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification=pitr)
        self.names[logical_id] = name
        self.arns[logical_id] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"

    def _create_bucket(self, logical_id: str, props: Mapping[str, Any]) -> None:
        resolve = self.resolver()
        name = f"cptverify-{logical_id.lower()}-{self.suffix}"
        s3 = self.client("s3")
        s3.create_bucket(Bucket=name)
        if props.get("BucketEncryption"):
            s3.put_bucket_encryption(
                Bucket=name,
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        {
                            "ApplyServerSideEncryptionByDefault": rule[
                                "ServerSideEncryptionByDefault"
                            ],
                            "BucketKeyEnabled": bool(rule.get("BucketKeyEnabled", False)),
                        }
                        for rule in resolve(
                            props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
                        )
                    ]
                },
            )
        if props.get("PublicAccessBlockConfiguration"):
            s3.put_public_access_block(
                Bucket=name,
                PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"],
            )
        if props.get("VersioningConfiguration"):
            s3.put_bucket_versioning(
                Bucket=name, VersioningConfiguration=props["VersioningConfiguration"]
            )
        rules = (props.get("LifecycleConfiguration") or {}).get("Rules") or []
        if rules:
            lifecycle = []
            for rule in resolve(rules):
                entry: dict[str, Any] = {
                    "ID": rule.get("Id", "rule"),
                    "Status": rule["Status"],
                    "Filter": {"Prefix": rule.get("Prefix", "")},
                }
                if "ExpirationInDays" in rule:
                    entry["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
                lifecycle.append(entry)
            s3.put_bucket_lifecycle_configuration(
                Bucket=name, LifecycleConfiguration={"Rules": lifecycle}
            )
        self.names[logical_id] = name
        self.arns[logical_id] = f"arn:aws:s3:::{name}"

    def _create_queue(self, logical_id: str, props: Mapping[str, Any]) -> None:
        name = f"cptverify-{logical_id.lower()}-{self.suffix}"
        url = self.client("sqs").create_queue(QueueName=name)["QueueUrl"]
        self.names[logical_id] = url
        self.arns[logical_id] = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"
        self.queue_names = {**getattr(self, "queue_names", {}), logical_id: name}

    def _create_bus(self, logical_id: str, props: Mapping[str, Any]) -> None:
        name = f"cptverify-{self.suffix}"
        arn = self.client("events").create_event_bus(Name=name)["EventBusArn"]
        self.names[logical_id] = name
        self.arns[logical_id] = arn

    def _register_function(self, logical_id: str, props: Mapping[str, Any]) -> None:
        code_dir = PROJECT_ROOT / str(props["CodeUri"])
        self.handlers[logical_id] = _import_handler(
            code_dir, str(props.get("Handler", "app.handler"))
        )
        self.timeouts[logical_id] = float(props.get("Timeout", 30))
        response = self.client("lambda").create_function(
            FunctionName=logical_id,
            Runtime="python3.11",
            Role=self.role_arn,
            Handler=str(props.get("Handler", "app.handler")),
            Code={"ZipFile": _zip_stub()},
        )
        self.names[logical_id] = logical_id
        self.arns[logical_id] = response["FunctionArn"]

    def definition(self, logical_id: str = "InquiryStateMachine") -> str:
        """The state machine's ASL with its substitutions resolved (as deployed, locally)."""
        props = self._resources()[logical_id]["Properties"]
        text = (PROJECT_ROOT / str(props["DefinitionS3Location"])).read_text(encoding="utf-8")
        values = self.resolver()(props.get("DefinitionSubstitutions") or {})
        return substitute_definition(text, values)

    def _create_state_machine(self, logical_id: str, props: Mapping[str, Any]) -> None:
        name = f"cptverify-inquiry-{self.suffix}"
        response = self.client("stepfunctions").create_state_machine(
            name=name,
            definition=self.definition(logical_id),
            roleArn=self.role_arn,
            type=str(props.get("StateMachineType", "STANDARD")),
        )
        self.names[logical_id] = response["stateMachineArn"]
        self.arns[logical_id] = response["stateMachineArn"]

    def _function_environment(self) -> dict[str, str]:
        """Globals and every function's variables, resolved (all handlers share one process)."""
        resolve = self.resolver()
        values: dict[str, str] = {}
        globals_env = self.template.get("Globals", {}).get("Function", {}).get("Environment", {})
        merged = dict(globals_env.get("Variables") or {})
        for resource in self._resources().values():
            if resource["Type"] == "AWS::Serverless::Function":
                env = (resource.get("Properties") or {}).get("Environment") or {}
                merged.update(env.get("Variables") or {})
        for name, value in merged.items():
            if name == "CPTVERIFY_PAYER_REGISTRY_PARAMETER":
                continue  # locally: the shipped registry file, or CPTVERIFY_PAYER_REGISTRY_FILE
            values[name] = str(resolve(value))
        return values

    def _wire_events(self, logical_id: str, props: Mapping[str, Any]) -> None:
        """S3 events of a function become bucket notifications that call its handler."""
        resolve = self.resolver()
        for event in (props.get("Events") or {}).values():
            if event.get("Type") == "EventBridgeRule":
                event = _s3_rule_as_notification(event)  # S3 -> EventBridge, wired directly
            if event.get("Type") != "S3":
                continue
            spec = event["Properties"]
            bucket = resolve(spec["Bucket"])
            events = spec["Events"] if isinstance(spec["Events"], list) else [spec["Events"]]
            config: dict[str, Any] = {"LambdaFunctionArn": self.arns[logical_id], "Events": events}
            rules = ((spec.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
            if rules:
                # SAM writes S3Key.Rules[Name, Value]; the S3 API takes Key.FilterRules.
                config["Filter"] = {
                    "Key": {
                        "FilterRules": [
                            {"Name": str(r["Name"]), "Value": str(resolve(r["Value"]))}
                            for r in rules
                        ]
                    }
                }
            s3 = self.client("s3")
            current = s3.get_bucket_notification_configuration(Bucket=bucket)
            current.pop("ResponseMetadata", None)
            current.setdefault("LambdaFunctionConfigurations", []).append(config)
            s3.put_bucket_notification_configuration(
                Bucket=bucket, NotificationConfiguration=current
            )

    # -- helpers for tests and the local stack ---------------------------------------------

    @property
    def table_name(self) -> str:
        return self.names["DataTable"]

    @property
    def bucket_name(self) -> str:
        return self.names["ArchiveBucket"]

    @property
    def state_machine_arn(self) -> str:
        return self.arns["InquiryStateMachine"]

    @property
    def event_bus_name(self) -> str:
        return self.names["EventBus"]

    def add_tenant(self, tenant: str, api_key_id: str) -> None:
        """Bind an API key id to a tenant, as an operator does for a partner."""
        from cptverify.aws import store

        store.register_api_key(api_key_id, tenant)

    def invoke(self, logical_id: str, event: Any) -> Any:
        """Call a function's handler directly (API events; not serialised with the hook)."""
        context = LambdaContext(logical_id, invoked_function_arn=self.arns.get(logical_id, ""))
        return self.handlers[logical_id](event, context)

    def executions(self) -> list[dict[str, Any]]:
        client = self.client("stepfunctions")
        return list(client.list_executions(stateMachineArn=self.state_machine_arn)["executions"])

    def wait_execution(self, execution_arn: str, timeout: float = 30.0) -> dict[str, Any]:
        """Poll until the execution leaves RUNNING; its description."""
        client = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while True:
            described: dict[str, Any] = client.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return described
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution still running after {timeout} s")
            time.sleep(0.02)

    def wait_all(self, timeout: float = 60.0) -> None:
        """Let every running execution finish (moto's interpreter threads must not outlive it)."""
        try:
            running = [e for e in self.executions() if e["status"] == "RUNNING"]
        except Exception:  # noqa: BLE001 - the stack may not have got as far as a state machine
            return
        for execution in running:
            self.wait_execution(execution["executionArn"], timeout)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        client = self.client("stepfunctions")
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        while True:
            page = client.get_execution_history(**kwargs)
            events += page["events"]
            if not page.get("nextToken"):
                return events
            kwargs["nextToken"] = page["nextToken"]

    def start_execution(self, tenant: str, inquiry_id: str, mode: str = "realtime") -> str:
        client = self.client("stepfunctions")
        response = client.start_execution(
            stateMachineArn=self.state_machine_arn,
            name=f"{inquiry_id}-{uuid.uuid4().hex[:6]}",
            input=json.dumps({"tenant": tenant, "inquiry_id": inquiry_id, "mode": mode}),
        )
        return str(response["executionArn"])


def _s3_rule_as_notification(event: Mapping[str, Any]) -> dict[str, Any]:
    """An EventBridge rule on S3 `Object Created` as the S3 event it stands for (moto's S3
    notifies Lambda directly); any other rule is returned unchanged."""
    pattern = (event.get("Properties") or {}).get("Pattern") or {}
    created = "Object Created" in pattern.get("detail-type", [])
    if pattern.get("source") != ["aws.s3"] or not created:
        return dict(event)
    detail = pattern.get("detail") or {}
    spec: dict[str, Any] = {"Bucket": detail["bucket"]["name"][0], "Events": "s3:ObjectCreated:*"}
    prefixes = [k["prefix"] for k in (detail.get("object") or {}).get("key", []) if "prefix" in k]
    if prefixes:
        spec["Filter"] = {"S3Key": {"Rules": [{"Name": "prefix", "Value": prefixes[0]}]}}
    return {"Type": "S3", "Properties": spec}


@contextmanager
def running_stack(**kwargs: Any) -> Iterator[AwsStack]:
    with AwsStack(**kwargs) as stack:
        yield stack

"""In-process AWS for tests and the local stack: moto with Step Functions execution on.

`AwsStack` reads `template.yaml`, creates what it declares in moto (table, bucket, queue, event
bus, functions, state machine from the same ASL with its substitutions resolved), runs our
handlers in-process when Step Functions or S3 invokes a function, and records every retry
backoff and Wait instead of sleeping. See `AwsStack.skipped` for what is not created and why.
"""

from cptverify_local.harness.clock import RetryClock
from cptverify_local.harness.stack import AwsStack, LambdaContext
from cptverify_local.harness.template import PROJECT_ROOT, load_template

__all__ = ["PROJECT_ROOT", "AwsStack", "LambdaContext", "RetryClock", "load_template"]

"""AWS adapters: the table, the archive bucket, the event bus, executions and pacing leases.

Every boto3 call of the domain goes through here; the rest of the package sees plain functions
and dicts. Clients are created lazily and cached per process (`clients.reset()` after a test
swaps the AWS endpoint).
"""

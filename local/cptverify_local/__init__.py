"""What runs only on a developer's or user's machine: the CLI, the payer simulator, the local stack."""

"""What runs only on a developer's or user's machine: the CLI, the simulator, the local stack."""

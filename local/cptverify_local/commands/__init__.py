"""Sub-commands of the `cptverify` CLI; each module registers itself (see `cptverify_local.cli`)."""

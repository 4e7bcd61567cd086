"""cptverify: CPT-level benefit verification over X12 270/271."""

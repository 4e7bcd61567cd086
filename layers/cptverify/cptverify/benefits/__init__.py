"""Per-CPT benefit resolution, the CPT-to-service-type crosswalk and the patient-share estimate."""

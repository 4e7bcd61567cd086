"""The partner REST API: routes (thin), response models and the one error mapping."""

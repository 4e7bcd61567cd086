"""X12 reading and writing: the envelope, the 271 model and the 270 builder."""

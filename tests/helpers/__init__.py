"""Helpers shared by the tests: config composition, data files, a trained run, W&B records."""

"""Imports every module that registers a built-in dataset (filled in by the dataset modules)."""

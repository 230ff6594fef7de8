"""Datasets: finding, validating, loading and splitting image/mask pairs."""

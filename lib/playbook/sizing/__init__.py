"""Sizing: what a model is made of and whether it fits, before any engine starts."""

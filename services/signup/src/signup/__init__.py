"""Signup: the six-step application, its confirmation link and application numbers."""

"""Typed clients of the backend services: one function per endpoint the portal uses."""

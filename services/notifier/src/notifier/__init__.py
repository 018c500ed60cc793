"""Notifier: every email and SMS, rendered from templates and sent once."""

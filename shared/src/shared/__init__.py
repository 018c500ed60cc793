"""What crosses a service boundary: event contracts, topic names and common plumbing."""

"""Support desk service: inquiries and notices."""

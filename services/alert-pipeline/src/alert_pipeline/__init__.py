"""Alert pipeline: ingest of raw UTM events, classification, alerts and statistics."""

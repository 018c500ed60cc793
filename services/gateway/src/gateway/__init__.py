"""Gateway: the web portal and the only entry for browsers."""

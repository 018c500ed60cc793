"""Portal pages, one router per area."""

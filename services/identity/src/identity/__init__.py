"""Identity: portal accounts, passwords, user IDs, 2-step verification, sessions and reissue."""

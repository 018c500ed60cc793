"""Brute-force protection an attacker cannot aim at a victim.

- per client: at most ``rate_limit_per_client`` login attempts per window;
- per (user ID, client): after ``failures_per_client`` failures in a window, that client gets 429 for
  that user ID;
- per user ID: after ``wait_after_failures`` failures, growing waits (doubling up to
  ``wait_max_seconds``, as Keycloak's brute-force detection does) — but only clients that already
  failed on that user ID are held back. A client that never failed is checked normally, so the
  owner's right password and second factor still open a session while someone else guesses.
User IDs are counted whether or not an account has them, so the answers do not tell them apart.
"""

import logging
from datetime import datetime, timedelta

from identity import errors
from identity.context import Context

log = logging.getLogger(__name__)

UNKNOWN_CLIENT = "unknown"


class Throttle:
    """Failure counters and waits."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @property
    def _window(self) -> timedelta:
        return timedelta(seconds=self.ctx.settings.rate_limit_window_seconds)

    def wait_for(self, failures: int) -> timedelta:
        """The wait after ``failures`` failures on a user ID (none before the threshold)."""
        s = self.ctx.settings
        over = failures - s.wait_after_failures
        if over < 0:
            return timedelta(0)
        return timedelta(seconds=min(s.wait_base_seconds * 2 ** min(over, 30), s.wait_max_seconds))

    async def check_allowed(self, login_id: str, client: str, now: datetime) -> None:
        """429 for a client over its budget, or one that failed on this user ID while it must wait."""
        repo, s = self.ctx.repo, self.ctx.settings
        too_many = errors.Throttled("rate_limited", errors.TOO_MANY_ATTEMPTS)
        if await repo.hit(f"client:{client}", now=now, window=self._window) > s.rate_limit_per_client:
            raise too_many
        failed_here = await repo.count(f"fail:{login_id}|{client}", now=now, window=self._window)
        if failed_here >= s.failures_per_client:
            raise too_many
        if failed_here:
            _, wait_until = await repo.login_failures(login_id)
            if wait_until is not None and wait_until > now:
                raise too_many

    async def record_failure(self, login_id: str, client: str, now: datetime) -> None:
        """Count a failed password or second factor for this user ID and client."""
        await self.ctx.repo.hit(f"fail:{login_id}|{client}", now=now, window=self._window)
        failures, wait_until = await self.ctx.repo.record_login_failure(
            login_id, now=now, wait_for=self.wait_for
        )
        if wait_until is not None:
            log.warning("failed logins on one user ID", extra={"failures": failures})

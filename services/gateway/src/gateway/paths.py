"""Backend paths built from values the browser chose, each value URL-encoded as one path segment."""

from urllib.parse import quote


def backend_path(template: str, **values: str) -> str:
    """``template`` (``"/alerts/{alert_id}"``) with every value percent-encoded, slashes included.

    A value such as ``?``, ``#``, ``../x`` or ``a/b`` stays inside its segment and can never add a
    query, a fragment or another path to the backend request.
    """
    return template.format(**{name: quote(value, safe="") for name, value in values.items()})

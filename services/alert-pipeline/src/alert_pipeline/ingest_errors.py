"""The error of one record: it goes to the dead-letter topic, the rest of its batch goes on."""


class RecordRejected(Exception):
    """One record cannot be processed: ``code`` (a short metrics label) and the reason."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason

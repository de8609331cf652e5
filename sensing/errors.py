"""Exceptions every Engage library raises for problems a user can cause or fix.

The command line turns any :class:`EngageError` into one line on stderr and exit status 2,
so each message must say what is wrong and what to do about it.
"""


class EngageError(Exception):
    """A problem the user can act on; the message is shown to them as it is."""


class SessionError(EngageError):
    """A session file or id cannot be used."""


class SessionNotFoundError(SessionError):
    """No session file matches the given id or path."""


class NotASessionError(SessionError):
    """The file exists but is not an Engage session file."""


class FutureSchemaError(SessionError):
    """The session was written by a newer Engage with a schema this version cannot read."""


class CorruptSessionError(SessionError):
    """The file claims to be a session but SQLite cannot read it (truncated or damaged)."""


class ConsentError(EngageError):
    """A stream was asked for that the participant did not consent to."""


class ModelNotFoundError(EngageError):
    """No face model file could be resolved."""


class MediaError(EngageError):
    """A camera, video or image cannot be opened or decoded."""

"""Errors a user can cause; the CLI and pages show their message instead of a traceback."""


class GlassboxError(RuntimeError):
    """Base of every error whose message is written for the person using Glassbox."""


class DataUnavailableError(GlassboxError):
    """A data set is not on disk and could not be downloaded; the message says what was tried."""


class BadInputError(GlassboxError):
    """An uploaded image, audio clip or text cannot be used; the message says why."""

"""Exceptions whose message is meant for the person running the pipeline."""


class ClaidexError(Exception):
    """A failure the user can fix: the message names what is wrong and what to do."""


class ConfigurationError(ClaidexError):
    """A missing or wrong setting, credential, server or table."""


class InputDataError(ClaidexError):
    """An input file or table that cannot be read at all (bad rows go to quarantine instead)."""

"""One exception type for every problem a user can fix (bad input, missing file, unknown name).

The CLI prints its message as a single line, never a traceback; the message says what is wrong
and what to do.
"""


class DisentkitError(Exception):
    """A user-facing error: the message says what is wrong and how to fix it."""


def unknown_name(kind: str, name: str, valid) -> DisentkitError:
    """Error for an unknown name that lists the valid ones."""
    choices = ", ".join(sorted(valid))
    return DisentkitError(f"unknown {kind} {name!r}; valid {kind}s: {choices}")

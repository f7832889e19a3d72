"""The one exception type the CLI turns into a one-line message."""


class BareError(Exception):
    """A problem the user can fix: bad input, a missing file, a wrong flag.

    The message is one line saying what went wrong, where, and how to fix it.
    """

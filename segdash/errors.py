"""The one exception type for user errors.

Anything a user can cause (a wrong path, an unknown name, a corrupt file, a
checkpoint that does not fit the dataset) raises ``SegdashError`` with a message
that says what is wrong and what to do. The command line prints that message on
one line and exits non-zero; the dashboard shows it in the page. Any other
exception is a bug.
"""


class SegdashError(Exception):
    """A problem with the user's input, explained in plain words."""

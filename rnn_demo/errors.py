"""The one exception type for problems the *user* can fix.

The CLI turns it into one line on stderr and exit code 2, the app into a ``gr.Error``;
anything else is a bug and keeps its traceback.
"""


class UserError(ValueError):
    """Bad input: a file, a setting or a model the user gave us, with a message saying what is wrong."""

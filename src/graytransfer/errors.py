"""The one exception type for mistakes a user can fix (config, files, weights)."""


class UserError(Exception):
    """A problem with the user's input. Its message is one readable line that names the key,
    file or value at fault and says what to do; entry points print it without a traceback."""

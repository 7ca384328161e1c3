"""The exception types entry points know: `UserError` for mistakes a user can fix (config,
files, weights), and `LossNotFinite`, the one a diverging run stops with."""


class UserError(Exception):
    """A problem with the user's input. Its message is one readable line that names the key,
    file or value at fault and says what to do; entry points print it without a traceback."""


class LossNotFinite(UserError):
    """The model diverged: the training loss, the validation loss or a parameter or buffer became
    NaN or infinite (raised by `graytransfer.callbacks.nan_guard` and the checkpoint callback).
    The run stopped without writing the bad state to a checkpoint; a multirun records a job that
    raises this as `diverged`, not `failed` (`graytransfer.run.job`)."""

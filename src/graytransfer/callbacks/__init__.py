"""Lightning callbacks of the project."""

from graytransfer.callbacks.input_preview import InputPreview

__all__ = ["InputPreview"]

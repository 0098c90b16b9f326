"""Single-window customs and compliance gateway."""

__version__ = "0.1.0"
STANDARD = "CEB-202205"

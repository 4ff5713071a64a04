"""The `lifecycle` command line: one module per command, options declared once (options.py), and
running.py, which runs a command body and maps every outcome to an exit code."""

from .main import app, main

__all__ = ["app", "main"]

"""Run the command line as `python -m lifecycle_cli`."""

from .cli import main

main()

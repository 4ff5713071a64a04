"""Run the real `lifecycle` entry point on a pseudo-terminal of a given size, as a person would."""

from __future__ import annotations

import fcntl
import os
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

from conftest import ROOT, Run


def run_in_terminal(
    *args: str | Path, columns: int = 80, cwd: Path | None = None, env: dict | None = None
) -> Run:
    """stdout and stderr are one terminal `columns` wide (what Rich measures); their text is
    returned as `stdout` (with plain line ends), the exit code as `code`."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    full_env = {k: v for k, v in os.environ.items() if k not in ("LIFECYCLE_RULES", "COLUMNS")}
    full_env.update(
        {
            "NO_COLOR": "1",
            "SOURCE_DATE_EPOCH": "1767225600",
            "TERM": "xterm",
            "COLUMNS": str(columns),
            **(env or {}),
        }
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "lifecycle_cli", *map(str, args)],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        cwd=cwd or ROOT,
        env=full_env,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal's other end closed: the process is done writing
            break
        if not chunk:
            break
        chunks.append(chunk)
    code = proc.wait(timeout=300)
    os.close(master)
    text = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)  # bold and italic: NO_COLOR keeps styles
    return Run(code, text, "")

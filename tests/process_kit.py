"""Child processes that tests send signals to.

A process inherits ignored signals: under ``nohup``, ``cmd &`` in a script and several batch
runners, SIGINT is ignored in the test run and would be in every child it starts, so a child
that a test interrupts with SIGINT would never stop. :func:`child` starts the command through
a small Python trampoline that puts SIGINT and SIGTERM back to their defaults and then
``exec``s the command (the same process: its pid is the one the test signals), and kills the
child if the test leaves it running.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

#: Run as ``python -c RESET command...``: default SIGINT/SIGTERM, then become ``command``.
#: (``preexec_fn`` would do the same, but it is unsafe in a process with threads, such as the
#: test HTTP server's.)
RESET = (
    "import os, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.SIG_DFL)\n"
    "signal.signal(signal.SIGTERM, signal.SIG_DFL)\n"
    "os.execv(sys.argv[1], sys.argv[1:])\n"
)


def with_default_signals(command: Sequence[str]) -> list[str]:
    """``command`` (an executable path first) started with SIGINT and SIGTERM at their defaults."""
    return [sys.executable, "-c", RESET, *map(str, command)]


@contextmanager
def child(command: Sequence[str], **popen: Any) -> Iterator[subprocess.Popen[str]]:
    """``subprocess.Popen`` of ``command`` with default SIGINT/SIGTERM handling (text mode, stdout
    and stderr piped unless given); killed and reaped on the way out if still running."""
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    with subprocess.Popen(with_default_signals(command), text=True, **popen) as proc:
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()


@contextmanager
def ignoring(signum: signal.Signals) -> Iterator[None]:
    """This process ignores ``signum`` meanwhile, as one started by ``nohup`` or ``cmd &`` ignores
    SIGINT."""
    before = signal.signal(signum, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signum, before)

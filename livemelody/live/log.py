"""The engine process's log: a rotating file in the state folder, for bug reports.

``engine.log`` in :func:`livemelody.paths.log_dir` (1 MB, 3 old files kept) records the
engine's start (versions, ports, settings), its state changes and turns, port events, late
sends (stalls), recording problems, errors with their tracebacks, and its final figures.
Records are written by a listener thread (:class:`logging.handlers.QueueListener`): the
real-time thread only puts them in a queue, it never writes a file. ``verbose`` echoes every
record to stderr (``livemelody run --verbose``).
"""

from __future__ import annotations

import logging
import logging.handlers
import queue
import sys
from pathlib import Path

from livemelody import paths

LOG_NAME = "engine.log"
MAX_BYTES = 1_000_000
BACKUPS = 3
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_file() -> Path:
    return paths.log_dir() / LOG_NAME


class EngineLog:
    """Routes the ``livemelody`` loggers to the file (and stderr) until :meth:`close`."""

    def __init__(self, verbose: bool = False):
        handlers: list[logging.Handler] = []
        self.problem: str | None = None
        """Why there is no log file (a folder that cannot be written), or None."""
        try:
            log_file().parent.mkdir(parents=True, exist_ok=True)
            handlers.append(logging.handlers.RotatingFileHandler(log_file(), maxBytes=MAX_BYTES, backupCount=BACKUPS))
        except OSError as exc:
            self.problem = f"no engine log ({log_file()}: {exc.strerror or exc})"
        if verbose:
            handlers.append(logging.StreamHandler(sys.stderr))
        for handler in handlers:
            handler.setFormatter(logging.Formatter(FORMAT))
        records: queue.SimpleQueue = queue.SimpleQueue()
        self._listener = logging.handlers.QueueListener(records, *handlers, respect_handler_level=False)
        self._handler = logging.handlers.QueueHandler(records)
        self._logger = logging.getLogger("livemelody")
        self._logger.addHandler(self._handler)
        self._logger.setLevel(logging.DEBUG)
        self._listener.start()

    def close(self) -> None:
        """Write what is queued and detach."""
        self._logger.removeHandler(self._handler)
        self._listener.stop()
        for handler in self._listener.handlers:
            handler.close()

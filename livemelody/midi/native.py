"""The one-client JACK library (``_jackmidi.c``), compiled on first use and loaded with ctypes.

The C source travels with the package; the first time the JACK ports are opened it is compiled
with the system C compiler (``$CC``, else ``cc``/``gcc``/``clang``) into the cache folder
(:func:`livemelody.paths.cache_dir` ``/native``), under a name that carries a hash of the
source and the machine, so an edited source or a new Python build gets a fresh library and
two processes compiling at once each rename a whole file into place. Compiling takes about
0.3 s, once.

Why at first use and not at install (a hatch build hook): the package stays pure Python (one
wheel for every platform, ``pip install`` needs no compiler), an editable checkout rebuilds
by itself when the C file changes, and a machine with no compiler still installs and runs:
:func:`load` raises :class:`NativeUnavailable` and the caller falls back to RtMidi's clients.

No JACK headers are needed: the C file declares the few libjack functions it uses and opens
libjack with dlopen (:func:`libjack_name`), so it builds where only ``libjack.so.0`` is
installed (Debian's ``libjack-jackd2-0``), and a machine without libjack fails at open, in words.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from livemelody import paths

SOURCE = Path(__file__).with_name("_jackmidi.c")
COMPILERS = ("cc", "gcc", "clang")
COMPILE_TIMEOUT = 60.0
"""Seconds a compile may take before it counts as failed."""

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_quick: ctypes.PyDLL | None = None
_path: Path | None = None
"""The built library's file, once loaded."""


class NativeUnavailable(Exception):
    """The library cannot be built or loaded here (no compiler, no libjack, a failed compile);
    the message is one line for the log."""


def compiler() -> str | None:
    """The C compiler to use: ``$CC`` if set, else the first of COMPILERS on PATH; None if none."""
    if os.environ.get("CC"):
        return os.environ["CC"]
    return next((found for name in COMPILERS if (found := shutil.which(name))), None)


def libjack_name() -> str:
    """What the library dlopens: the JACK client library as the system finds it."""
    return ctypes.util.find_library("jack") or ("libjack.0.dylib" if sys.platform == "darwin" else "libjack.so.0")


def library_path(cc: str) -> Path:
    """Where the library built from SOURCE by ``cc`` lives (the cache folder, a hash in the name)."""
    key = hashlib.sha256(SOURCE.read_bytes() + f"{cc}|{platform.machine()}|{sys.platform}".encode()).hexdigest()
    return paths.cache_dir() / "native" / f"_jackmidi-{key[:16]}.so"


def build(cc: str, target: Path) -> Path:
    """Compile SOURCE into ``target`` (a temporary name, then renamed). Raises NativeUnavailable."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    command = [cc, "-O2", "-fPIC", "-shared", "-o", str(partial), str(SOURCE), "-ldl", "-lpthread"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=COMPILE_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NativeUnavailable(f"cannot run the C compiler {cc!r}: {exc}") from None
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        first = (done.stderr.strip().splitlines() or ["no message"])[0]
        raise NativeUnavailable(f"compiling {SOURCE.name} with {cc!r} failed: {first}")
    os.replace(partial, target)
    return target


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    c, p, i, u64, sz = ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64, ctypes.c_size_t
    signatures = {
        "lm_open": (p, [c, c, c, c, ctypes.POINTER(i), c, sz]),
        "lm_client_name": (c, [p]),
        "lm_port_name": (c, [p, i]),
        "lm_rate": (ctypes.c_double, [p]),
        "lm_gone": (i, [p]),
        "lm_last_error": (c, []),
        "lm_set_accepting": (None, [p, i]),
        "lm_counters": (None, [p, ctypes.POINTER(u64)]),
        "lm_read": (ctypes.c_long, [p, c, sz, i]),
        "lm_wake": (None, [p]),
        "lm_send": (i, [p, c, sz]),
        "lm_pending_output": (sz, [p]),
        "lm_ports": (ctypes.c_long, [p, ctypes.c_ulong, c, sz]),
        "lm_connect": (i, [p, c, c]),
        "lm_disconnect_all": (i, [p, i]),
        "lm_close": (None, [p]),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype, function.argtypes = restype, argtypes
    return lib


def load_quick() -> ctypes.PyDLL:
    """The same library loaded with ``ctypes.PyDLL``: its calls keep the GIL. For the calls that
    return at once (queueing a message, reading a flag) on the engine's real-time thread: a
    ``CDLL`` call releases the GIL and must take it back afterwards, which can wait for another
    thread's turn (up to the switch interval). Raises NativeUnavailable."""
    global _quick
    load()
    with _lock:
        if _quick is None:
            _quick = _declare(ctypes.PyDLL(str(_path)))
        return _quick


def load() -> ctypes.CDLL:
    """The library, built first if need be (once per process). Raises NativeUnavailable."""
    global _lib, _path
    with _lock:
        if _lib is not None:
            return _lib
        cc = compiler()
        if cc is None:
            raise NativeUnavailable(f"no C compiler ({', '.join(COMPILERS)} or $CC) to build {SOURCE.name}")
        try:
            target = library_path(cc)
            if not target.exists():
                build(cc, target)
            _lib = _declare(ctypes.CDLL(str(target)))
            _path = target
        except OSError as exc:  # an unwritable cache folder, a library that will not load
            raise NativeUnavailable(f"cannot build or load {SOURCE.name}: {exc}") from None
        return _lib

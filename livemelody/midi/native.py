"""The one-client JACK library (``_jackmidi.c``), compiled on first use and loaded with ctypes.

Built by the package's one builder (:mod:`livemelody.cbuild`: the system C compiler, the cache
folder, a hash in the name, an atomic rename); without a compiler or libjack :func:`load`
raises :class:`NativeUnavailable` and the caller falls back to RtMidi's clients.

No JACK headers are needed: the C file declares the few libjack functions it uses and opens
libjack with dlopen (:func:`libjack_name`), so it builds where only ``libjack.so.0`` is
installed (Debian's ``libjack-jackd2-0``), and a machine without libjack fails at open, in words.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading
from pathlib import Path

from livemelody import cbuild
from livemelody.cbuild import COMPILE_TIMEOUT, COMPILERS, NativeUnavailable, compiler  # noqa: F401 (its names)

SOURCE = Path(__file__).with_name("_jackmidi.c")
LINK = ("-ldl", "-lpthread")
"""What the library links with, after the source."""

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_quick: ctypes.PyDLL | None = None
_path: Path | None = None
"""The built library's file, once loaded."""


def libjack_name() -> str:
    """What the library dlopens: the JACK client library as the system finds it."""
    return ctypes.util.find_library("jack") or ("libjack.0.dylib" if sys.platform == "darwin" else "libjack.so.0")


def library_path(cc: str) -> Path:
    """Where the library built from SOURCE by ``cc`` lives (:func:`livemelody.cbuild.library_path`)."""
    return cbuild.library_path(SOURCE, cc, LINK)


def build(cc: str, target: Path) -> Path:
    """Compile SOURCE into ``target`` (:func:`livemelody.cbuild.build`). Raises NativeUnavailable."""
    return cbuild.build(SOURCE, cc, target, LINK)


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
        if _lib is None:
            lib, _path = cbuild.open_library(SOURCE, compiler(), LINK)
            _lib = _declare(lib)
        return _lib

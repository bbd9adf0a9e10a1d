"""The package's C libraries, compiled on first use and loaded with ctypes: the one builder.

Two libraries use it: the one-client JACK ports (``midi/_jackmidi.c``,
:mod:`livemelody.midi.native`) and the short-term model (``_stm.c``,
:mod:`livemelody.stm_native`). The C sources travel with the package; the first time one is
needed it is compiled with the system C compiler (``$CC``, else ``cc``/``gcc``/``clang``) into
the cache folder (:func:`livemelody.paths.cache_dir` ``/native``), under a name that carries a
hash of the source, the compiler command and the machine, so an edited source or a new Python
build gets a fresh library and two processes compiling at once each rename a whole file into
place. Compiling takes about 0.3 s, once.

Why at first use and not at install (a hatch build hook): the package stays pure Python (one
wheel for every platform, ``pip install`` needs no compiler), an editable checkout rebuilds
by itself when a C file changes, and a machine with no compiler still installs and runs:
:func:`open_library` raises :class:`NativeUnavailable` and the caller falls back (RtMidi's
clients for the JACK ports, the Python PPM for the short-term model).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from livemelody import paths

COMPILERS = ("cc", "gcc", "clang")
COMPILE_TIMEOUT = 60.0
"""Seconds a compile may take before it counts as failed."""
FLAGS = ("-O2", "-fPIC", "-shared")
"""Flags of every library; each adds its own after the source (libraries to link, say)."""


class NativeUnavailable(Exception):
    """A library cannot be built or loaded here (no compiler, a failed compile, a missing
    system library); the message is one line for the log."""


def compiler() -> str | None:
    """The C compiler to use: ``$CC`` if set, else the first of COMPILERS on PATH; None if none."""
    if os.environ.get("CC"):
        return os.environ["CC"]
    return next((found for name in COMPILERS if (found := shutil.which(name))), None)


def command(source: Path, cc: str, output: Path, extra: Sequence[str] = ()) -> list[str]:
    """The compile command: ``cc`` FLAGS ``-o output source`` then ``extra``."""
    return [cc, *FLAGS, "-o", str(output), str(source), *extra]


def library_path(source: Path, cc: str, extra: Sequence[str] = ()) -> Path:
    """Where the library built from ``source`` by ``cc`` with ``extra`` lives: the cache folder,
    a hash of the source, the command and the machine in the name."""
    recipe = f"{cc}|{' '.join(FLAGS)}|{' '.join(extra)}|{platform.machine()}|{sys.platform}"
    key = hashlib.sha256(source.read_bytes() + recipe.encode()).hexdigest()
    return paths.cache_dir() / "native" / f"{source.stem}-{key[:16]}.so"


def build(source: Path, cc: str, target: Path, extra: Sequence[str] = ()) -> Path:
    """Compile ``source`` into ``target`` (a temporary name, then renamed). Raises
    NativeUnavailable."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        done = subprocess.run(
            command(source, cc, partial, extra), capture_output=True, text=True, timeout=COMPILE_TIMEOUT
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        partial.unlink(missing_ok=True)
        raise NativeUnavailable(f"cannot run the C compiler {cc!r}: {exc}") from None
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        first = (done.stderr.strip().splitlines() or ["no message"])[0]
        raise NativeUnavailable(f"compiling {source.name} with {cc!r} failed: {first}")
    os.replace(partial, target)
    return target


def open_library(
    source: Path, cc: str | None, extra: Sequence[str] = (), kind: type[ctypes.CDLL] = ctypes.CDLL
) -> tuple[ctypes.CDLL, Path]:
    """``(library, its file)``: ``source`` built by ``cc`` (a :func:`compiler`'s answer) if it is
    not in the cache yet, then loaded as ``kind`` (``ctypes.CDLL``: its calls release the GIL;
    ``ctypes.PyDLL``: they keep it). Raises NativeUnavailable (``cc`` None, a failed compile,
    an unwritable cache folder, a library that will not load)."""
    if cc is None:
        raise NativeUnavailable(f"no C compiler ({', '.join(COMPILERS)} or $CC) to build {source.name}")
    try:
        target = library_path(source, cc, extra)
        if not target.exists():
            build(source, cc, target, extra)
        return kind(str(target)), target
    except OSError as exc:
        raise NativeUnavailable(f"cannot build or load {source.name}: {exc}") from None

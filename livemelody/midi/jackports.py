"""livemelody's two JACK MIDI ports held by one JACK client, with a process callback in C.

RtMidi's JACK API opens a JACK client for every port (``livemelody`` and ``livemelody-01``);
here one client, ``livemelody``, owns ``livemelody in`` and ``livemelody out``. A port named
with ``--in`` / ``--out`` is connected to the matching one of them; without one the port is
left for the user to connect (a "virtual" port, as with RtMidi).

The process callback is native code (``_jackmidi.c``, built and loaded by
:mod:`livemelody.midi.native`) and never takes the GIL: JACK's real-time thread only moves
bytes through two lock-free ring buffers. Incoming events are stamped there and read by a
thread here (``midi-in``, blocked in a ctypes call outside the GIL until the callback wakes
it), which puts them on the engine's :class:`StampQueue` (sysex already dropped, as
:class:`~livemelody.midi.ports.RtInput` does). :meth:`JackOutput.send` queues a message from
any thread; the callback writes what was queued at the start of the next period (as RtMidi
does). Stamps are frame-accurate: the start of the period on CLOCK_MONOTONIC (the clock of
:func:`time.monotonic`: now minus JACK's frames since the period began) plus the event's frame
offset, never later than now.

The earlier callback in Python (JACK-Client) took the engine process's GIL every period: beside
a CPU-bound process it missed JACK's deadline (111-185 xruns in 33 s) and an idle engine used
7.5% of a core (RtMidi 4.5%); see ``python -m benchmarks.run --live-only --jack-ports``.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import struct
import threading
import time

from livemelody.midi import native
from livemelody.midi.ports import (
    _REASONS,
    CLIENT_NAME,
    FIXES,
    VIRTUAL_IN,
    VIRTUAL_OUT,
    PortError,
    StampQueue,
    quiet_stderr,
    resolve,
)

log = logging.getLogger("livemelody.jack")

DRAIN_TIMEOUT = 0.2
"""Seconds :meth:`JackOutput.close` waits for the process callback to take the last messages."""
READ_TIMEOUT_MS = 500
"""Longest wait of the input thread in one native call (it is woken at once by input or close)."""
READ_BUFFER = 1 << 16
"""Bytes of input records one read may take (more wait for the next read)."""
HEADER = struct.Struct("=dII")
"""One input record's header, as ``in_header`` in _jackmidi.c: monotonic stamp (s), JACK frame
time, data length; the MIDI bytes follow."""
_IS_INPUT, _IS_OUTPUT = 0x1, 0x2  # JackPortIsInput, JackPortIsOutput
_JACK_FAILURE, _JACK_SERVER_FAILED = 0x01, 0x10  # jack_status_t bits


class JackClient:
    """One JACK client with a MIDI input and a MIDI output port, active from construction.

    ``input_spec`` / ``output_spec``: the port to connect to (index, name, the same name with
    other numbers, or a unique part of one: :func:`~livemelody.midi.ports.resolve`, over the
    ports of other clients), or None to leave livemelody's port unconnected. Raises
    :class:`PortError` (one line) when there is no JACK server or a port cannot be found, and
    :class:`~livemelody.midi.native.NativeUnavailable` when the native library cannot be built
    or loaded here (the caller falls back to RtMidi).
    """

    def __init__(self, input_spec: str | None, output_spec: str | None, queue: StampQueue, name: str = CLIENT_NAME):
        self._lib = lib = native.load()
        self._quick = native.load_quick()  # calls that return at once keep the GIL (the send path)
        status, error = ctypes.c_int(0), ctypes.create_string_buffer(512)
        with quiet_stderr():
            handle = lib.lm_open(
                native.libjack_name().encode(),
                name.encode(),
                VIRTUAL_IN.encode(),
                VIRTUAL_OUT.encode(),
                ctypes.byref(status),
                error,
                len(error),
            )
        if not handle:
            text = error.value.decode(errors="replace")
            if status.value == 0 and text.startswith(("cannot load", "libjack has no")):
                raise native.NativeUnavailable(text)  # no libjack here: RtMidi says the rest
            if status.value & (_JACK_FAILURE | _JACK_SERVER_FAILED):
                raise PortError(f"cannot use the jack MIDI API: {_REASONS['jack']}; {FIXES}")
            raise PortError(f"cannot open the JACK ports: {text}")
        self._handle = handle
        self.queue = queue
        self.name = lib.lm_client_name(handle).decode()
        self.rate = lib.lm_rate(handle)
        self._in_port = lib.lm_port_name(handle, 0).decode()
        self._out_port = lib.lm_port_name(handle, 1).decode()
        self._lock = threading.Lock()
        """Held around the native calls that talk to the JACK server (listing, connecting), which
        can take milliseconds; close takes it and :attr:`_send_lock`, so nothing runs during or
        after close."""
        self._send_lock = threading.Lock()
        """Held only around native calls that return at once (queueing output, flags, counters):
        the engine's real-time thread sends under it and never waits for a port listing (with one
        lock for both, a send that met the port watcher's once-a-second listing was 2.5 ms late)."""
        self._open_ports = 2
        self.closed = False
        self._stopping = False
        self._reader = threading.Thread(target=self._read, name="midi-in", daemon=True)
        self._reader.start()
        try:
            sources, destinations = self.sources(), self.destinations()
            in_name = None if input_spec is None else sources[resolve(input_spec, sources, "input")]
            out_name = None if output_spec is None else destinations[resolve(output_spec, destinations, "output")]
            self.input = JackInput(self, in_name)
            self.output = JackOutput(self, out_name)
        except PortError:
            self._close_client()
            raise

    # ---- the input thread -----------------------------------------------------------------
    def _read(self) -> None:
        lib, handle, put = self._lib, self._handle, self.queue.put
        buffer = ctypes.create_string_buffer(READ_BUFFER)
        size, unpack = HEADER.size, HEADER.unpack_from
        while not self._stopping:
            count = lib.lm_read(handle, buffer, READ_BUFFER, READ_TIMEOUT_MS)  # outside the GIL
            if count <= 0:
                continue
            records, at = ctypes.string_at(buffer, count), 0
            while at < count:
                stamp, _frame, length = unpack(records, at)
                at += size
                put(stamp, list(records[at : at + length]))
                at += length

    # ---- any other thread -----------------------------------------------------------------
    def counters(self) -> dict[str, int]:
        """What the process callback counted: periods run, messages received, input dropped (a
        full ring or a message over 1 KiB), messages sent, output dropped (too long to fit)."""
        values = (ctypes.c_uint64 * 5)()
        with self._send_lock:
            if not self.closed:
                self._quick.lm_counters(self._handle, values)
        return dict(zip(("periods", "received", "input_dropped", "sent", "output_dropped"), values))

    @property
    def server_gone(self) -> bool:
        """JACK told this client it shut down (the server stopped or dropped the client)."""
        with self._send_lock:
            return not self.closed and bool(self._quick.lm_gone(self._handle))

    def _ports(self, flags: int) -> list[str]:
        size = 1 << 16
        while True:
            buffer = ctypes.create_string_buffer(size)
            with self._lock:
                if self.closed:
                    raise PortError("the JACK client is closed")
                if self._lib.lm_gone(self._handle):
                    raise PortError("the JACK server has gone away")
                needed = self._lib.lm_ports(self._handle, flags, buffer, size)
            if needed < size:
                break
            size = needed + 1
        names = buffer.value.decode(errors="replace").split("\n")
        own = f"{self.name}:"
        return [name for name in names if name and not name.startswith(own)]

    def sources(self) -> list[str]:
        """Other clients' MIDI output ports (what an input can listen to), as JACK lists them."""
        return self._ports(_IS_OUTPUT)

    def destinations(self) -> list[str]:
        """Other clients' MIDI input ports (where an output can send)."""
        return self._ports(_IS_INPUT)

    def connect(self, source: str, destination: str) -> None:
        """Connect two ports (already connected counts as done); raises :class:`PortError`."""
        with self._lock:
            if self.closed or self._lib.lm_gone(self._handle):
                raise PortError("the JACK client is closed")
            code = self._lib.lm_connect(self._handle, source.encode(), destination.encode())
        if code not in (0, errno.EEXIST):
            reason = self._lib.lm_last_error().decode(errors="replace") or f"error {code}"
            raise PortError(f"cannot connect {source!r} to {destination!r}: {reason}")

    def disconnect_all(self, which: int) -> None:
        """Disconnect livemelody's input (``which`` 0) or output (1) from everything."""
        with self._lock:
            if not self.closed and not self._lib.lm_gone(self._handle):
                self._lib.lm_disconnect_all(self._handle, which)

    def send(self, data: list[int]) -> None:
        message = bytes(data)
        with self._send_lock:
            if self.closed:
                raise PortError("the JACK client is closed")
            self._quick.lm_send(self._handle, message, len(message))  # a full queue (no server) drops it

    def output_pending(self) -> bool:
        with self._send_lock:
            return not self.closed and self._quick.lm_pending_output(self._handle) > 0

    def stop_input(self) -> None:
        with self._send_lock:
            if not self.closed:
                self._quick.lm_set_accepting(self._handle, 0)

    def port_closed(self) -> None:
        """One of the two ports is closed; the client closes with the second."""
        with self._lock:
            self._open_ports -= 1
            last = self._open_ports == 0
        if last:
            self._close_client()

    def _close_client(self) -> None:
        """Stop the input thread, then deactivate and close the client; once."""
        with self._lock:
            if self.closed or self._stopping:
                return
            self._stopping = True
            self._lib.lm_wake(self._handle)
        if self._reader is not threading.current_thread():
            self._reader.join()  # it returns from its native read at once
        with self._lock, self._send_lock:
            self.closed = True
            handle, self._handle = self._handle, None
        self._lib.lm_close(handle)  # waits for a running process callback, outside the GIL


class JackInput:
    """livemelody's JACK input (``livemelody:livemelody in``), connected to ``source`` if given.

    Same contract as :class:`~livemelody.midi.ports.RtInput`: ``name``, ``queue``,
    :meth:`pending`, :meth:`list_names`, :meth:`reopen`, :meth:`close` (harmless twice)."""

    def __init__(self, owner: JackClient, source: str | None):
        self.owner, self.queue, self.closed = owner, owner.queue, False
        if source is None:
            self.name = f"{VIRTUAL_IN} (virtual)"
        else:
            owner.connect(source, owner._in_port)
            self.name = source

    def pending(self):
        return self.queue.drain()

    def list_names(self) -> list[str]:
        if self.closed:
            raise PortError(f"MIDI port {self.name!r} is closed")
        return self.owner.sources()

    def reopen(self, source: str) -> JackInput:
        """Listen to ``source`` now (the watched port came back, maybe renamed); returns self."""
        self.owner.disconnect_all(0)
        self.owner.connect(source, self.owner._in_port)
        self.name = source
        return self

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.owner.stop_input()
        self.owner.port_closed()


class JackOutput:
    """livemelody's JACK output (``livemelody:livemelody out``), connected to ``destination``
    if given. :meth:`send` only queues the message for the next JACK period (any thread);
    :meth:`close` waits until a period has taken what was sent (the final panic)."""

    def __init__(self, owner: JackClient, destination: str | None):
        self.owner, self.closed = owner, False
        if destination is None:
            self.name = f"{VIRTUAL_OUT} (virtual)"
        else:
            owner.connect(owner._out_port, destination)
            self.name = destination

    def send(self, data: list[int]) -> None:
        """Queue one message (raw bytes) for the next period; :class:`PortError` after close."""
        if self.closed:
            raise PortError(f"MIDI port {self.name!r} is closed")
        try:
            self.owner.send(data)
        except PortError:
            raise PortError(f"MIDI port {self.name!r} is closed") from None

    def list_names(self) -> list[str]:
        if self.closed:
            raise PortError(f"MIDI port {self.name!r} is closed")
        return self.owner.destinations()

    def reopen(self, destination: str) -> JackOutput:
        """Send to ``destination`` now (the watched port came back, maybe renamed); returns self."""
        self.owner.disconnect_all(1)
        self.owner.connect(self.owner._out_port, destination)
        self.name = destination
        return self

    def close(self) -> None:
        """Wait (at most DRAIN_TIMEOUT) for a period after the last send, then close; harmless twice."""
        if self.closed:
            return
        self.closed = True
        owner = self.owner
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while owner.output_pending() and not owner.server_gone and time.monotonic() < deadline:
            time.sleep(0.001)
        period = owner.counters()["periods"]
        while owner.counters()["periods"] < period + 2 and not owner.server_gone and time.monotonic() < deadline:
            time.sleep(0.001)  # the period that wrote the last messages has ended
        owner.port_closed()

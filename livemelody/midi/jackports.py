"""livemelody's two JACK MIDI ports held by one JACK client, through JACK-Client (cffi over libjack).

RtMidi's JACK API opens a JACK client for every port (``livemelody`` and ``livemelody-01``);
here one client, ``livemelody``, owns ``livemelody in`` and ``livemelody out``. A port named
with ``--in`` / ``--out`` is connected to the matching one of them; without one the port is
left for the user to connect (a "virtual" port, as with RtMidi).

The process callback runs on JACK's real-time thread and is Python: it takes the GIL every
JACK period. It only moves events: incoming ones are stamped and put on the engine's
:class:`StampQueue` (sysex dropped, as :class:`~livemelody.midi.ports.RtInput` does), and what
the engine sent since the last period is written at the start of this one (as RtMidi does);
a period with nothing to write leaves the (already clear) output buffer alone.
Stamps are frame-accurate: the start of the period on the monotonic clock (now minus JACK's
frames since the period began) plus the event's frame offset, never later than now.

JACK-Client is imported only here, so only the JACK path needs libjack.
"""

from __future__ import annotations

import collections
import errno
import logging
import threading
import time

from livemelody.midi.ports import (
    _REASONS,
    CLIENT_NAME,
    FIXES,
    SYSEX,
    VIRTUAL_IN,
    VIRTUAL_OUT,
    PortError,
    StampQueue,
    quiet_stderr,
    resolve,
)

log = logging.getLogger("livemelody.jack")

OUTBOX_LIMIT = 4096
"""Most messages waiting for the next period; beyond that the oldest are dropped (a server that
has gone away runs no more periods)."""
DRAIN_TIMEOUT = 0.2
"""Seconds :meth:`JackOutput.close` waits for the process callback to take the last messages."""


class JackClient:
    """One JACK client with a MIDI input and a MIDI output port, active from construction.

    ``input_spec`` / ``output_spec``: the port to connect to (index, name, the same name with
    other numbers, or a unique part of one: :func:`~livemelody.midi.ports.resolve`, over the
    ports of other clients), or None to leave livemelody's port unconnected. Raises
    :class:`PortError` (one line) when there is no JACK server or a port cannot be found.
    """

    def __init__(self, input_spec: str | None, output_spec: str | None, queue: StampQueue, name: str = CLIENT_NAME):
        try:
            import jack
        except (ImportError, OSError) as exc:  # no JACK-Client, or no libjack on this machine
            raise PortError(f"cannot use the jack MIDI API: {exc}; {FIXES}") from None
        self._jack = jack
        jack.set_error_function(lambda message: log.warning("JACK: %s", message))  # to the log, not over the UI
        jack.set_info_function(lambda message: log.debug("JACK: %s", message))
        try:
            with quiet_stderr():
                self.client = jack.Client(name, no_start_server=True)
        except jack.JackError:
            raise PortError(f"cannot use the jack MIDI API: {_REASONS['jack']}; {FIXES}") from None
        self.queue = queue
        self.rate = self.client.samplerate
        self.outbox: collections.deque = collections.deque(maxlen=OUTBOX_LIMIT)
        self.periods = 0
        """Process callbacks run so far (the output's close waits for one after its last send)."""
        self.errors = 0
        """Events that could not be written (a full port buffer): counted, never raised on JACK's thread."""
        self.server_gone = False
        self._lock = threading.Lock()
        self._open_ports = 2
        self.closed = False
        try:
            sources, destinations = self.sources(), self.destinations()
            in_name = None if input_spec is None else sources[resolve(input_spec, sources, "input")]
            out_name = None if output_spec is None else destinations[resolve(output_spec, destinations, "output")]
            self._in = self.client.midi_inports.register(VIRTUAL_IN)
            self._out = self.client.midi_outports.register(VIRTUAL_OUT)
            self._accepting = True
            self._written = True  # clear the output buffer in the first period
            self.client.set_shutdown_callback(self._shutdown)
            self.client.set_process_callback(self._process)
            self.client.activate()
            self.input = JackInput(self, in_name)
            self.output = JackOutput(self, out_name)
        except PortError:
            self._close_client()
            raise
        except jack.JackError as exc:
            self._close_client()
            raise PortError(f"cannot open the JACK ports: {exc}") from None

    # ---- JACK's real-time thread ----------------------------------------------------------
    def _process(self, frames: int) -> None:
        try:
            if self._accepting:
                events = list(self._in.incoming_midi_events())
                if events:
                    now = time.monotonic()
                    start = now - self.client.frames_since_cycle_start / self.rate
                    put = self.queue.put
                    for offset, data in events:
                        data = bytes(data)  # the buffer is JACK's and reused
                        if data and data[0] != SYSEX:
                            put(min(start + offset / self.rate, now), list(data))
            outbox = self.outbox
            if outbox or self._written:  # an idle period leaves a clear buffer alone (fewer C calls)
                out = self._out
                out.clear_buffer()
                written = 0
                while outbox:
                    try:
                        out.write_midi_event(0, outbox.popleft())
                        written += 1
                    except self._jack.JackError:
                        self.errors += 1
                self._written = written > 0
        except Exception:  # JACK-Client stops calling a callback that raised: count, keep going
            self.errors += 1
        self.periods += 1

    def _shutdown(self, status, reason: str) -> None:
        self.server_gone = True

    # ---- any other thread -----------------------------------------------------------------
    def _ports(self, **flags) -> list[str]:
        with self._lock:
            if self.closed:
                raise PortError("the JACK client is closed")
            if self.server_gone:
                raise PortError("the JACK server has gone away")
            try:
                names = [port.name for port in self.client.get_ports(is_midi=True, **flags)]
                own = f"{self.client.name}:"
            except self._jack.JackError as exc:
                raise PortError(f"cannot list JACK ports: {exc}") from None
        return [name for name in names if not name.startswith(own)]

    def sources(self) -> list[str]:
        """Other clients' MIDI output ports (what an input can listen to), as JACK lists them."""
        return self._ports(is_output=True)

    def destinations(self) -> list[str]:
        """Other clients' MIDI input ports (where an output can send)."""
        return self._ports(is_input=True)

    def connect(self, source: str, destination: str) -> None:
        with self._lock:
            if self.closed or self.server_gone:
                raise PortError("the JACK client is closed")
            try:
                self.client.connect(source, destination)
            except self._jack.JackErrorCode as exc:
                if exc.code != errno.EEXIST:  # already connected is connected
                    raise PortError(f"cannot connect {source!r} to {destination!r}: {exc}") from None
            except self._jack.JackError as exc:
                raise PortError(f"cannot connect {source!r} to {destination!r}: {exc}") from None

    def disconnect_all(self, port) -> None:
        with self._lock:
            if self.closed or self.server_gone:
                return
            try:
                port.disconnect()
            except self._jack.JackError:
                pass

    def port_closed(self) -> None:
        """One of the two ports is closed; the client closes with the second."""
        with self._lock:
            self._open_ports -= 1
            last = self._open_ports == 0
        if last:
            self._close_client()

    def _close_client(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self._accepting = False
        self.client.deactivate()  # waits for a running process callback (cffi lets go of the GIL)
        self.client.close()


class JackInput:
    """livemelody's JACK input (``livemelody:livemelody in``), connected to ``source`` if given.

    Same contract as :class:`~livemelody.midi.ports.RtInput`: ``name``, ``queue``,
    :meth:`pending`, :meth:`list_names`, :meth:`reopen`, :meth:`close` (harmless twice)."""

    def __init__(self, owner: JackClient, source: str | None):
        self.owner, self.queue, self.closed = owner, owner.queue, False
        if source is None:
            self.name = f"{VIRTUAL_IN} (virtual)"
        else:
            owner.connect(source, owner._in.name)
            self.name = source

    def pending(self):
        return self.queue.drain()

    def list_names(self) -> list[str]:
        if self.closed:
            raise PortError(f"MIDI port {self.name!r} is closed")
        return self.owner.sources()

    def reopen(self, source: str) -> JackInput:
        """Listen to ``source`` now (the watched port came back, maybe renamed); returns self."""
        self.owner.disconnect_all(self.owner._in)
        self.owner.connect(source, self.owner._in.name)
        self.name = source
        return self

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.owner._accepting = False
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
            owner.connect(owner._out.name, destination)
            self.name = destination

    def send(self, data: list[int]) -> None:
        """Queue one message (raw bytes) for the next period; :class:`PortError` after close."""
        if self.closed:
            raise PortError(f"MIDI port {self.name!r} is closed")
        self.owner.outbox.append(bytes(data))

    def list_names(self) -> list[str]:
        if self.closed:
            raise PortError(f"MIDI port {self.name!r} is closed")
        return self.owner.destinations()

    def reopen(self, destination: str) -> JackOutput:
        """Send to ``destination`` now (the watched port came back, maybe renamed); returns self."""
        self.owner.disconnect_all(self.owner._out)
        self.owner.connect(self.owner._out.name, destination)
        self.name = destination
        return self

    def close(self) -> None:
        """Wait (at most DRAIN_TIMEOUT) for a period after the last send, then close; harmless twice."""
        if self.closed:
            return
        self.closed = True
        owner = self.owner
        deadline = time.monotonic() + DRAIN_TIMEOUT
        if owner.outbox and not owner.server_gone:
            while owner.outbox and time.monotonic() < deadline:
                time.sleep(0.001)
        period = owner.periods
        while owner.periods < period + 2 and not owner.server_gone and time.monotonic() < deadline:
            time.sleep(0.001)  # the period that wrote the last messages has ended
        owner.port_closed()

"""The module that opens MIDI ports: list, open by name or index, virtual ports, API choice.

Built on python-rtmidi directly; over JACK the engine's two ports may instead be held by one
JACK client (:func:`open_ports`, :mod:`livemelody.midi.jackports`). An
RtMidi input is read by a polling thread (no Python callback on RtMidi's thread; see :class:`RtInput`), which stamps the raw bytes with the monotonic clock
and appends them to a bounded :class:`StampQueue`; nothing else happens there.

APIs: ``alsa`` (Linux default), ``jack``, ``coremidi`` (macOS), ``winmm`` (Windows), chosen
by argument or by the ``LIVEMELODY_MIDI_API`` environment variable.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

import rtmidi

from livemelody.midi.names import find_port

ENV_API = "LIVEMELODY_MIDI_API"
CLIENT_NAME = "livemelody"
VIRTUAL_IN = "livemelody in"
VIRTUAL_OUT = "livemelody out"
SYSEX = 0xF0
"""System exclusive: counted for timing by the input, never queued (nothing here reads it)."""
INPUT_QUEUE_LIMIT = 8192
"""Most stamped messages kept waiting; beyond that the oldest are dropped (and counted)."""

APIS = {
    "alsa": rtmidi.API_LINUX_ALSA,
    "jack": rtmidi.API_UNIX_JACK,
    "coremidi": rtmidi.API_MACOSX_CORE,
    "winmm": rtmidi.API_WINDOWS_MM,
}


class PortError(Exception):
    """A port cannot be found or opened; the message is one line for the user."""


def default_api() -> str:
    """``$LIVEMELODY_MIDI_API`` if set, else the platform's usual API."""
    if os.environ.get(ENV_API):
        return os.environ[ENV_API].lower()
    if sys.platform == "darwin":
        return "coremidi"
    if sys.platform.startswith("win"):
        return "winmm"
    return "alsa"


def _api_id(api: str) -> int:
    if api not in APIS:
        raise PortError(f"unknown MIDI API {api!r}; choose one of {', '.join(APIS)}")
    if APIS[api] not in rtmidi.get_compiled_api():
        raise PortError(f"MIDI API {api!r} is not available in this python-rtmidi build")
    return APIS[api]


FIXES = "start JACK (e.g. `jackd -d alsa`), load the ALSA sequencer (`sudo modprobe snd-seq`), choose the API with --api, or try `livemelody demo`"
"""What the user can do when no MIDI API works (one line, after the reason)."""
_REASONS = {"jack": "no JACK server is running", "alsa": "no ALSA sequencer (/dev/snd/seq)"}


@contextlib.contextmanager
def quiet_stderr():
    """File descriptor 2 goes to /dev/null meanwhile: the ALSA and JACK C libraries print their
    own diagnostics there (over a dashboard, too); livemelody says what went wrong in one line."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        null = os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError):  # no fd 2 to redirect (an embedding host): print what they print
        yield
        return
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _client(kind: type, api: str, name: str = CLIENT_NAME):
    api_id = _api_id(api)
    try:
        with quiet_stderr():
            return kind(api_id, name=name)
    except Exception:  # rtmidi raises SystemError/RuntimeError when the API has no server
        raise PortError(f"cannot use the {api} MIDI API: {_REASONS.get(api, 'it did not start')}; {FIXES}") from None


def probe_api(api: str) -> None:
    """Raise :class:`PortError` (one line naming the fixes) unless ``api`` can open a client now."""
    _client(rtmidi.MidiOut, api, CLIENT_NAME + " probe").delete()


def working_api(preferred: str, others: bool) -> str:
    """``preferred`` if it works now; else, when ``others`` is true (the user named no API),
    the first other compiled API that does. Raises :class:`PortError`: for ``preferred`` when
    it was named, else one line saying there is no MIDI system at all."""
    try:
        probe_api(preferred)
        return preferred
    except PortError:
        if not others:
            raise
    compiled = set(rtmidi.get_compiled_api())
    for api in (a for a, number in APIS.items() if a != preferred and number in compiled):
        try:
            probe_api(api)
            return api
        except PortError:
            continue
    tried = "; ".join(_REASONS.get(a, f"{a} unavailable") for a, n in APIS.items() if n in compiled)
    raise PortError(f"no MIDI system: {tried}; {FIXES}")


class PortScanner:
    """A pair of unconnected clients kept open to list ports cheaply and often (about 1 Hz)."""

    def __init__(self, api: str):
        self.api = api
        self._in = _client(rtmidi.MidiIn, api, CLIENT_NAME + " scan")
        self._out = _client(rtmidi.MidiOut, api, CLIENT_NAME + " scan")

    def names(self) -> tuple[list[str], list[str]]:
        """(input names, output names) now; raises :class:`PortError` if the API went away."""
        try:
            return list(self._in.get_ports()), list(self._out.get_ports())
        except Exception as exc:  # e.g. the JACK server died
            raise PortError(f"cannot list {self.api} ports: {exc}") from None

    def close(self) -> None:
        self._in.delete()
        self._out.delete()


def list_ports(api: str) -> tuple[list[str], list[str]]:
    """(input names, output names) that ``api`` sees now."""
    scanner = PortScanner(api)
    try:
        return scanner.names()
    finally:
        scanner.close()


def resolve(spec: str, names: list[str], direction: str) -> int:
    """Index of the port ``spec`` names: an index, an exact name, the same name with other
    numbers (:func:`livemelody.midi.names.find_port`), or a unique substring (any case)."""
    listing = "; ".join(f"{i}: {n}" for i, n in enumerate(names)) or "none"
    if spec.strip().isdigit():
        index = int(spec)
        if index < len(names):
            return index
        raise PortError(f"no {direction} port number {index}; {direction} ports: {listing}")
    if spec in names:
        return names.index(spec)
    again = find_port(spec, names)  # the same port under new ALSA numbers or a JACK -NN suffix
    if again is not None:
        return names.index(again)
    matches = [i for i, n in enumerate(names) if spec.lower() in n.lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise PortError(f"no {direction} port matches {spec!r}; {direction} ports: {listing}")
    raise PortError(f"{spec!r} matches several {direction} ports: " + "; ".join(names[i] for i in matches))


def _open(rt, spec: str | None, virtual_name: str, direction: str) -> str:
    """Open ``rt`` on the port ``spec`` names (see :func:`resolve`), or a virtual port if None;
    returns the port's name. On failure the client is deleted and :class:`PortError` raised."""
    try:
        if spec is None:
            rt.open_virtual_port(virtual_name)
            return f"{virtual_name} (virtual)"
        names = rt.get_ports()
        index = resolve(spec, names, direction)
        rt.open_port(index)
        return names[index]
    except PortError:
        rt.delete()
        raise
    except Exception as exc:
        rt.delete()
        raise PortError(f"cannot open MIDI {direction} {spec or virtual_name!r}: {exc}") from None


Stamped = tuple[float, list[int]]
"""(monotonic seconds when the message arrived, raw MIDI bytes)."""


class InputPort(Protocol):
    name: str

    def pending(self) -> list[Stamped]: ...

    def close(self) -> None: ...


class OutputPort(Protocol):
    name: str

    def send(self, data: list[int]) -> None: ...

    def close(self) -> None: ...


@dataclass
class StampQueue:
    """Bounded, thread-safe queue of stamped messages, filled by the input's polling thread and
    drained by the real-time loop, which also waits on it (:meth:`wake` ends the wait early)."""

    limit: int = INPUT_QUEUE_LIMIT
    dropped: int = 0
    _items: collections.deque = field(default_factory=collections.deque)
    _wake: threading.Event = field(default_factory=threading.Event)

    def put(self, stamp: float, data: list[int]) -> None:
        if len(self._items) >= self.limit:
            self._items.popleft()
            self.dropped += 1
        self._items.append((stamp, data))
        self._wake.set()

    def drain(self) -> list[Stamped]:
        # Clear before draining: a message put meanwhile sets the flag again, so it is never
        # left in the queue with the loop asleep.
        self._wake.clear()
        items = []
        while self._items:
            items.append(self._items.popleft())
        return items

    def wake(self) -> None:
        """End a :meth:`wait` now (a command or a stop for the loop)."""
        self._wake.set()

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds for a message or a :meth:`wake`; True if woken."""
        return self._wake.wait(timeout)


class _RtPort:
    """What rtmidi inputs and outputs share: listing ports through their own client, and a
    closed state (as mido's port base classes have): :meth:`close` may be called any number of
    times; listing or sending after it raises :class:`PortError`. The lock keeps a send on the
    real-time thread from racing a close on the port watcher's (RtMidi frees its client on
    delete, and a call after that crashes the process)."""

    _rt: rtmidi.MidiIn | rtmidi.MidiOut | None
    name: str

    def _init_state(self) -> None:
        self._lock = threading.Lock()
        self.closed = False

    def _closed_error(self) -> PortError:
        return PortError(f"MIDI port {getattr(self, 'name', '?')!r} is closed")

    def list_names(self) -> list[str]:
        """Port names this API sees now in this port's direction (sources for an input,
        destinations for an output), through this port's own client: no extra JACK client."""
        with self._lock:
            if self.closed:
                raise self._closed_error()
            try:
                return list(self._rt.get_ports())
            except Exception as exc:
                raise PortError(f"cannot list ports: {exc}") from None

    def _release(self) -> None:
        """Close and free the RtMidi client, once."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            rt, self._rt = self._rt, None
            rt.close_port()
            rt.delete()


class RtInput(_RtPort):
    """An rtmidi input read by a polling thread that stamps into a :class:`StampQueue`.

    No Python callback: RtMidi calls a callback from the MIDI API's own thread (JACK's
    process thread), which would then wait for the GIL; while the real-time loop holds it,
    JACK's cycle overruns and events are lost. RtMidi queues messages itself instead, with
    the time since the previous message; a thread drains that queue every ``POLL_SECONDS``
    while messages flow and every ``IDLE_POLL_SECONDS`` after ``IDLE_AFTER`` quiet seconds,
    which keeps an idle engine's CPU use low.

    Stamps do not depend on the poll interval: the summed RtMidi deltas, of every message
    (Active Sensing and system exclusive included, see ``__init__``), give each message's
    time on the API's clock, and the offset to the monotonic clock is the smallest
    (poll time - summed time) seen, i.e. from the poll that came soonest after a message;
    the offset may creep up by ``DRIFT`` seconds per second so slow clock drift is followed.
    """

    POLL_SECONDS = 0.001
    IDLE_POLL_SECONDS = 0.008
    IDLE_AFTER = 2.0
    DRIFT = 1e-4

    def __init__(self, api: str, spec: str | None, queue: StampQueue | None = None):
        self._init_state()
        self.api = api
        self.queue = queue or StampQueue()
        self._rt = _client(rtmidi.MidiIn, api)
        # Nothing is ignored by RtMidi: the delta time of a message it ignores is lost (its JACK
        # and ALSA inputs measure each delta from the previous message, ignored or not), so with
        # Active Sensing every 300 ms summed deltas fell 7.7 s behind in 10 s (measured over
        # JACK). System exclusive is dropped here instead, after its delta has been counted.
        self._rt.ignore_types(sysex=False, timing=False, active_sense=False)
        self.name = _open(self._rt, spec, VIRTUAL_IN, "input")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="midi-in", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        get, put, now, wait = self._rt.get_message, self.queue.put, time.monotonic, self._stop.wait
        last_message = now()
        summed: float | None = None  # seconds on RtMidi's clock since the first message
        offset, offset_at = 0.0, 0.0
        while not wait(self.POLL_SECONDS if now() - last_message < self.IDLE_AFTER else self.IDLE_POLL_SECONDS):
            batch = []
            while True:
                message = get()
                if message is None:
                    break
                data, delta = message
                summed = 0.0 if summed is None else summed + max(delta, 0.0)
                if data and data[0] != SYSEX:
                    batch.append((data, summed))
            if not batch:
                continue
            last_message = polled = now()
            candidate = polled - batch[-1][1]
            if offset_at == 0.0:
                offset = candidate
            else:
                offset = min(candidate, offset + self.DRIFT * (polled - offset_at))
            offset_at = polled
            for data, at in batch:
                put(min(at + offset, polled), data)

    def pending(self) -> list[Stamped]:
        return self.queue.drain()

    def reopen(self, spec: str) -> RtInput:
        """A new input on ``spec`` (the watched port came back), filling the same queue; the
        caller closes this one."""
        return RtInput(self.api, spec, self.queue)

    def close(self) -> None:
        """Stop polling and close the port; harmless when already closed."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=1)
        if self._thread.is_alive():  # still inside RtMidi: freeing it now would crash the process
            return
        self._release()


class RtOutput(_RtPort):
    """An rtmidi output opened by name/index, or a virtual port when ``spec`` is None.

    Some APIs (JACK) deliver sent messages on their next cycle: :meth:`close` waits until
    ``DRAIN_SECONDS`` after the last send, so a panic sent just before closing arrives.
    """

    DRAIN_SECONDS = 0.05

    def __init__(self, api: str, spec: str | None):
        self._init_state()
        self.api = api
        self._last_send = 0.0
        self._rt = _client(rtmidi.MidiOut, api)
        self.name = _open(self._rt, spec, VIRTUAL_OUT, "output")

    def send(self, data: list[int]) -> None:
        """Send one message (raw bytes); raises :class:`PortError` after :meth:`close`."""
        with self._lock:
            if self.closed:
                raise self._closed_error()
            self._rt.send_message(data)
        self._last_send = time.monotonic()

    def reopen(self, spec: str) -> RtOutput:
        """A new output on ``spec`` (the watched port came back); the caller closes this one."""
        return RtOutput(self.api, spec)

    def close(self) -> None:
        """Wait for the last send to be delivered, then close; harmless when already closed."""
        wait = self._last_send + self.DRAIN_SECONDS - time.monotonic()
        if wait > 0 and not self.closed:
            time.sleep(wait)
        self._release()


JACK_PORTS_ENV = "LIVEMELODY_JACK_PORTS"
"""How the engine holds its JACK ports: ``client`` (one JACK client for both, its process
callback in C: :mod:`livemelody.midi.jackports`) or ``rtmidi`` (RtMidi's JACK API: a client per
port)."""
JACK_PORTS_KINDS = ("client", "rtmidi")
DEFAULT_JACK_PORTS = "client"
"""One JACK client for both ports, as a patchbay should show one instrument (issue 10). Measured
side by side with RtMidi's clients (``python -m benchmarks.run --live-only --jack-ports``;
docs/DEVELOPING.md, "Ports"): lateness and xruns alike, about 1% of a core more when idle at a
32-frame period. Where the C library cannot be built, RtMidi's clients, said in one log line."""


def jack_ports_kind() -> str:
    """``$LIVEMELODY_JACK_PORTS`` if set (one of JACK_PORTS_KINDS), else DEFAULT_JACK_PORTS."""
    kind = os.environ.get(JACK_PORTS_ENV, DEFAULT_JACK_PORTS).lower()
    if kind not in JACK_PORTS_KINDS:
        raise PortError(f"{JACK_PORTS_ENV}={kind!r}: choose one of {', '.join(JACK_PORTS_KINDS)}")
    return kind


def open_ports(api: str, input_spec: str | None, output_spec: str | None, queue: StampQueue):
    """The engine's (input, output) on ``api``: ports named by ``input_spec`` / ``output_spec``
    (see :func:`resolve`), virtual ports where None. Over JACK both are held by one JACK client
    (the default; ``$LIVEMELODY_JACK_PORTS=rtmidi`` chooses RtMidi's client per port) when the
    one-client library can be built and loaded here; without a C compiler or libjack, RtMidi's
    client per port, said in one log line.
    Raises :class:`PortError`."""
    if api == "jack" and jack_ports_kind() == "client":
        from livemelody.midi.jackports import JackClient
        from livemelody.midi.native import NativeUnavailable

        try:
            client = JackClient(input_spec, output_spec, queue)
            return client.input, client.output
        except NativeUnavailable as exc:
            logging.getLogger("livemelody.jack").warning(
                "JACK ports: one client unavailable (%s); using RtMidi's client per port", exc
            )
    midi_in = RtInput(api, input_spec, queue)
    try:
        midi_out = RtOutput(api, output_spec)
    except PortError:
        midi_in.close()
        raise
    return midi_in, midi_out

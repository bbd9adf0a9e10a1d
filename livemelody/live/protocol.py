"""What crosses into the real-time loop and out of the engine process: small typed messages.

Commands go to the loop (:meth:`RealtimeLoop.submit`): from the parent process over the
command pipe (:class:`SetSettings`, :class:`Panic`, :class:`EndCall`, :class:`ResetStats`,
:class:`Stop`), or from helper threads inside the engine process (:class:`SwapOutput`,
:class:`InputLost`, :class:`Notice`). Events go from the engine process to the parent over
the event pipe (:class:`Ready`, :class:`SnapshotEvent`, :class:`RecordingFailed`,
:class:`EngineWarning`, :class:`Stopped`, :class:`Failed`). Each is dispatched by its type, explicitly; nothing is
looked up by name. All are picklable except :class:`SwapOutput`, which never leaves its process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# ---- commands: parent -> engine -----------------------------------------------------------


@dataclass(frozen=True)
class SetSettings:
    """Change live settings (``EngineConfig`` field -> value); invalid ones change nothing and
    are reported in the snapshot's message."""

    changes: dict[str, Any]


@dataclass(frozen=True)
class Panic:
    """Silence everything now and forget the call and the answer."""


@dataclass(frozen=True)
class EndCall:
    """End the call being played now (it is answered as if the silence had ended it)."""


@dataclass(frozen=True)
class ResetStats:
    """Start the timing figures (send lateness, generation time) afresh."""


@dataclass(frozen=True)
class Stop:
    """Stop the engine (the loop sends its panic on the way out)."""


# ---- commands from helper threads inside the engine process --------------------------------


@dataclass(frozen=True)
class SwapOutput:
    """The output port was lost or is back: release everything, send through ``send`` from
    now on, and show ``message``."""

    send: Callable[[list[int]], None]
    message: str


@dataclass(frozen=True)
class InputLost:
    """The input port vanished: the call being played ends; ``message`` is shown."""

    message: str


@dataclass(frozen=True)
class Notice:
    """Something to show the player (a port came back, a recording problem)."""

    message: str


Command = SetSettings | Panic | EndCall | ResetStats | Stop | SwapOutput | InputLost | Notice

# ---- events: engine -> parent ---------------------------------------------------------------


@dataclass(frozen=True)
class Ready:
    """The engine runs: the ports it opened, the styles it loaded, where its grid starts
    (monotonic seconds) and how its timing thread is scheduled."""

    input: str
    output: str
    styles: tuple[str, ...]
    grid_origin: float
    priority: str


@dataclass(frozen=True)
class SnapshotEvent:
    """The latest :class:`~livemelody.live.engine.Snapshot` (about 20 a second)."""

    snapshot: Any


@dataclass(frozen=True)
class RecordingFailed:
    """The session file could not be written (the engine plays on); one line for the user."""

    message: str


@dataclass(frozen=True)
class EngineWarning:
    """Something the engine skipped but plays on without (a style or VAE that does not load)."""

    message: str


@dataclass(frozen=True)
class Stopped:
    """The engine stopped cleanly; its final timing figures (milliseconds, counts)."""

    stats: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Failed:
    """The engine could not start, or stopped on an error; one line for the user."""

    message: str


Event = Ready | SnapshotEvent | RecordingFailed | EngineWarning | Stopped | Failed

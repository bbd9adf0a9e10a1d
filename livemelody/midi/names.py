"""Port names without the numbers that change when a device comes back.

ALSA port names end in the client:port numbers the sequencer gave this time
(``Keyboard:Keyboard MIDI 1 20:0`` is ``... 24:0`` after a re-plug or a reboot); the a2j
bridge puts the ALSA client number in brackets (``a2j:Keyboard [20] (capture): ...``); JACK
gives a client whose name is taken a ``-01``, ``-02`` ... suffix (``synth-01:in``). A port
remembered or watched by name is found again by its :func:`stable_name`.
"""

from __future__ import annotations

import re

_ALSA_NUMBERS = re.compile(r"\s+\d+:\d+$")
_A2J_CLIENT = re.compile(r"\s*\[\d+\]")
_JACK_CLIENT_SUFFIX = re.compile(r"^([^:]+?)-\d{2,}(?=:)")


def stable_name(name: str) -> str:
    """``name`` without ALSA client:port numbers, a2j's [client] and JACK's -NN client suffix."""
    name = _ALSA_NUMBERS.sub("", name.strip())
    name = _A2J_CLIENT.sub("", name)
    return _JACK_CLIENT_SUFFIX.sub(r"\1", name)


def find_port(wanted: str, names: list[str]) -> str | None:
    """The name in ``names`` that is ``wanted``, or the only one with its stable name; None if
    there is none (or several: then the numbers are all that tells them apart)."""
    if wanted in names:
        return wanted
    key = stable_name(wanted)
    matches = [name for name in names if stable_name(name) == key]
    return matches[0] if len(matches) == 1 else None

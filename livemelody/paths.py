"""Where livemelody keeps its files, per platform, through platformdirs (the one place for it).

| folder | Linux (XDG) | macOS | Windows |
|---|---|---|---|
| config (``settings.toml``) | ``~/.config/livemelody`` | ``~/Library/Application Support/livemelody`` | ``%LOCALAPPDATA%\\livemelody`` |
| data (``sessions/``, ``models/``) | ``~/.local/share/livemelody`` | ``~/Library/Application Support/livemelody`` | ``%LOCALAPPDATA%\\livemelody`` |
| state (``ports.json``, ``logs/``) | ``~/.local/state/livemelody`` | ``~/Library/Application Support/livemelody`` | ``%LOCALAPPDATA%\\livemelody`` |
| cache (``native/``: the compiled C libraries) | ``~/.cache/livemelody`` | ``~/Library/Caches/livemelody`` | ``%LOCALAPPDATA%\\livemelody\\Cache`` |

On Linux ``$XDG_CONFIG_HOME``, ``$XDG_DATA_HOME``, ``$XDG_STATE_HOME`` and ``$XDG_CACHE_HOME`` move them (the XDG
Base Directory specification, which platformdirs follows). Nothing here creates a folder:
whoever writes creates what it needs and reports an :class:`OSError` in words.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs

APP = "livemelody"


def _dirs() -> platformdirs.PlatformDirs:
    # Built per call: the XDG variables are read when a path is asked for (tests move them).
    return platformdirs.PlatformDirs(APP, appauthor=False)


def config_dir() -> Path:
    """The settings folder (``settings.toml``)."""
    return Path(_dirs().user_config_dir)


def data_dir() -> Path:
    """The user's data: recorded sessions and installed user models."""
    return Path(_dirs().user_data_dir)


def state_dir() -> Path:
    """What the program remembers for itself: the last ports, the engine's log."""
    return Path(_dirs().user_state_dir)


def settings_file() -> Path:
    return config_dir() / "settings.toml"


def sessions_dir() -> Path:
    """Recorded sessions (one MIDI file per ``run``, ``dashboard`` or ``demo``)."""
    return data_dir() / "sessions"


def user_models_dir() -> Path:
    """Styles the user trained or installed; searched after ``$LIVEMELODY_MODELS``, before the
    shipped models (:mod:`livemelody.models.registry`)."""
    return data_dir() / "models"


def ports_file() -> Path:
    """The ports ``run`` used last, by MIDI API."""
    return state_dir() / "ports.json"


def log_dir() -> Path:
    """The engine process's rotating log (``engine.log``), for bug reports."""
    return state_dir() / "logs"


def cache_dir() -> Path:
    """What can be rebuilt at any time: the C libraries compiled on first use (:mod:`livemelody.cbuild`:
    the one-client JACK library, the short-term model). ``$XDG_CACHE_HOME`` moves it on Linux."""
    return Path(_dirs().user_cache_dir)

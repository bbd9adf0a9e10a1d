"""Settings that persist between sessions: a TOML file in the user's configuration folder.

``settings.toml`` in the configuration folder (:mod:`livemelody.paths`; on Linux
``$XDG_CONFIG_HOME/livemelody``, default ``~/.config/livemelody``)::

    format = 2          # MIDI channels 1-16, as the command line and the dashboard show them
    [engine]            # any live setting (livemelody.config.SETTINGS); "none" where it may be off
    style = "han"
    output_channel = 1
    temperature = 0.9
    answer_bars = "none"
    [controls]          # controller numbers 0-127, "none" = unmapped
    temperature = 20
    [ports]             # MIDI API and port names, as `livemelody ports` lists them
    api = "jack"
    input = "keyboard"

Command-line options override the file. A broken file, an unknown key or a bad value never
stops the program: :func:`load_settings` returns the defaults for what it could not use and
one line per problem for the user.

MIDI channels are written 1-16 (``format = 2``). A file without ``format`` (written before)
holds them 0-15 and is read so; the next save writes it in the new format.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from livemelody import paths
from livemelody.config import SETTINGS, ControlMap, EngineConfig, Setting

NONE = "none"
"""How a setting that is off (None) is written: TOML has no null."""
PORT_KEYS = ("api", "input", "output")
FORMAT = 2
"""The file's format: 2 writes MIDI channels 1-16; a file without ``format`` holds them 0-15."""


def settings_path() -> Path:
    """The settings file (:func:`livemelody.paths.settings_file`)."""
    return paths.settings_file()


@dataclass(frozen=True)
class Settings:
    """What is remembered: the engine's settings (control map included) and the ports."""

    config: EngineConfig = field(default_factory=EngineConfig)
    api: str | None = None
    input: str | None = None
    output: str | None = None

    def changed(self, **changes) -> Settings:
        return replace(self, **changes)


def _value(raw):
    return None if raw == NONE else raw


def _coerce(setting: Setting, value):
    """A TOML value as the setting's type (a whole number where a float is expected)."""
    if setting.kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _apply_engine(config: EngineConfig, table, warnings: list[str], one_based: bool = True) -> EngineConfig:
    """``config`` with each valid key of the ``[engine]`` table applied (the settings table
    decides what is valid); problems appended to ``warnings``. ``one_based``: MIDI channels
    are written 1-16 (format 2), else 0-15."""
    if not isinstance(table, dict):
        warnings.append("[engine] is not a table; ignored")
        return config
    for key, raw in table.items():
        if key == "beats_per_bar" and isinstance(raw, int) and f"{raw}/4" in SETTINGS["meter"].choices:
            key, raw = "meter", f"{raw}/4"  # the setting before the meter (quarter-note beats per bar)
        setting = SETTINGS.get(key)
        if setting is None:
            warnings.append(f"unknown setting engine.{key} ignored")
            continue
        value = _coerce(setting, _value(raw))
        if one_based and setting.one_based and isinstance(value, int) and not isinstance(value, bool):
            value -= 1
        problem = setting.problem(value)
        if problem is not None:
            warnings.append(f"setting engine.{key} = {raw!r} ignored ({problem})")
            continue
        config = replace(config, **{key: value})
    return config


def _apply_controls(controls: ControlMap, table, warnings: list[str]) -> ControlMap:
    """``controls`` with each valid controller number of the ``[controls]`` table applied."""
    if not isinstance(table, dict):
        warnings.append("[controls] is not a table; ignored")
        return controls
    names = {f.name for f in fields(controls)}
    for key, raw in table.items():
        if key not in names:
            warnings.append(f"unknown setting controls.{key} ignored")
            continue
        try:
            controls = replace(controls, **{key: _value(raw)})
        except (ValueError, TypeError) as exc:
            warnings.append(f"setting controls.{key} = {raw!r} ignored ({exc})")
    return controls


def parse_settings(text: str, origin: str = "settings") -> tuple[Settings, list[str]]:
    """Settings from TOML ``text``: (settings, one line per problem)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return Settings(), [f"{origin} is not valid TOML ({exc}); using the defaults"]
    except RecursionError:  # tomllib recurses once per nesting level
        return Settings(), [f"{origin} is nested too deeply to be a settings file; using the defaults"]
    warnings: list[str] = []
    for key in data:
        if key not in ("format", "engine", "controls", "ports"):
            warnings.append(f"unknown section [{key}] ignored")
    version = data.get("format", 1)
    if version not in (1, FORMAT):
        warnings.append(f"format = {version!r} is not one this version reads; channels read as 1-16")
    config = _apply_engine(EngineConfig(), data.get("engine", {}), warnings, one_based=version != 1)
    controls = _apply_controls(ControlMap(), data.get("controls", {}), warnings)
    config = replace(config, controls=controls)
    ports = data.get("ports", {})
    found = {}
    if isinstance(ports, dict):
        for key, value in ports.items():
            if key in PORT_KEYS and isinstance(value, str):
                found[key] = value
            else:
                warnings.append(f"setting ports.{key} ignored")
    return Settings(config, **found), [f"{origin}: {w}" for w in warnings]


def load_settings(path: Path | None = None) -> tuple[Settings, list[str]]:
    """The saved settings (the defaults if there is no file or it cannot be read)."""
    path = path or settings_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings(), []
    except (OSError, UnicodeDecodeError) as exc:
        return Settings(), [f"cannot read {path} ({exc}); using the defaults"]
    return parse_settings(text, str(path))


def _toml(value) -> str:
    if value is None:
        return json.dumps(NONE)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write {value} as a setting")
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string


def dump_settings(settings: Settings) -> str:
    config = settings.config

    def shown(name: str):
        value = getattr(config, name)
        return value + 1 if SETTINGS[name].one_based and isinstance(value, int) else value

    lines = [
        '# livemelody settings; the dashboard rewrites this file. "none" = off; MIDI channels 1-16.',
        f"format = {FORMAT}",
        "",
        "[engine]",
    ]
    lines += [f"{name} = {_toml(shown(name))}" for name in SETTINGS]
    lines += ["", "[controls]"]
    lines += [f"{f.name} = {_toml(getattr(config.controls, f.name))}" for f in fields(config.controls)]
    ports = [(k, getattr(settings, k)) for k in PORT_KEYS if getattr(settings, k) is not None]
    if ports:
        lines += ["", "[ports]"] + [f"{k} = {_toml(v)}" for k, v in ports]
    return "\n".join(lines) + "\n"


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write the file atomically (a temporary name, then a rename); raises OSError."""
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".part")
    temporary.write_text(dump_settings(settings), encoding="utf-8")
    os.replace(temporary, path)
    return path

"""Settings that persist between sessions: a TOML file in the user's configuration folder.

``settings.toml`` in the configuration folder (:mod:`livemelody.paths`; on Linux
``$XDG_CONFIG_HOME/livemelody``, default ``~/.config/livemelody``)::

    [engine]            # any EngineConfig field; "none" where a field may be None
    style = "han"
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
from livemelody.config import ControlMap, EngineConfig

NONE = "none"
"""How a setting that is off (None) is written: TOML has no null."""
PORT_KEYS = ("api", "input", "output")


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


def _apply(target, section: str, table, warnings: list[str], skip=()):
    """``target`` with each valid key of ``table`` applied; problems appended to ``warnings``."""
    if not isinstance(table, dict):
        warnings.append(f"[{section}] is not a table; ignored")
        return target
    types = {f.name: str(f.type) for f in fields(target) if f.name not in skip}
    for key, raw in table.items():
        if key not in types:
            warnings.append(f"unknown setting {section}.{key} ignored")
            continue
        value = _value(raw)
        if not _type_ok(types[key], value):
            warnings.append(f"setting {section}.{key} = {raw!r} ignored (expected {types[key]})")
            continue
        try:
            target = replace(target, **{key: value})
        except (ValueError, TypeError) as exc:
            warnings.append(f"setting {section}.{key} = {raw!r} ignored ({exc})")
    return target


def _type_ok(annotation: str, value) -> bool:
    """Does ``value`` (from TOML) fit a field annotated ``annotation`` ("float", "int | None" ...)?"""
    if value is None:
        return "None" in annotation
    if isinstance(value, bool):
        return annotation.startswith("bool")
    if isinstance(value, int):
        return annotation.startswith(("int", "float"))
    if isinstance(value, float):
        return annotation.startswith("float")
    return isinstance(value, str) and annotation.startswith("str")


def parse_settings(text: str, origin: str = "settings") -> tuple[Settings, list[str]]:
    """Settings from TOML ``text``: (settings, one line per problem)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return Settings(), [f"{origin} is not valid TOML ({exc}); using the defaults"]
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        return Settings(), [f"{origin} is nested too deeply to be a settings file; using the defaults"]
    warnings: list[str] = []
    for key in data:
        if key not in ("engine", "controls", "ports"):
            warnings.append(f"unknown section [{key}] ignored")
    config = _apply(EngineConfig(), "engine", data.get("engine", {}), warnings, skip=("controls",))
    controls = _apply(ControlMap(), "controls", data.get("controls", {}), warnings)
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
    lines = ['# livemelody settings; the dashboard rewrites this file. "none" = off.', "", "[engine]"]
    lines += [f"{f.name} = {_toml(getattr(config, f.name))}" for f in fields(config) if f.name != "controls"]
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

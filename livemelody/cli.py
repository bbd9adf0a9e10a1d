"""The ``livemelody`` command: argument parsing and wiring only.

Every expected failure (bad file, bad number, missing model) ends with one line on stderr
and exit status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from livemelody.config import DEFAULT_STYLE, SETTINGS

EXIT_USAGE = 2


class UserError(Exception):
    """A problem with the user's input, reported as one line."""


def _number(kind, low=None, high=None, low_open=False):
    """argparse type: a number of ``kind`` within bounds, with a plain message otherwise."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a {'whole number' if kind is int else 'number'}"
            ) from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if low is not None and (value <= low if low_open else value < low):
            raise argparse.ArgumentTypeError(f"{text} must be {'>' if low_open else '>='} {low:g}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"{text} must be <= {high:g}")
        return value

    return parse


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not the usage block
        raise UserError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="livemelody", description="A live AI-melody instrument: LSTM continuations and VAE variations over MIDI."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"livemelody {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    cont = commands.add_parser("continue", help="continue the melody of a MIDI file")
    cont.add_argument("input", type=Path, help="MIDI file whose melody is the primer")
    _file_options(cont)
    cont.add_argument("--temperature", type=_number(float, 0), default=1.0, help="0 = greedy; default 1.0")
    cont.add_argument("--top-k", type=_number(int, 0), default=0, help="keep the k likeliest tokens (0 = off)")
    cont.add_argument(
        "--top-p", type=_number(float, 0, 1, low_open=True), default=1.0, help="nucleus mass in (0, 1]; 1 = off"
    )
    _setting_options(cont, "stm_weight")
    cont.add_argument(
        "--bars",
        type=_number(int, 1, 256),
        default=4,
        help="bars continued after the primer's last bar (which is filled first), so the answer ends on a bar "
        "line; default 4",
    )
    _setting_options(cont, "quote")
    cont.add_argument(
        "--keep-tracks",
        action="store_true",
        help="keep the source's other tracks (bass, drums, program changes) under the continuation",
    )
    _setting_options(cont, "blend", "blend_with")
    _seed_option(cont)

    vary = commands.add_parser(
        "vary",
        help="variations of the melody of a MIDI file (VAE)",
        description="Vary the melody of a MIDI file with the style's VAE, in the melody's key. The output holds "
        "the original then each variation, one after another in time, each on its own track and "
        "starting on a bar line. The model takes phrases of 16 notes and rests: a longer melody is "
        "cut to its first 16, a shorter one is padded and the variations trimmed back to its length.",
    )
    vary.add_argument("input", type=Path, help="MIDI file whose melody is the phrase to vary")
    _file_options(vary)
    amount = SETTINGS["amount"]
    vary.add_argument(
        "--amount",
        type=_number(float, 0),
        default=amount.default,
        help=f"{amount.help.removeprefix('vary mode: ')}; more than 1 strays further; default {amount.default:g}".replace(
            "%", "%%"
        ),
    )
    vary.add_argument("--count", type=_number(int, 1, 64), default=4, help="number of variations; default 4")
    _seed_option(vary)

    morph = commands.add_parser(
        "morph",
        help="interpolate between the melodies of two MIDI files (VAE)",
        description="Morph the melody of A into the melody of B through the style's latent space. The output "
        "holds the path from A's reconstruction to B's, one phrase after another in time, each on its "
        "own track and starting on a bar line, all in A's key and A's tempo. Phrases are 16 notes and "
        "rests at most (longer melodies are cut).",
    )
    morph.add_argument("a", type=Path, help="MIDI file the path starts from")
    morph.add_argument("b", type=Path, help="MIDI file the path ends at")
    _file_options(morph)
    morph.add_argument(
        "--steps", type=_number(int, 2, 64), default=5, help="phrases on the path, both ends included; default 5"
    )
    morph.add_argument(
        "--method", choices=["slerp", "linear"], default="slerp", help="spherical (default) or linear interpolation"
    )

    commands.add_parser("styles", help="list the installed models and their held-out metrics")

    ports = commands.add_parser("ports", help="list MIDI inputs and outputs")
    ports.add_argument(
        "--api", default=None, help="alsa, jack, coremidi or winmm (default: $LIVEMELODY_MIDI_API or the platform's)"
    )

    run = commands.add_parser("run", help="play call-and-response over MIDI without the dashboard")
    _port_options(run)
    _engine_options(run)
    run.add_argument(
        "--verbose", action="store_true", help="echo the engine's log (also in the state folder) to stderr"
    )
    run.add_argument("--duration", type=_number(float, 0, low_open=True), default=None, help=argparse.SUPPRESS)

    dash = commands.add_parser("dashboard", help="the dashboard (what `livemelody` alone opens), with options")
    _port_options(dash)
    _engine_options(dash)

    demo = commands.add_parser("demo", help="a built-in call answered by the real engine; no MIDI hardware needed")
    _engine_options(demo)
    demo.add_argument("--headless", action="store_true", help="no dashboard: print one line per turn")
    demo.add_argument(
        "--turns",
        type=_number(int, 1),
        default=None,
        help="stop after this many calls and answers (default: until quit; 2 with --headless)",
    )
    demo.add_argument(
        "--no-audio", action="store_true", help="do not render the session to WAV even if FluidSynth is installed"
    )
    demo.add_argument("--duration", type=_number(float, 0, low_open=True), default=None, help=argparse.SUPPRESS)
    _plugin_commands(commands)
    for command in commands.choices.values():  # --debug before or after the command
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("livemelody")
    except PackageNotFoundError:
        return "(not installed)"


PLUGIN_GROUP = "livemelody.commands"
_PLUGINS: dict = {}  # name -> handler of the subcommands other packages register (`train`)


def _plugin_commands(commands) -> None:
    """Subcommands registered through the ``livemelody.commands`` entry point group: each entry
    point is a function ``register(subparsers) -> handler(args) -> int`` (the training package's
    ``train``); the runtime never imports them by name."""
    from importlib.metadata import entry_points

    for point in entry_points(group=PLUGIN_GROUP):
        if point.name not in COMMANDS:
            try:
                _PLUGINS[point.name] = point.load()(commands)
            except ImportError:  # a registered package that is gone: its command is simply absent
                continue


def _file_options(parser) -> None:
    """The output file, the style and the melody's part, as ``continue``, ``vary`` and ``morph`` take them."""
    parser.add_argument("-o", "--output", type=Path, required=True, help="MIDI file to write")
    parser.add_argument("--force", action="store_true", help="write over the input file")
    parser.add_argument(
        "--style", default=DEFAULT_STYLE, help=f"model style (see `livemelody styles`); default {DEFAULT_STYLE}"
    )
    parser.add_argument(
        "--track",
        default=None,
        help="read the melody from this track: its number (1 = the file's first track chunk) or part of its name "
        "(default: chosen by the rule in docs/DATA.md, and said)",
    )
    parser.add_argument(
        "--channel", type=_number(int, 1, 16), default=None, help="read the melody from this MIDI channel (1-16)"
    )


def _setting_options(parser, *names: str) -> None:
    """Options of an offline command (``continue``) that are live settings too: the settings
    table's flags, ranges and defaults (the settings file is not read)."""
    for name in names:
        setting = SETTINGS[name]
        parser.add_argument(
            setting.flag,
            dest=name,
            type=_setting_value(setting) if setting.kind is float else str,
            default=setting.default,
            metavar="N" if setting.kind is float else name.upper(),
            help=f"{setting.help} ({setting.range_text()}; default {setting.show(setting.default)})".replace("%", "%%"),
        )


def _seed_option(parser) -> None:
    parser.add_argument("--seed", type=_number(int, 0), default=None, help="random seed for a repeatable result")


def _port_options(parser) -> None:
    parser.add_argument(
        "--in",
        dest="input",
        default=None,
        help="input port: name substring or index (default: the saved or last one used, else a virtual port)",
    )
    parser.add_argument(
        "--out",
        dest="output",
        default=None,
        help="output port: name substring or index (default: the saved or last one used, else a virtual port)",
    )
    parser.add_argument(
        "--virtual", action="store_true", help='create virtual ports "livemelody in" / "livemelody out"'
    )
    parser.add_argument("--api", default=None, help="alsa, jack, coremidi or winmm")
    parser.add_argument(
        "--synth",
        action="store_true",
        help="play through FluidSynth (General MIDI): the AI on vibraphone, your notes (MIDI thru, on unless "
        "--no-thru) on piano; no DAW needed",
    )


def _engine_options(parser) -> None:
    """Engine settings, one option per entry of the settings table that has a ``flag``; each
    one left out comes from the settings file (then the table's default)."""
    for setting in SETTINGS.values():
        if setting.flag is not None:
            _setting_option(parser, setting)
    parser.add_argument(
        "--record",
        type=Path,
        default=None,
        help="session MIDI file (default: a new file in the data folder's sessions/)",
    )
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--seed", type=_number(int, 0), default=None)
    parser.add_argument(
        "--no-realtime",
        dest="realtime",
        action="store_false",
        help="do not ask for realtime scheduling (SCHED_FIFO) for the engine's timing thread",
    )


def plural(count: int, word: str, words: str | None = None) -> str:
    """``count`` and the word, plural unless ``count`` is 1 ("1 note", "2 notes")."""
    return f"{count} {word if count == 1 else (words or word + 's')}"


def _check_output(output: Path, inputs: list[Path], force: bool) -> None:
    """One-line errors, before any work, for an output that cannot or must not be written."""
    if output.is_dir():
        raise UserError(f"{output} is a folder; give a file name for the output")
    if not output.parent.is_dir():
        raise UserError(f"cannot write {output}: the folder {output.parent} does not exist")
    for source in inputs:
        try:
            same = output.exists() and source.exists() and output.samefile(source)
        except OSError:
            same = False
        if same and not force:
            raise UserError(f"{output} is the input file; choose another output or add --force to write over it")


def _read(path: Path, args):
    """The melody of ``path`` with the command's --track/--channel; repairs and the part read are said."""
    from livemelody.midi.files import read_melody

    melody = read_melody(path, args.track, args.channel)
    for warning in melody.warnings:
        print(f"livemelody: warning: {path}: {warning}", file=sys.stderr)
    if melody.part:
        print(f"{path}: {melody.part}")
    return melody


def _setting_option(parser, setting) -> None:
    """One command-line option for a live setting: its range, unit and default from the table."""
    default = setting.show(setting.default) if setting.default is not None else setting.none
    help_text = f"{setting.help} ({setting.range_text()}; default: saved, else {default})".replace("%", "%%")
    if setting.kind is bool:
        parser.add_argument(
            setting.flag, dest=setting.name, action=argparse.BooleanOptionalAction, default=None, help=help_text
        )
    elif setting.kind is str:
        parser.add_argument(
            setting.flag,
            dest=setting.name,
            default=None,
            help=help_text,
            choices=setting.choices or None,
            metavar=None if setting.choices else setting.name.upper(),
        )
    else:
        parser.add_argument(
            setting.flag, dest=setting.name, type=_setting_value(setting), default=None, help=help_text, metavar="N"
        )


def _setting_value(setting):
    """argparse type for a numeric setting: typed as a person counts (channels 1-16), stored as
    the engine counts (0-15); ``setting.none``'s word gives None."""
    offset = 1 if setting.one_based else 0
    parse_number = _number(setting.kind, setting.low + offset, setting.high + offset)

    def parse(text: str):
        if setting.none is not None and text.strip().lower() in (setting.none, "none"):
            return _NONE
        try:
            return parse_number(text) - offset
        except argparse.ArgumentTypeError as exc:
            if setting.none is None:
                raise
            raise argparse.ArgumentTypeError(f"{exc} (or {setting.none!r})") from None

    return parse


_NONE = object()
"""What an optional setting's ``none`` word parses to (argparse's None means "not given")."""


def setting_changes(args) -> dict:
    """The live settings given on the command line, as ``EngineConfig`` changes."""
    changes = {}
    for name in SETTINGS:
        value = getattr(args, name, None)
        if value is not None:
            changes[name] = None if value is _NONE else value
    return changes


def cmd_continue(args) -> int:
    import numpy as np

    from livemelody.blend import Blend
    from livemelody.generate import continue_melody
    from livemelody.midi.files import write_melodies
    from livemelody.models.registry import find_model, hidden_models, load_lstm
    from livemelody.sampling import SamplingParams

    _check_output(args.output, [args.input], args.force)
    params = SamplingParams(args.temperature, args.top_k, args.top_p)
    session = load_lstm(args.style)
    find_model("lstm", args.blend_with)  # an unknown --blend-with is an error even at blend 0
    hidden = hidden_models()
    for style in [args.style] + ([args.blend_with] if args.blend > 0 else []):
        if style in hidden:
            print(f"livemelody: warning: {hidden[style]}", file=sys.stderr)
    if args.blend > 0 and args.blend_with == args.style:
        raise UserError(
            f"--blend {args.blend:g} with the style itself ({args.style}) blends nothing: "
            "choose another style with --blend-with"
        )
    blend = None
    if args.blend > 0:  # blend 0: the style alone, no second model
        blend = Blend(load_lstm(args.blend_with), args.blend)
    style = f"{args.style} blended {args.blend:g} with {args.blend_with}" if blend else args.style
    melody = _read(args.input, args)
    steps, meter = melody.continuation(args.bars)
    target = meter[1] + args.bars * meter[0]  # the continuation's last bar line
    rng = np.random.default_rng(args.seed)
    result = continue_melody(
        session,
        melody.notes,
        steps,
        params,
        rng,
        key=melody.key,
        quote=args.quote,
        meter=meter,
        blend=blend,
        stm_weight=args.stm_weight,
    )
    write_melodies(
        args.output,
        melody,
        [("primer", melody.notes), (f"livemelody {style} T={args.temperature:g}", result.notes)],
        channel=melody.channel if args.keep_tracks else 0,
        keep=args.keep_tracks,
        end_step=target,
    )
    print(
        f"{args.output}: {plural(len(melody.notes), 'primer note')} in {result.key}, "
        f"{plural(len(result.notes), 'note')} continued over {plural(args.bars, 'bar')} "
        f"({plural(steps, 'step')}, ending on a bar line) in style {style}"
    )
    return 0


def _downbeat(melody, start: int) -> tuple[int, int]:
    """(steps per bar, a bar line) of the bar grid a phrase starting at ``start`` keeps: the
    first full bar after it (a pickup written as a short first bar stays a pickup)."""
    downbeat = melody.bar_line_at_or_after(start + 1)
    return melody.steps_per_bar(downbeat), downbeat


def cmd_vary(args) -> int:
    import numpy as np

    from livemelody.encoding.phrase import DURATION_STEPS
    from livemelody.midi.files import write_melodies
    from livemelody.models.registry import load_vae
    from livemelody.variation import one_after_another, vary

    _check_output(args.output, [args.input], args.force)
    session = load_vae(args.style)
    melody = _read(args.input, args)
    rng = np.random.default_rng(args.seed)
    phrase, variations = vary(session, melody.notes, args.amount, args.count, rng, key=melody.key)
    varied_end = phrase.start + sum(DURATION_STEPS[d] for d in phrase.durations[: phrase.events])
    original = [n for n in melody.notes if n.start < varied_end]
    placed = one_after_another([original, *variations], phrase.start, *_downbeat(melody, phrase.start))
    names = ["original"] + [f"variation {i} (amount {args.amount:g})" for i in range(1, args.count + 1)]
    write_melodies(args.output, melody, list(zip(names, placed)))
    cut = (
        f"; the first {phrase.events} of {phrase.events_in} notes and rests varied"
        if phrase.events_in > phrase.events
        else ""
    )
    print(
        f"{args.output}: {plural(len(original), 'note')} in {phrase.key}, then {plural(args.count, 'variation')} "
        f"at amount {args.amount:g} in style {args.style}, one after another, one track each{cut}"
    )
    return 0


def cmd_morph(args) -> int:
    from livemelody.midi.files import write_melodies
    from livemelody.models.registry import load_vae
    from livemelody.variation import interpolate, one_after_another

    _check_output(args.output, [args.a, args.b], args.force)
    session = load_vae(args.style)
    a, b = _read(args.a, args), _read(args.b, args)
    pa, pb, path = interpolate(session, a.notes, b.notes, args.steps, args.method, (a.key, b.key))
    placed = one_after_another(path, pa.start, *_downbeat(a, pa.start))
    names = [f"{args.method} t={i / (args.steps - 1):.2f}" for i in range(args.steps)]
    write_melodies(args.output, a, list(zip(names, placed)))
    print(
        f"{args.output}: {plural(args.steps, 'phrase')} from A ({pa.key}) to B ({pb.key}) by {args.method} in style "
        f"{args.style}, one after another, one track each, in A's key"
    )
    return 0


def _headline(meta) -> str:
    """A model's main held-out figures, for `livemelody styles`."""
    test = meta.metrics.get("test", {})
    mine = test.get("lstm") or test.get(meta.style)  # a style's own model, or its row of the shared model
    if meta.kind == "lstm" and isinstance(mine, dict) and "nll_nats" in mine:
        return (
            f"NLL {mine['nll_nats']:.3f} nats/step, pitch acc {mine['pitch_accuracy']:.3f}, "
            f"{mine['pitch_bits']:.3f} bits/note"
        )
    if meta.kind == "vae_encoder" and "reconstruction" in test:
        r = test["reconstruction"]
        return f"exact notes {100 * r['note']:.1f}%, whole phrases {100 * r['phrase']:.1f}% (z = mean)"
    return "-"


def cmd_styles(args) -> int:
    from livemelody.models.registry import hidden_models, installed_models, unreadable_models

    for problem in unreadable_models() + list(hidden_models().values()):
        print(f"livemelody: warning: {problem}", file=sys.stderr)
    models = installed_models()
    if not models:
        raise UserError("no models installed")
    print(f"{'kind':<13}{'style':<9}{'held-out test figures':<62}file")
    for json_path, meta in models:
        print(f"{meta.kind:<13}{meta.style:<9}{_headline(meta):<62}{json_path}")
    return 0


def cmd_ports(args) -> int:
    """List the ports of the MIDI API that ``run`` would use: the one named (``--api``,
    $LIVEMELODY_API), else the remembered or the platform's default, else any that works."""
    from livemelody.live.headless import print_ports, remembered_api
    from livemelody.midi.ports import ENV_API, default_api, working_api

    named = args.api or os.environ.get(ENV_API)
    return print_ports(working_api((named or remembered_api() or default_api()).lower(), others=not named))


def resolve_settings(args):
    """(settings from the file, the engine config with the command line applied over them)."""
    from livemelody.models.metadata import ModelError
    from livemelody.models.registry import find_model, unreadable_models
    from livemelody.settings import load_settings

    settings, warnings = load_settings()
    warnings += unreadable_models()
    for warning in warnings:
        print(f"livemelody: warning: {warning}", file=sys.stderr)
    config = settings.config
    try:
        find_model("lstm", config.style)
    except ModelError:
        if args.style is None:  # a saved style that is gone: say so, play the default
            print(
                f"livemelody: warning: saved style {config.style!r} is not installed; using {DEFAULT_STYLE}",
                file=sys.stderr,
            )
            config = config.changed(style=DEFAULT_STYLE)
    config = config.changed(**setting_changes(args))
    find_model("lstm", config.style)  # a missing style is reported before any port opens
    return settings, _installed_blend_partner(config, given=args.blend_with is not None)


def _installed_blend_partner(config, given: bool):
    """``config`` with a ``blend_with`` style that is installed and is not the style itself.

    One given on the command line must be installed (ModelError otherwise) and not the style
    (UserError: it blends nothing, as ``continue`` says; the blend may be turned up live). A saved or default
    one that is not installed, or is the style itself, gives way to another installed style
    (said when the blend is on)."""
    from livemelody.models.metadata import ModelError
    from livemelody.models.registry import find_model, installed_models

    if given:
        find_model("lstm", config.blend_with)
        if config.blend_with == config.style:  # the blend can be turned up while playing
            raise UserError(
                f"--blend-with {config.blend_with} is the style itself, which blends nothing: "
                "choose another style with --blend-with"
            )
        return config
    try:
        find_model("lstm", config.blend_with)
        if config.blend_with != config.style:
            return config
        why = "is the style itself"
    except ModelError:
        why = "is not installed"
    installed = sorted(m.style for _, m in installed_models("lstm") if m.style != config.style)
    preferred = [s for s in (SETTINGS["blend_with"].default, DEFAULT_STYLE) if s in installed]
    partner = (preferred + installed + [config.style])[0]
    if config.blend > 0:
        print(
            f"livemelody: warning: blend-with style {config.blend_with!r} {why}; blending with {partner}",
            file=sys.stderr,
        )
    return config.changed(blend_with=partner)


def _record_path(args):
    import time

    from livemelody.paths import sessions_dir

    if args.no_record:
        return None
    return args.record or sessions_dir() / time.strftime("session-%Y%m%d-%H%M%S.mid")


def _engine_options_from(args, demo: bool = False):
    from livemelody.live.headless import choose_ports, remembered_api
    from livemelody.live.process import EngineOptions
    from livemelody.midi.ports import ENV_API, default_api, working_api

    if getattr(args, "synth", False):
        from livemelody.live.synth import HINT, audio_available

        if not audio_available():  # said before anything else is tried (the MIDI system, the ports)
            raise UserError(HINT)
        if args.output is not None:
            raise UserError("--synth plays the output itself; leave out --out, or drop --synth")
        if args.thru is None:  # a controller with no sound hears itself too
            args.thru = True
    settings, config = resolve_settings(args)
    common = dict(
        config=config,
        record=_record_path(args),
        seed=args.seed,
        realtime=args.realtime,
        verbose=getattr(args, "verbose", False),
    )
    if demo:
        return settings, EngineOptions(
            api="loopback", input=None, output=None, demo=True, demo_turns=args.turns, **common
        )
    named = args.api or settings.api or os.environ.get(ENV_API)
    api = working_api((named or remembered_api() or default_api()).lower(), others=not named)
    saved = (settings.input, settings.output) if api == (settings.api or api) else (None, None)
    in_spec, out_spec = choose_ports(api, args.input, args.output, args.virtual, saved)
    return settings, EngineOptions(api=api, input=in_spec, output=out_spec, **common)


def _start_synth(args, options):
    """With ``--synth``: FluidSynth started, and ``options`` with its MIDI input as the output;
    (options, synth or None). Raises UserError with an install hint when it is missing."""
    if not args.synth:
        return options, None
    from dataclasses import replace

    from livemelody.live.synth import AI_PROGRAM, PLAYER_PROGRAM, Synth, SynthError
    from livemelody.midi.ports import list_ports

    config = options.config
    programs = {config.output_channel: AI_PROGRAM}
    if config.thru_channel != config.output_channel:
        programs[config.thru_channel] = PLAYER_PROGRAM
    try:
        synth = Synth(options.api, programs, lambda: list_ports(options.api)[1]).start()
    except SynthError as exc:
        raise UserError(str(exc)) from None
    print(f"livemelody: FluidSynth on {synth.port!r}: {synth.describe()}", flush=True)
    return replace(options, output=synth.port), synth


def cmd_run(args) -> int:
    from livemelody.live.headless import run_headless

    _, options = _engine_options_from(args)
    options, synth = _start_synth(args, options)
    try:
        return run_headless(options, duration=args.duration)
    finally:
        if synth is not None:
            synth.stop()


def cmd_dashboard(args) -> int:
    from livemelody.midi.ports import list_ports
    from livemelody.ui.app import run_dashboard

    settings, options = _engine_options_from(args)
    options, synth = _start_synth(args, options)
    try:
        return run_dashboard(options, settings, list_ports=lambda: list_ports(options.api))
    finally:
        if synth is not None:
            synth.stop()


def cmd_demo(args) -> int:
    from livemelody.live.engine import EngineState
    from livemelody.live.headless import run_headless
    from livemelody.live.synth import audio_available, render_wav

    if args.headless and args.turns is None:
        args.turns = 2
    settings, options = _engine_options_from(args, demo=True)
    if args.headless:
        turns = args.turns
        code = run_headless(
            options, duration=args.duration, until=lambda snap: snap.turns >= turns and snap.state == EngineState.IDLE
        )
    else:
        from livemelody.ui.app import run_dashboard

        code = run_dashboard(options, settings, demo=True)
    if options.record is not None and options.record.exists():
        print(f"livemelody: session saved to {options.record}")
        if not args.no_audio and audio_available():
            wav = render_wav(options.record, options.record.with_suffix(".wav"))
            if wav is not None:
                print(f"livemelody: rendered with FluidSynth to {wav}")
    return code


COMMANDS = {
    "continue": cmd_continue,
    "vary": cmd_vary,
    "morph": cmd_morph,
    "styles": cmd_styles,
    "ports": cmd_ports,
    "run": cmd_run,
    "dashboard": cmd_dashboard,
    "demo": cmd_demo,
}


def main(argv: list[str] | None = None) -> int:
    from livemelody.live.process import EngineError
    from livemelody.midi.files import MidiFileError
    from livemelody.midi.ports import PortError
    from livemelody.models.metadata import ModelError

    parser = build_parser()
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
        if args.command is None:  # the instrument's face: the dashboard, with the saved settings
            args = parser.parse_args([*(argv if argv is not None else sys.argv[1:]), "dashboard"])
        return {**COMMANDS, **_PLUGINS}[args.command](args)
    except (UserError, MidiFileError, ModelError, PortError, EngineError, ValueError) as exc:
        if debug:
            raise
        print(f"livemelody: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("livemelody: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `livemelody styles | head`: the reader left; say nothing more
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141  # 128 + SIGPIPE, as a shell reports it


if __name__ == "__main__":
    sys.exit(main())

"""The ``livemelody`` command: argument parsing and wiring only.

Every expected failure (bad file, bad number, missing model) ends with one line on stderr
and exit status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

EXIT_USAGE = 2


class UserError(Exception):
    """A problem with the user's input, reported as one line."""


def _number(kind, low=None, high=None, low_open=False):
    """argparse type: a number of ``kind`` within bounds, with a plain message otherwise."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole number' if kind is int else 'number'}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if low is not None and (value <= low if low_open else value < low):
            raise argparse.ArgumentTypeError(f"{text} must be {'>' if low_open else '>='} {low}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"{text} must be <= {high}")
        return value

    return parse


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not the usage block
        raise UserError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="livemelody", description="A live AI-melody instrument: LSTM continuations over MIDI.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    cont = commands.add_parser("continue", help="continue the melody of a MIDI file")
    cont.add_argument("input", type=Path, help="MIDI file whose top line is the primer")
    cont.add_argument("-o", "--output", type=Path, required=True, help="MIDI file to write")
    cont.add_argument("--style", default="deutsch", help="model style (see `livemelody styles`); default deutsch")
    cont.add_argument("--temperature", type=_number(float, 0), default=1.0, help="0 = greedy; default 1.0")
    cont.add_argument("--top-k", type=_number(int, 0), default=0, help="keep the k likeliest tokens (0 = off)")
    cont.add_argument("--top-p", type=_number(float, 0, 1, low_open=True), default=1.0, help="nucleus mass in (0, 1]; 1 = off")
    cont.add_argument("--bars", type=_number(int, 1, 256), default=4, help="length of the continuation in bars; default 4")
    cont.add_argument("--seed", type=_number(int, 0), default=None, help="random seed for a repeatable result")

    commands.add_parser("styles", help="list the installed models and their held-out metrics")

    ports = commands.add_parser("ports", help="list MIDI inputs and outputs")
    ports.add_argument("--api", default=None, help="alsa, jack, coremidi or winmm (default: $LIVEMELODY_MIDI_API or the platform's)")

    run = commands.add_parser("run", help="play call-and-response over MIDI without the dashboard")
    run.add_argument("--in", dest="input", default=None, help="input port: name substring or index (default: the last one used, else a virtual port)")
    run.add_argument("--out", dest="output", default=None, help="output port: name substring or index (default: the last one used, else a virtual port)")
    run.add_argument("--virtual", action="store_true", help='create virtual ports "livemelody in" / "livemelody out"')
    run.add_argument("--api", default=None, help="alsa, jack, coremidi or winmm")
    run.add_argument("--style", default="deutsch")
    run.add_argument("--mode", choices=["continue", "vary"], default="continue")
    run.add_argument("--temperature", type=_number(float, 0), default=1.0)
    run.add_argument("--top-p", type=_number(float, 0, 1, low_open=True), default=0.95)
    run.add_argument("--bpm", type=_number(float, 20, 400), default=100.0, help="internal tempo (default 100)")
    run.add_argument("--clock", choices=["internal", "external"], default="internal", help="follow MIDI clock on the input with 'external'")
    run.add_argument("--metronome", action="store_true", help="click on channel 10 (wood blocks)")
    run.add_argument("--channel", type=_number(int, 1, 16), default=None, help="listen to one channel (1-16; default all)")
    run.add_argument("--out-channel", type=_number(int, 1, 16), default=1, help="answer on this channel (1-16)")
    run.add_argument("--end-silence", type=_number(float, 0.25, 16), default=1.0, help="beats of silence that end a call")
    run.add_argument("--sustain-ends-call", action="store_true", help="releasing the sustain pedal ends the call")
    run.add_argument("--max-call-bars", type=_number(int, 1, 64), default=4)
    run.add_argument("--answer-start", choices=["step", "beat", "bar"], default="beat")
    run.add_argument("--answer-bars", type=_number(int, 1, 64), default=None, help="answer length in bars (default: as long as the call)")
    run.add_argument("--no-stop-on-play", action="store_true", help="let the AI finish when the player starts again")
    run.add_argument("--record", type=Path, default=None, help="session MIDI file (default: a new file in ~/.local/share/livemelody/sessions)")
    run.add_argument("--no-record", action="store_true")
    run.add_argument("--seed", type=_number(int, 0), default=None)
    run.add_argument("--duration", type=_number(float, 0, low_open=True), default=None, help=argparse.SUPPRESS)
    return parser


def cmd_continue(args) -> int:
    import numpy as np

    from livemelody.generate import continue_melody
    from livemelody.midi.files import read_melody, write_melodies
    from livemelody.models.registry import load_lstm
    from livemelody.sampling import SamplingParams

    params = SamplingParams(args.temperature, args.top_k, args.top_p)
    session = load_lstm(args.style)
    melody = read_melody(args.input)
    end = max(n.end for n in melody.notes)
    steps = args.bars * melody.steps_per_bar(end)
    result = continue_melody(session, melody.notes, steps, params, np.random.default_rng(args.seed))
    write_melodies(
        args.output,
        melody,
        [("primer", melody.notes), (f"livemelody {args.style} T={args.temperature:g}", result.notes)],
    )
    print(
        f"{args.output}: {len(melody.notes)} primer notes in {result.key}, "
        f"{len(result.notes)} notes continued over {args.bars} bars ({steps} steps) in style {args.style}"
    )
    return 0


def cmd_styles(args) -> int:
    from livemelody.models.registry import installed_models

    models = installed_models()
    if not models:
        raise UserError("no models installed")
    print(f"{'kind':<6}{'style':<10}{'NLL nats/step':>14}{'pitch acc':>11}{'bits/note':>11}  file")
    for json_path, meta in models:
        test = meta.metrics.get("test", {}).get(meta.kind, {})
        figures = [test.get("nll_nats"), test.get("pitch_accuracy"), test.get("pitch_bits")]
        shown = [f"{v:>14.3f}" if i == 0 else f"{v:>11.3f}" for i, v in enumerate(figures) if v is not None]
        print(f"{meta.kind:<6}{meta.style:<10}{''.join(shown) or '-':>36}  {json_path}")
    return 0


def cmd_ports(args) -> int:
    from livemelody.live.headless import print_ports
    from livemelody.midi.ports import default_api

    return print_ports((args.api or default_api()).lower())


def cmd_run(args) -> int:
    import time

    from livemelody.config import EngineConfig
    from livemelody.live.headless import choose_ports, run_headless, sessions_dir
    from livemelody.live.process import EngineOptions
    from livemelody.midi.ports import default_api
    from livemelody.models.registry import find_model

    api = (args.api or default_api()).lower()
    find_model("lstm", args.style)  # a missing style is reported before any port opens
    config = EngineConfig(
        style=args.style, mode=args.mode, temperature=args.temperature, top_p=args.top_p, bpm=args.bpm,
        clock_source=args.clock, metronome=args.metronome,
        input_channel=None if args.channel is None else args.channel - 1, output_channel=args.out_channel - 1,
        end_silence_beats=args.end_silence, end_on_sustain_release=args.sustain_ends_call,
        max_call_bars=args.max_call_bars, answer_start=args.answer_start, answer_bars=args.answer_bars,
        stop_on_player=not args.no_stop_on_play,
    )
    in_spec, out_spec = choose_ports(api, args.input, args.output, args.virtual)
    record = None
    if not args.no_record:
        record = args.record or sessions_dir() / time.strftime("session-%Y%m%d-%H%M%S.mid")
    options = EngineOptions(config=config, api=api, input=in_spec, output=out_spec, record=record, seed=args.seed)
    return run_headless(options, duration=args.duration)


COMMANDS = {"continue": cmd_continue, "styles": cmd_styles, "ports": cmd_ports, "run": cmd_run}


def main(argv: list[str] | None = None) -> int:
    from livemelody.live.process import EngineError
    from livemelody.midi.files import MidiFileError
    from livemelody.midi.ports import PortError
    from livemelody.models.metadata import ModelError

    parser = build_parser()
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        return COMMANDS[args.command](args)
    except (UserError, MidiFileError, ModelError, PortError, EngineError, ValueError) as exc:
        if debug:
            raise
        print(f"livemelody: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("livemelody: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

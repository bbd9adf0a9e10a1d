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


COMMANDS = {"continue": cmd_continue, "styles": cmd_styles}


def main(argv: list[str] | None = None) -> int:
    from livemelody.midi.files import MidiFileError
    from livemelody.models.metadata import ModelError

    parser = build_parser()
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        return COMMANDS[args.command](args)
    except (UserError, MidiFileError, ModelError, ValueError) as exc:
        if debug:
            raise
        print(f"livemelody: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("livemelody: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""The ``livemelody train`` subcommand, registered through the ``livemelody.commands`` entry point.

Importing this module is cheap (argparse only): the runtime's command line loads it to list
the subcommand. torch and the rest of the ``train`` extra load when the command runs; without
them it says, in one line, how to install them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

MISSING_EXTRA = (
    "livemelody train needs the train extra: pip install -e '.[train]' in a checkout, or pip install 'livemelody[train]' "
    "(see the README for CPU-only torch)"
)
DESCRIPTION = (
    "Train a style of your own from folders of MIDI files (ABC and MusicXML through music21) and install it: "
    "`livemelody styles`, `continue`, `run` and the dashboard offer it at once. By default the LSTM and the "
    "phrase VAE of a shipped style (--base) are fine-tuned on your melodies; --from-scratch trains new ones. "
    "Run it again after Ctrl-C to resume. Under torchrun the same command trains on every process (DDP)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``train`` options (see :data:`DESCRIPTION`)."""
    parser.add_argument("name", help="the new style's name (lowercase letters, digits, - and _)")
    parser.add_argument("folders", nargs="+", type=Path, metavar="FOLDER", help="folders (or files) of melodies")
    parser.add_argument(
        "--base",
        default="deutsch",
        help="shipped style to fine-tune from (deutsch, han, irish, scottish or chorale); default deutsch",
    )
    parser.add_argument("--from-scratch", action="store_true", help="train new models instead of fine-tuning")
    parser.add_argument(
        "--no-vae", action="store_true", help="skip the phrase VAE (vary mode will not offer the style)"
    )
    parser.add_argument("--no-evidence", action="store_true", help="skip the style-evidence classifier")
    parser.add_argument("--force", action="store_true", help="replace an installed style of the same name")
    parser.add_argument("--restart", action="store_true", help="ignore the checkpoint of an earlier run")
    parser.add_argument(
        "--seed", type=int, default=0, help="random seed (default 0): the same seed gives the same model"
    )
    parser.add_argument("--workers", type=int, default=0, help="processes reading files (default: one per core)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process (default 1)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="default: CUDA if available")
    parser.add_argument("--max-epochs", type=int, default=None, help="default 60 (20 from 20,000 songs)")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop after the epoch that passes this time")
    parser.add_argument("--patience", type=int, default=None, help="epochs without validation gain before stopping")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="songs per step over all processes (default 8; 32 from 2,000 songs)",
    )
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--dropout", type=float, default=None)
    parser.add_argument("--hidden-size", type=int, default=None, help="LSTM units (--from-scratch only; default 256)")
    parser.add_argument(
        "--window", type=int, default=None, help="longest training sequence in 16th steps (default 256)"
    )
    parser.add_argument("--vae-epochs", type=int, default=None, help="default: 3 to 20 by the number of phrases")
    parser.add_argument(
        "--work",
        type=Path,
        default=None,
        help="work folder (token cache, checkpoints); default: the data folder's training/",
    )
    parser.add_argument(
        "--models", type=Path, default=None, help="install into this folder instead of the user's models folder"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """Run ``livemelody train``; expected failures raise the caller's one-line error type."""
    from livemelody.cli import UserError

    try:
        import music21  # noqa: F401
        import onnx  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        raise UserError(MISSING_EXTRA) from None
    from training.folder_corpus import NoMelodyError
    from training.user_style import TrainError, request_from_args
    from training.user_style import run as run_training

    if args.hidden_size is not None and not args.from_scratch:
        raise UserError("--hidden-size needs --from-scratch (fine-tuning keeps the base model's size)")
    try:
        return run_training(request_from_args(args))
    except (TrainError, NoMelodyError) as exc:
        raise UserError(str(exc)) from None


def register(commands) -> object:
    """Entry point (``livemelody.commands``): add ``train`` to the runtime's subcommands; return its handler."""
    parser = commands.add_parser(
        "train", help="train a style of your own from a folder of MIDI files", description=DESCRIPTION
    )
    add_arguments(parser)
    return run


def main(argv: list[str] | None = None) -> int:
    """``python -m training.cli NAME FOLDER...``: the same command without the runtime's CLI (torchrun -m)."""
    from livemelody.cli import UserError

    parser = argparse.ArgumentParser(prog="livemelody train", description=DESCRIPTION)
    add_arguments(parser)
    try:
        return run(parser.parse_args(argv))
    except UserError as exc:
        print(f"livemelody: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

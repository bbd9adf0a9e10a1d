"""How often `continue` answers with (almost) nothing: the share of 4-bar continuations with at
most one note, for the short-term model as it plays and with its cap lifted.

    python -m tools.silent_answers FILE.mid [FILE.mid ...] [--seeds 8] [--styles deutsch han ...]

Each file is continued for 4 bars of its last meter in every style, at each seed, with the
defaults of `livemelody continue` (quote, temperature 1, top-p 1) and the `stm_weight`
setting's default; "uncapped" sets :attr:`livemelody.ppm.TokenStm.MAX_SHARE` to 1 (the entropy
rule alone). Session 6 measured 400 answers (10 primers of a newcomer trial, among them ones
ending on long notes, 5 styles, 8 seeds): uncapped 31%, as it plays 0.2%; with the STM off 0%.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager

import numpy as np

from livemelody.config import SETTINGS
from livemelody.generate import continue_melody
from livemelody.midi.files import read_melody
from livemelody.models.registry import installed_models, load_lstm
from livemelody.ppm import TokenStm
from livemelody.sampling import SamplingParams


@contextmanager
def max_share(value: float):
    saved = TokenStm.MAX_SHARE
    TokenStm.MAX_SHARE = value
    try:
        yield
    finally:
        TokenStm.MAX_SHARE = saved


def silent_share(files, styles, seeds: int, stm_weight: float) -> tuple[int, int]:
    """(answers with at most one note, answers) over ``files`` x ``styles`` x ``seeds``."""
    silent = total = 0
    for path in files:
        melody = read_melody(path)
        steps, meter = melody.continuation(4)
        for style in styles:
            session = load_lstm(style)
            for seed in range(1, seeds + 1):
                answer = continue_melody(
                    session,
                    melody.notes,
                    steps,
                    SamplingParams(1.0),
                    np.random.default_rng(seed),
                    key=melody.key,
                    quote=SETTINGS["quote"].default,
                    meter=meter,
                    stm_weight=stm_weight,
                )
                silent += len(answer.notes) <= 1
                total += 1
    return silent, total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--styles", nargs="*", default=None, help="default: every installed style")
    args = parser.parse_args(argv)
    styles = args.styles or sorted({m.style for _, m in installed_models("lstm")})
    weight = SETTINGS["stm_weight"].default
    for label, share, stm in (
        ("STM off", TokenStm.MAX_SHARE, 0.0),
        ("uncapped", 1.0, weight),
        ("as it plays", None, weight),
    ):
        with max_share(TokenStm.MAX_SHARE if share is None else share):
            silent, total = silent_share(args.files, styles, args.seeds, stm)
        print(f"{label:<12} answers with at most one note: {silent}/{total} ({100 * silent / total:.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The bar inputs of a model that knows the meter: each step's position in its bar and the
bar's length, both in 16th steps.

Convention (the shared LSTM's training, :mod:`training.bars`, recorded in its metadata's
``data.bar_inputs``): the model's input ``i`` carries the position of step ``i``, the step it
predicts. So priming with the delimiter and the tokens of steps ``start .. end - 1`` takes the
bar inputs of steps ``start .. end`` (the delimiter carries ``start``'s, each token the next
step's), and feeding the token of step ``s`` takes step ``s + 1``'s. ``bar_len`` 0 (with
``bar_pos`` 0) means "no meter known": a player without a metronome, a file without a grid.

Live, the grid is the engine's (bar lines every ``steps_per_bar`` steps from grid step 0, as
the metronome counts them); in files, the time signature in force (:mod:`livemelody.midi.files`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

MAX_BAR_LEN = 48
"""The longest bar the bar inputs encode, in 16th steps (12/4 or 24/8): the size of the
models' bar-position table. A longer bar is given as "no meter"."""


@dataclass(frozen=True)
class BarGrid:
    """Bar lines every ``steps_per_bar`` 16th steps (1..:data:`MAX_BAR_LEN`), one of them at
    step ``bar_line`` (any step, in the frame of the steps asked about). Raises
    :class:`ValueError` for a bar length outside that range."""

    steps_per_bar: int
    bar_line: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.steps_per_bar <= MAX_BAR_LEN:
            raise ValueError(f"a bar must be 1-{MAX_BAR_LEN} steps, not {self.steps_per_bar}")

    def position(self, step: int) -> int:
        """Step ``step``'s position in its bar, 0 (the downbeat) .. steps_per_bar - 1."""
        return (step - self.bar_line) % self.steps_per_bar

    def inputs(self, first_step: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """(bar_pos, bar_len) int64 [count] of steps ``first_step .. first_step + count - 1``."""
        steps = np.arange(first_step, first_step + count, dtype=np.int64)
        return (steps - self.bar_line) % self.steps_per_bar, np.full(count, self.steps_per_bar, np.int64)


@functools.lru_cache(maxsize=64)
def meter_grid(steps_per_bar: int, bar_line: int = 0) -> BarGrid | None:
    """The :class:`BarGrid` of a meter, or None ("no meter") for a bar the models' inputs cannot
    encode (longer than :data:`MAX_BAR_LEN` steps, or shorter than 1)."""
    return BarGrid(steps_per_bar, bar_line) if 1 <= steps_per_bar <= MAX_BAR_LEN else None


NO_METER = (0, 0)
"""The (bar_pos, bar_len) of a step whose meter is not known."""


def bar_inputs(grid: BarGrid | None, first_step: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`BarGrid.inputs`, or zeros [count] ("no meter") where ``grid`` is None."""
    if grid is None:
        return np.zeros(count, np.int64), np.zeros(count, np.int64)
    return grid.inputs(first_step, count)


def bar_of(grid: BarGrid | None, step: int) -> tuple[int, int]:
    """(bar_pos, bar_len) of one step; :data:`NO_METER` where ``grid`` is None."""
    return NO_METER if grid is None else (grid.position(step), grid.steps_per_bar)

"""Snapshot of the main screen at a fixed terminal size (pytest-textual-snapshot; the SVG
baselines live in tests/ui/__snapshots__; update with `pytest --snapshot-update`)."""

from tests.ui.test_dashboard import make_app, started


async def _wait_for_engine(pilot):
    await started(pilot)
    await pilot.pause(0.15)


def test_main_screen(snap_compare):
    assert snap_compare(make_app(), terminal_size=(120, 36), run_before=_wait_for_engine)


def test_help_screen(snap_compare):
    async def open_help(pilot):
        await _wait_for_engine(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.1)

    assert snap_compare(make_app(), terminal_size=(120, 36), run_before=open_help)


def test_main_screen_fits_80_by_24(snap_compare):
    """The classic terminal size: the footer's keys all show, the status panel narrows."""
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=_wait_for_engine)

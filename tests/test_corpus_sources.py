"""The styles' corpus sources (ABC folders, a music21 corpus query) and the near-duplicate split, on a few tunes."""

import pytest

from training.corpus import STYLE_SOURCES, Source, _extract_job, source_files, tune_jobs
from training.dataset import near_duplicate_groups, shared_passages, split_by_id, split_of

music21 = pytest.importorskip("music21")


def test_every_style_names_files_that_exist():
    for style, source in STYLE_SOURCES.items():
        if source.query is None:  # the chorale query is checked below (it asks music21)
            files = source_files(source)
            assert files and all(f.exists() for f in files), style


def test_a_source_over_two_folders_reads_its_abc_tunes_with_folder_qualified_ids():
    source = STYLE_SOURCES["irish"]
    files = source_files(source)
    assert {f.parent.name for f in files} == {"oneills1850", "ryansMammoth"}
    jobs = tune_jobs(source, [files[0], files[-1]], limit=3)
    assert len(jobs) >= 4 and all(kind == "abc" for _, kind, _, _ in jobs)
    assert jobs[0][0].startswith(f"{files[0].parent.name}/{files[0].stem}:")
    results = [_extract_job(job) for job in jobs]
    kept = [(song_id, notes) for song_id, status, notes in results if status == "ok"]
    assert kept, [status for _, status, _ in results]
    for _, notes in kept:  # [pitch or -1, start, duration] on the 16th grid, monophonic, from 0
        assert notes[0][1] == 0 and all(d > 0 for _, _, d in notes)
        assert all(a[1] + a[2] <= b[1] for a, b in zip(notes, notes[1:]))


def test_chord_symbols_in_abc_are_not_notes():
    abc = 'X:1\nT:t\nM:4/4\nL:1/4\nK:C\n"C"C D "G7"E F | G4 |]\n'
    status, notes = _extract_job(("t:1", "abc", abc, 0))[1:]
    assert status == "ok" and [p for p, _, _ in notes] == [60, 62, 64, 65, 67]


def test_chorale_query_gives_soprano_lines():
    source = STYLE_SOURCES["chorale"]
    files = source_files(source)
    assert len(files) == len(set(files)) >= 300  # the Riemenschneider chorales, each file once
    jobs = tune_jobs(source, files, limit=1)
    assert len(jobs) == 1 and jobs[0][1] == "score"
    song_id, status, notes = _extract_job(jobs[0])
    assert status == "ok" and song_id == files[0].stem
    soprano = [p.midi for p in music21.converter.parse(str(files[0])).parts[0].flatten().pitches]
    assert [p for p, _, _ in notes if p >= 0][:8] == soprano[:8]


def test_unknown_query_is_refused():
    with pytest.raises(ValueError, match="query"):
        source_files(Source("x", query="madrigals"))


def _song(song_id, pitches):
    return {"id": song_id, "notes": [[p, 4 * i, 4] for i, p in enumerate(pitches)]}


def test_near_duplicates_share_a_split_and_others_keep_the_song_level_rule():
    tune = [60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62, 60]
    songs = [
        _song("a:1", tune),
        _song("b:7", [p + 5 for p in tune]),  # transposed copy
        _song("c:3", tune[:13] + [55, 57, 59]),  # same opening, other ending
        _song("d:9", [60, 60, 67, 67, 69, 69, 67, 65, 65, 64, 64, 62, 62, 60]),
    ]
    groups = near_duplicate_groups(songs)
    assert groups == {"a:1": "a:1", "b:7": "a:1", "c:3": "a:1", "d:9": "d:9"}
    split = split_by_id("irish", {"songs": songs})
    assert split["a:1"] == split["b:7"] == split["c:3"] == split_of("irish", "a:1")
    assert split["d:9"] == split_of("irish", "d:9")
    assert split_by_id("deutsch", {"songs": songs}) == {s["id"]: split_of("deutsch", s["id"]) for s in songs}


def test_shared_passages_counts_held_out_songs_overlapping_training_songs():
    tune = list(range(60, 80))
    songs = [_song("t", tune), _song("copy", tune), _song("other", [60, 64] * 10)]
    figures = shared_passages(songs, {"t": "train", "copy": "test", "other": "valid"}, length=16)
    assert figures == {"held_out_songs": 2, "sharing_16_intervals": 0.5, "whole_copies": 0.5}

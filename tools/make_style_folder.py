"""Write a "user's folder" of MIDI files from a tune collection music21 ships (ABC), one tune a file.

    python -m tools.make_style_folder oneills1850 /tmp/irish --count 30
    python -m tools.make_style_folder oneills1850,ryansMammoth /tmp/irish3000 --count 3000

Each tune is parsed by music21 and written by music21's own MIDI writer (tempo, time signature,
chord-symbol tracks where the ABC has them): files as a musician exports them, not the tokens
the trainer will see. Tunes music21 cannot parse or write are skipped and counted. The
collections: ``oneills1850`` (O'Neill's Music of Ireland, 1850: about 2,000 Irish dance tunes),
``ryansMammoth`` (Ryan's Mammoth Collection, 1883: about 1,050 fiddle tunes), ``airdsAirs``
(Aird's Airs, about 1,200 Scottish airs and dances), ``essenFolksong``.
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path


def collection_tunes(names: list[str]) -> list[tuple[str, str]]:
    """(tune id, ABC text) of every tune in the named music21 corpus folders, in file order."""
    import music21

    from training.corpus import split_tunes

    root = Path(music21.__file__).resolve().parent / "corpus"
    tunes = []
    for name in names:
        for path in sorted((root / name).glob("*.abc")):
            for number, text in split_tunes(path.read_text(encoding="latin-1")):
                tunes.append((f"{name}-{path.stem}-{number}", text))
    return tunes


def _write(job: tuple[str, str, str]) -> bool:
    import music21

    tune_id, text, folder = job
    try:
        score = music21.converter.parse(text, format="abc")
        if not score.flatten().notes:
            return False
        score.write("midi", fp=str(Path(folder) / f"{tune_id}.mid"))
        return True
    except Exception:  # music21 raises many types on odd ABC
        return False


def make_folder(collections: list[str], folder: Path, count: int, workers: int = 1) -> int:
    """Write up to ``count`` tunes (every k-th, spread over the collections) into ``folder``; return how many."""
    tunes = collection_tunes(collections)
    wanted = count + count // 10 + 2  # a margin for tunes that fail
    chosen = tunes[:: max(1, len(tunes) // wanted)][:wanted]
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(tune_id, text, str(folder)) for tune_id, text in chosen]
    with ProcessPoolExecutor(workers) as pool:
        written = [tune_id for (tune_id, _, _), ok in zip(jobs, pool.map(_write, jobs, chunksize=8)) if ok]
    for tune_id in written[count:]:
        (folder / f"{tune_id}.mid").unlink()
    return min(len(written), count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("collections", help="music21 corpus folders, comma-separated (e.g. oneills1850)")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--count", type=int, default=30)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    written = make_folder(args.collections.split(","), args.folder, args.count, args.workers)
    print(f"wrote {written} MIDI files into {args.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

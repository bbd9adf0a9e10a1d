"""Write examples/ah_vous_dirai_je_maman.mid (the seed's primer, 100 BPM) with mido.

python examples/make_examples.py
"""

from pathlib import Path

import mido

from livemelody.midi.files import MelodyFile, write_melodies
from livemelody.primers import AH_VOUS_DIRAI_JE_MAMAN

if __name__ == "__main__":
    frame = MelodyFile(
        [],
        ticks_per_beat=480,
        conductor=[
            (0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(100))),
            (0, mido.MetaMessage("time_signature", numerator=4, denominator=4)),
        ],
    )
    path = Path(__file__).resolve().parent / "ah_vous_dirai_je_maman.mid"
    write_melodies(path, frame, [("Ah vous dirai-je maman", AH_VOUS_DIRAI_JE_MAMAN)])
    print(path)

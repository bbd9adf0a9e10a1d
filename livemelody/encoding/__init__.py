"""Framework-free encoding shared by training and runtime: vocabulary, melody <-> tokens, key.

numpy and the standard library only; ``training`` imports this package, never the reverse.
"""

from livemelody.encoding.key import Key, detect_key, key_confidence, to_reference, transpose, transposition_to_reference
from livemelody.encoding.melody import fold_pitch, notes_to_tokens, tokens_to_notes
from livemelody.encoding.vocab import STEPS_PER_QUARTER, Vocabulary

__all__ = [
    "Key",
    "STEPS_PER_QUARTER",
    "Vocabulary",
    "detect_key",
    "key_confidence",
    "fold_pitch",
    "notes_to_tokens",
    "to_reference",
    "tokens_to_notes",
    "transpose",
    "transposition_to_reference",
]

"""Random English sentences for the synthetic VoxCeleb and LibriSpeech utterances."""

import numpy as np

_ADJECTIVES = (
    "old", "young", "quiet", "bright", "small", "large", "green", "cold", "warm",
    "heavy", "gentle", "strange", "busy", "early", "silver", "wooden", "narrow",
    "careful", "hungry", "distant", "famous", "simple", "sudden", "clever",
)  # fmt: skip
_NOUNS = (
    "farmer", "river", "teacher", "window", "garden", "captain", "letter", "horse",
    "village", "doctor", "mountain", "kitchen", "sailor", "market", "child",
    "forest", "engine", "painter", "bridge", "morning", "soldier", "table",
    "island", "neighbour", "journey", "candle", "station", "merchant", "storm",
    "library", "valley", "stranger", "wagon", "harbour", "basket", "lantern",
)  # fmt: skip
_VERBS = (
    "found", "watched", "carried", "followed", "remembered", "painted", "opened",
    "visited", "described", "noticed", "repaired", "answered", "praised",
    "crossed", "called", "borrowed", "admired", "reached", "covered", "forgot",
)  # fmt: skip
_ADVERBS = (
    "slowly", "quickly", "quietly", "again", "suddenly", "carefully", "often",
    "never", "always", "gladly", "early", "later",
)  # fmt: skip
_PREPOSITIONS = (
    "near", "behind", "across", "under", "beside", "towards", "beyond", "past",
)  # fmt: skip
_CONNECTIVES = ("and then", "but", "because", "while", "so", "although")
_DETERMINERS = ("the", "a", "that", "every", "our")
#: Every word :func:`random_sentence` can say, lower case and sorted.
VOCABULARY: tuple[str, ...] = tuple(
    sorted(
        {
            word
            for group in (_DETERMINERS, _ADJECTIVES, _NOUNS, _VERBS, _ADVERBS,
                          _PREPOSITIONS, _CONNECTIVES)
            for phrase in group
            for word in phrase.split()
        }
    )
)  # fmt: skip


def _noun_phrase(rng: np.random.Generator) -> str:
    words = [str(rng.choice(_DETERMINERS))]
    if rng.uniform() < 0.6:
        words.append(str(rng.choice(_ADJECTIVES)))
    words.append(str(rng.choice(_NOUNS)))
    return " ".join(words)


def _clause(rng: np.random.Generator) -> str:
    parts = [_noun_phrase(rng)]
    if rng.uniform() < 0.3:
        parts.append(str(rng.choice(_ADVERBS)))
    parts += [str(rng.choice(_VERBS)), _noun_phrase(rng)]
    if rng.uniform() < 0.5:
        parts += [str(rng.choice(_PREPOSITIONS)), _noun_phrase(rng)]
    return " ".join(parts)


def random_sentence(rng: np.random.Generator, min_words: int = 6) -> str:
    """Returns a grammatical random sentence of at least ``min_words`` words.

    Arguments
    ---------
    rng : numpy.random.Generator
        The utterance's private generator.
    min_words : int
        Clauses are joined with connectives until the sentence is this long.

    Returns
    -------
    str
        Lower-case words, a capitalised first letter and a final period.

    Example
    -------
    >>> sentence = random_sentence(np.random.default_rng(0), min_words=8)
    >>> len(sentence.split()) >= 8, sentence.endswith(".")
    (True, True)
    """
    text = _clause(rng)
    while len(text.split()) < min_words:
        text += " " + str(rng.choice(_CONNECTIVES)) + " " + _clause(rng)
    return text[0].upper() + text[1:] + "."


def transcript(sentence: str) -> str:
    """Returns the LibriSpeech-style transcript: upper case, no punctuation.

    Example
    -------
    >>> transcript("The old farmer found a horse.")
    'THE OLD FARMER FOUND A HORSE'
    """
    kept = "".join(c if c.isalpha() or c in " '" else " " for c in sentence)
    return " ".join(kept.upper().split())

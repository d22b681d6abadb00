"""Google Speech Commands V1 conventions: word lists, class labels and splits.

The word lists are defined here once; the generator and ``prepare_gsc`` import them.
"""

import hashlib
import os
import re

#: The 10 keywords of the standard 12-class V1 task.
GSC_KEYWORDS: tuple[str, ...] = (
    "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go",
)  # fmt: skip
#: The 20 other V1 words, all mapped to ``_unknown_``.
GSC_UNKNOWN_WORDS: tuple[str, ...] = (
    "bed", "bird", "cat", "dog", "eight", "five", "four", "happy", "house",
    "marvin", "nine", "one", "seven", "sheila", "six", "three", "tree", "two",
    "wow", "zero",
)  # fmt: skip
#: All 30 V1 words.
GSC_WORDS: tuple[str, ...] = GSC_KEYWORDS + GSC_UNKNOWN_WORDS
UNKNOWN_LABEL = "_unknown_"
SILENCE_LABEL = "_silence_"
#: The 12 classes: the keywords, ``_unknown_`` and ``_silence_``.
GSC_CLASSES: tuple[str, ...] = GSC_KEYWORDS + (UNKNOWN_LABEL, SILENCE_LABEL)
BACKGROUND_NOISE_FOLDER = "_background_noise_"
VALIDATION_LIST = "validation_list.txt"
TESTING_LIST = "testing_list.txt"
#: The folder of V1's official balanced test set (one sub-folder per class).
OFFICIAL_TEST_FOLDER = "speech_commands_test_set_v0.01"

# From the GSC README / TensorFlow's speech_commands input_data.py.
_MAX_NUM_WAVS_PER_CLASS = 2**27 - 1


def which_set(
    filename: str,
    validation_percentage: float = 10.0,
    testing_percentage: float = 10.0,
) -> str:
    """Returns the split of a GSC file, as the dataset's own ``which_set`` does.

    The speaker id (the file name before ``_nohash_``) is hashed with SHA-1, so every
    take of one speaker lands in the same split.

    Arguments
    ---------
    filename : str
        A GSC path or file name such as ``yes/0a7c2a8d_nohash_0.wav``.
    validation_percentage : float
        Percentage of speakers in the validation split.
    testing_percentage : float
        Percentage of speakers in the testing split.

    Returns
    -------
    str
        One of ``"training"``, ``"validation"``, ``"testing"``.

    Example
    -------
    >>> which_set("yes/0a7c2a8d_nohash_0.wav") == which_set("no/0a7c2a8d_nohash_3.wav")
    True
    """
    base_name = os.path.basename(filename)
    hash_name = re.sub(r"_nohash_.*$", "", base_name)
    hashed = hashlib.sha1(hash_name.encode("utf-8")).hexdigest()
    percentage = (int(hashed, 16) % (_MAX_NUM_WAVS_PER_CLASS + 1)) * (
        100.0 / _MAX_NUM_WAVS_PER_CLASS
    )
    if percentage < validation_percentage:
        return "validation"
    if percentage < validation_percentage + testing_percentage:
        return "testing"
    return "training"


def command_label(word: str) -> str:
    """Maps a GSC word folder to its 12-class label.

    Arguments
    ---------
    word : str
        A word folder name (``yes``, ``marvin``, ...).

    Returns
    -------
    str
        The word itself for a keyword, else ``_unknown_``.

    Example
    -------
    >>> command_label("yes"), command_label("marvin")
    ('yes', '_unknown_')
    """
    return word if word in GSC_KEYWORDS else UNKNOWN_LABEL

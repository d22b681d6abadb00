"""Procedural espeak-ng voices and rendering through a private data path.

Each speaker is an espeak-ng voice *variant* (pitch, formants, tone, breath,
roughness, flutter, voicing, synthesis mode) on top of one English accent. Three
espeak-ng behaviours silently destroy speaker identity, and this module avoids them:

- past about 349 voice files espeak-ng falls back to its default voice with only a
  warning, and an unknown variant name falls back with no message at all. So each
  worker gets a private copy of the data folder (symlinks to the system one) whose
  ``voices/!v/`` holds ONE variant file, rewritten for every speaker, and
  :meth:`EspeakRenderer.self_check` verifies that the variant changes the audio;
- ``--stdout`` writes a WAV header with a wrong length, so audio is written with
  ``-w file.wav`` and read back with soundfile.
"""

import os
import shutil
import subprocess
from dataclasses import dataclass, replace

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly
from speechbrain.utils.logger import get_logger

logger = get_logger(__name__)

ESPEAK_BINARY = "espeak-ng"
ESPEAK_SAMPLE_RATE = 22050
#: English accents (espeak-ng language voices) a speaker can have.
ACCENTS: tuple[str, ...] = (
    "en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan",
    "en-gb-x-gbcwmd", "en-us-nyc",
)  # fmt: skip
VARIANT_NAME = "kdsrl"
_TONE_FREQS = (600, 1200, 2000, 3000)


@dataclass(frozen=True)
class Voice:
    """One procedural speaker: an espeak-ng accent plus a voice variant file.

    Arguments
    ---------
    accent : str
        espeak-ng language voice, one of :data:`ACCENTS`.
    gender : str
        ``"male"`` or ``"female"``.
    pitch : tuple[int, int]
        Pitch base and top in Hz (variant ``pitch`` line).
    formants : tuple[tuple[int, int, int, int], ...]
        ``(n, freq %, height %, width %)`` per formant (variant ``formant`` lines).
    tone : tuple[int, int, int, int]
        Amplitudes (%) of the ``tone`` envelope at 600/1200/2000/3000 Hz.
    breath : tuple[int, ...]
        Eight breath amounts (``breath`` line), all zero for a modal voice.
    breathw : tuple[int, ...]
        Eight breath widths (``breathw`` line).
    roughness : int
        ``roughness`` 0 to 7.
    flutter : int
        Pitch ``flutter``.
    voicing : int
        ``voicing`` percentage.
    consonants : int
        ``consonants`` loudness percentage.
    klatt : int
        Synthesis mode: 0 is espeak-ng's wavegen, 1 to 4 its Klatt variants.
    words_per_minute : int
        The speaker's base speaking rate (``-s``).
    """

    accent: str
    gender: str
    pitch: tuple[int, int]
    formants: tuple[tuple[int, int, int, int], ...]
    tone: tuple[int, int, int, int]
    breath: tuple[int, ...]
    breathw: tuple[int, ...]
    roughness: int
    flutter: int
    voicing: int
    consonants: int
    klatt: int
    words_per_minute: int

    def variant_text(self) -> str:
        """Returns the content of the espeak-ng variant file for this voice.

        Returns
        -------
        str
            Text in espeak-ng's voice file format.

        Example
        -------
        >>> voice = sample_voice(np.random.default_rng(0))
        >>> voice.variant_text().splitlines()[:2]
        ['language variant', 'name kdsrl']
        """
        lines = [
            "language variant",
            f"name {VARIANT_NAME}",
            f"gender {self.gender}",
            f"pitch {self.pitch[0]} {self.pitch[1]}",
        ]
        lines += [f"formant {n} {f} {h} {w}" for n, f, h, w in self.formants]
        tone = " ".join(f"{f} {a}" for f, a in zip(_TONE_FREQS, self.tone, strict=True))
        lines.append(f"tone {tone}")
        lines.append("breath " + " ".join(map(str, self.breath)))
        lines.append("breathw " + " ".join(map(str, self.breathw)))
        lines.append(f"roughness {self.roughness}")
        lines.append(f"flutter {self.flutter}")
        lines.append(f"voicing {self.voicing}")
        lines.append(f"consonants {self.consonants}")
        lines.append(f"klatt {self.klatt}")
        return "\n".join(lines) + "\n"


def sample_voice(rng: np.random.Generator) -> Voice:
    """Draws a random speaker.

    The vocal-tract scale moves all formants together (shorter tract, higher
    formants), each formant then gets its own small offset, height and width.

    Arguments
    ---------
    rng : numpy.random.Generator
        The speaker's private generator.

    Returns
    -------
    Voice
        The speaker.

    Example
    -------
    >>> voice = sample_voice(np.random.default_rng(0))
    >>> voice.accent in ACCENTS, len(voice.formants)
    (True, 9)
    """
    accent = str(rng.choice(ACCENTS))
    female = bool(rng.uniform() < 0.5)
    if female:
        base = int(rng.uniform(150, 235))
        tract = rng.uniform(1.02, 1.2)
    else:
        base = int(rng.uniform(70, 135))
        tract = rng.uniform(0.86, 1.04)
    top = base + int(rng.uniform(25, 120))
    formants = []
    for n in range(9):
        freq = round(100 * tract * rng.uniform(0.94, 1.06))
        height = int(rng.uniform(65, 135))
        width = int(rng.uniform(70, 170))
        formants.append((n, freq, height, width))
    tone = tuple(int(rng.uniform(70, 190)) for _ in _TONE_FREQS)
    if rng.uniform() < 0.3:  # a breathy speaker
        level = rng.uniform(1, 12)
        breath = tuple(int(level * rng.uniform(0.3, 1.0)) for _ in range(8))
    else:
        breath = (0,) * 8
    breathw = tuple(int(rng.uniform(80, 200)) for _ in range(8))
    klatt = int(rng.choice([0, 0, 0, 0, 1, 2, 3, 4]))
    return Voice(
        accent=accent,
        gender="female" if female else "male",
        pitch=(base, top),
        formants=tuple(formants),
        tone=tone,  # type: ignore[arg-type]
        breath=breath,
        breathw=breathw,
        roughness=int(rng.integers(0, 6)),
        flutter=int(rng.uniform(0, 60)),
        voicing=int(rng.uniform(75, 115)),
        consonants=int(rng.uniform(70, 130)),
        klatt=klatt,
        words_per_minute=int(rng.uniform(140, 200)),
    )


def find_espeak(binary: str = ESPEAK_BINARY) -> str:
    """Returns the full path of the espeak-ng binary.

    Arguments
    ---------
    binary : str
        Name or path of the binary.

    Returns
    -------
    str
        The resolved path.

    Raises
    ------
    FileNotFoundError
        When the binary is not installed, naming the Debian package.

    Example
    -------
    >>> find_espeak("no-such-espeak")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: ... Debian package `espeak-ng` ...
    """
    path = shutil.which(binary)
    if path is None:
        raise FileNotFoundError(
            f"The speech synthesiser '{binary}' was not found on PATH. Install the "
            "Debian package `espeak-ng` (apt-get install -y espeak-ng)."
        )
    return path


def system_data_path(binary: str = ESPEAK_BINARY) -> str:
    """Returns the system ``espeak-ng-data`` folder, read from ``--version``.

    Arguments
    ---------
    binary : str
        Name or path of the espeak-ng binary.

    Returns
    -------
    str
        The folder printed after ``Data at:``.
    """
    out = subprocess.run(
        [find_espeak(binary), "--version"], capture_output=True, text=True, check=True
    ).stdout
    if "Data at:" not in out:
        raise RuntimeError(f"Cannot find the data path in `{binary} --version`: {out}")
    path = out.split("Data at:", 1)[1].strip()
    if not os.path.isdir(os.path.join(path, "voices")):
        raise FileNotFoundError(f"espeak-ng data folder has no voices/: {path}")
    return path


class EspeakRenderer:
    """Renders text with one procedural voice at a time, at 16 kHz.

    The renderer owns ``workdir``: a private ``espeak-ng-data`` made of symlinks to
    the system one, except ``voices/!v/`` which holds the single variant file
    written by :meth:`set_voice`. One renderer per worker process.

    Arguments
    ---------
    workdir : str
        An empty or new folder, private to this renderer.
    binary : str
        Name or path of the espeak-ng binary.
    sample_rate : int
        Output sample rate.

    Example
    -------
    >>> import tempfile
    >>> workdir = tempfile.TemporaryDirectory()
    >>> renderer = EspeakRenderer(workdir.name)
    >>> renderer.set_voice(sample_voice(np.random.default_rng(0)))
    >>> audio = renderer.render("yes")
    >>> audio.dtype, audio.ndim
    (dtype('float32'), 1)
    >>> workdir.cleanup()
    """

    def __init__(
        self, workdir: str, binary: str = ESPEAK_BINARY, sample_rate: int = 16000
    ):
        self.binary = find_espeak(binary)
        self.sample_rate = sample_rate
        self.workdir = workdir
        data = os.path.join(workdir, "espeak-ng-data")
        variants = os.path.join(data, "voices", "!v")
        os.makedirs(variants, exist_ok=True)
        system = system_data_path(self.binary)
        for entry in sorted(os.listdir(system)):
            link = os.path.join(data, entry)
            if entry != "voices" and not os.path.lexists(link):
                os.symlink(os.path.join(system, entry), link)
        self.variant_path = os.path.join(variants, VARIANT_NAME)
        self.wav_path = os.path.join(workdir, "render.wav")
        self.voice: Voice | None = None

    def set_voice(self, voice: Voice) -> None:
        """Writes ``voice`` as the renderer's variant file."""
        with open(self.variant_path, "w", encoding="utf-8") as f:
            f.write(voice.variant_text())
        self.voice = voice

    def render(
        self, text: str, pitch: int = 50, speed: int | None = None
    ) -> np.ndarray:
        """Speaks ``text`` with the current voice.

        Arguments
        ---------
        text : str
            What to say.
        pitch : int
            espeak-ng ``-p`` pitch adjustment, 0 to 99 (50 = the voice's own).
        speed : int, optional
            Words per minute (``-s``); defaults to the voice's rate.

        Returns
        -------
        numpy.ndarray
            float32 audio [time] at ``sample_rate``.
        """
        if self.voice is None:
            raise ValueError("EspeakRenderer.render called before set_voice")
        return self._run(
            text, f"{self.voice.accent}+{VARIANT_NAME}", pitch,
            speed or self.voice.words_per_minute,
        )  # fmt: skip

    def render_default(self, text: str, accent: str = "en-us") -> np.ndarray:
        """Speaks ``text`` with espeak-ng's plain ``accent`` voice (no variant)."""
        return self._run(text, accent, 50, 175)

    def _run(self, text: str, voice_name: str, pitch: int, speed: int) -> np.ndarray:
        if not text.strip() or text.lstrip().startswith("-"):
            raise ValueError(f"Cannot speak text {text!r}")
        cmd = [
            self.binary, f"--path={self.workdir}", "-v", voice_name,
            "-p", str(int(np.clip(pitch, 0, 99))), "-s", str(int(speed)),
            "-w", self.wav_path, text,
        ]  # fmt: skip
        done = subprocess.run(cmd, check=False, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"espeak-ng failed ({done.returncode}): {done.stderr}")
        if done.stderr.strip():  # e.g. a voice it could not load
            raise RuntimeError(
                f"espeak-ng warned for voice {voice_name}: {done.stderr}"
            )
        audio, rate = sf.read(self.wav_path, dtype="float32")
        if audio.ndim != 1 or audio.size == 0:
            raise RuntimeError(f"espeak-ng wrote no mono audio for {text!r}")
        if rate != self.sample_rate:
            g = np.gcd(rate, self.sample_rate)
            audio = resample_poly(audio, self.sample_rate // g, rate // g)
        return audio.astype(np.float32)

    def self_check(self) -> None:
        """Verifies that variant files really change the voice.

        Renders one word with the plain accent and with two contrasting variants;
        identical audio means espeak-ng fell back to its default voice.

        Raises
        ------
        RuntimeError
            When the variant is ignored.
        """
        # One accent for all three, so only the variant file can make them differ.
        low = replace(sample_voice(np.random.default_rng(1)), accent="en-us")
        high = replace(sample_voice(np.random.default_rng(2)), accent="en-us")
        renders = [self.render_default("seven", "en-us")]
        for voice in (low, high):
            self.set_voice(voice)
            renders.append(self.render("seven", speed=175))
        self.voice = None
        for i in range(3):
            for j in range(i + 1, 3):
                a, b = renders[i], renders[j]
                if a.shape == b.shape and np.array_equal(a, b):
                    raise RuntimeError(
                        "espeak-ng ignored the voice variant file "
                        f"{self.variant_path}: it fell back to its default voice"
                    )

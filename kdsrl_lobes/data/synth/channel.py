"""Recording channels for synthetic speech: room, device and noise.

A :class:`Channel` is one fixed recording set-up (a synthetic room impulse response,
device band limits and colouring, a noise type and level). VoxCeleb sessions and
LibriSpeech chapters each keep one channel; GSC speakers keep one device and every
clip varies it a little. All functions work on float32 NumPy audio [time].
"""

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, fftconvolve, lfilter, sosfilt

#: Noise types, also written as GSC ``_background_noise_`` files.
NOISE_KINDS: tuple[str, ...] = ("white", "pink", "brown", "hum", "machine")


def make_noise(
    kind: str, num_samples: int, rng: np.random.Generator, sample_rate: int = 16000
) -> np.ndarray:
    """Returns a unit-RMS noise recording.

    Arguments
    ---------
    kind : str
        One of :data:`NOISE_KINDS`: white, pink (1/f), brown (1/f^2), hum (mains
        hum with harmonics) or machine (rhythmically modulated motor noise).
    num_samples : int
        Length in samples.
    rng : numpy.random.Generator
        Source of randomness.
    sample_rate : int
        Sample rate in Hz.

    Returns
    -------
    numpy.ndarray
        float32 noise [num_samples] with RMS 1.

    Example
    -------
    >>> noise = make_noise("pink", 16000, np.random.default_rng(0))
    >>> noise.shape, round(float(np.sqrt(np.mean(noise ** 2))), 3)
    ((16000,), 1.0)
    """
    if kind not in NOISE_KINDS:
        raise ValueError(f"Unknown noise kind {kind!r}, expected one of {NOISE_KINDS}")
    t = np.arange(num_samples) / sample_rate
    white = rng.standard_normal(num_samples)
    if kind == "white":
        noise = white
    elif kind in ("pink", "brown"):
        spectrum = np.fft.rfft(white)
        freqs = np.fft.rfftfreq(num_samples, 1 / sample_rate)
        power = 1.0 if kind == "pink" else 2.0
        spectrum /= np.maximum(freqs, 20.0) ** (power / 2)
        noise = np.fft.irfft(spectrum, num_samples)
    elif kind == "hum":
        mains = rng.choice([50.0, 60.0]) * rng.uniform(0.995, 1.005)
        noise = 0.05 * white
        for harmonic in range(1, 8):
            amp = rng.uniform(0.2, 1.0) / harmonic
            noise = noise + amp * np.sin(
                2 * np.pi * mains * harmonic * t + rng.uniform(0, 6.3)
            )
    else:  # machine: low-passed noise, amplitude-modulated, with a motor tone
        b, a = butter(2, rng.uniform(300, 1500), fs=sample_rate)
        rumble = lfilter(b, a, white)
        rate = rng.uniform(0.7, 3.0)
        envelope = 1.0 + 0.8 * np.sin(2 * np.pi * rate * t) ** 2
        motor = rng.uniform(80, 400)
        tone = 0.5 * np.sin(2 * np.pi * motor * t) + 0.2 * np.sin(4 * np.pi * motor * t)
        noise = envelope * (rumble / (np.std(rumble) + 1e-9) + tone)
    noise = noise - noise.mean()
    return (noise / (np.sqrt(np.mean(noise**2)) + 1e-12)).astype(np.float32)


def synthetic_rir(
    rng: np.random.Generator, rt60: float, drr_db: float, sample_rate: int = 16000
) -> np.ndarray:
    """Returns a synthetic room impulse response.

    A direct path, a few early reflections and an exponentially decaying noise tail
    whose energy relative to the direct path is set by ``drr_db``.

    Arguments
    ---------
    rng : numpy.random.Generator
        Source of randomness.
    rt60 : float
        Reverberation time (60 dB decay) in seconds.
    drr_db : float
        Direct-to-reverberant energy ratio in dB.
    sample_rate : int
        Sample rate in Hz.

    Returns
    -------
    numpy.ndarray
        float32 impulse response [time] with a unit direct path at index 0.

    Example
    -------
    >>> rir = synthetic_rir(np.random.default_rng(0), rt60=0.3, drr_db=5.0)
    >>> rir.shape, float(rir[0])
    ((4800,), 1.0)
    """
    length = max(int(rt60 * sample_rate), 16)
    t = np.arange(length) / sample_rate
    tail = rng.standard_normal(length) * np.exp(-6.908 * t / rt60)
    tail[: int(0.002 * sample_rate)] = 0.0  # reverberation starts after the direct path
    for _ in range(4):  # early reflections
        delay = int(rng.uniform(0.002, 0.02) * sample_rate)
        tail[delay] += (
            rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.5) * np.abs(tail).max()
        )
    tail *= np.sqrt(10 ** (-drr_db / 10) / (np.sum(tail**2) + 1e-12))
    tail[0] = 1.0
    return tail.astype(np.float32)


def peaking_eq(
    x: np.ndarray, freq: float, gain_db: float, q: float, sample_rate: int = 16000
) -> np.ndarray:
    """Applies one peaking equaliser band (RBJ audio-EQ cookbook biquad).

    Arguments
    ---------
    x : numpy.ndarray
        Audio [time].
    freq : float
        Centre frequency in Hz.
    gain_db : float
        Boost (positive) or cut (negative) in dB.
    q : float
        Quality factor.
    sample_rate : int
        Sample rate in Hz.

    Returns
    -------
    numpy.ndarray
        Filtered audio [time].

    Example
    -------
    >>> peaking_eq(np.ones(100, dtype=np.float32), 1000.0, 6.0, 1.0).shape
    (100,)
    """
    amp = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * freq / sample_rate
    alpha = np.sin(w0) / (2 * q)
    b = [1 + alpha * amp, -2 * np.cos(w0), 1 - alpha * amp]
    a = [1 + alpha / amp, -2 * np.cos(w0), 1 - alpha / amp]
    return lfilter(b, a, x)


@dataclass(frozen=True)
class ChannelProfile:
    """Ranges a :class:`Channel` is drawn from (each a ``(low, high)`` pair)."""

    reverb_probability: float
    rt60: tuple[float, float]
    drr_db: tuple[float, float]
    low_hz: tuple[float, float]
    high_hz: tuple[float, float]
    eq_gain_db: float
    snr_db: tuple[float, float]
    peak_db: tuple[float, float]


@dataclass(frozen=True)
class Channel:
    """One recording set-up. ``rt60 == 0`` means no reverberation.

    ``eq`` holds ``(freq, gain_db, q)`` peaking bands; ``snr_db`` is the speech to
    noise ratio and ``peak_db`` the output peak level in dBFS.
    """

    rt60: float
    drr_db: float
    low_hz: float
    high_hz: float
    eq: tuple[tuple[float, float, float], ...]
    noise_kind: str
    snr_db: float
    peak_db: float


def sample_channel(rng: np.random.Generator, profile: ChannelProfile) -> Channel:
    """Draws a channel from ``profile``.

    Example
    -------
    >>> profile = ChannelProfile(0.5, (0.2, 0.6), (0, 10), (50, 300), (3000, 7500),
    ...                          6.0, (5, 30), (-12, -1))
    >>> channel = sample_channel(np.random.default_rng(0), profile)
    >>> channel.noise_kind in NOISE_KINDS
    True
    """
    reverb = rng.uniform() < profile.reverb_probability
    eq = tuple(
        (
            float(np.exp(rng.uniform(np.log(200), np.log(6000)))),
            float(rng.uniform(-profile.eq_gain_db, profile.eq_gain_db)),
            float(rng.uniform(0.5, 2.0)),
        )
        for _ in range(2)
    )
    return Channel(
        rt60=float(rng.uniform(*profile.rt60)) if reverb else 0.0,
        drr_db=float(rng.uniform(*profile.drr_db)),
        low_hz=float(rng.uniform(*profile.low_hz)),
        high_hz=float(rng.uniform(*profile.high_hz)),
        eq=eq,
        noise_kind=str(rng.choice(NOISE_KINDS)),
        snr_db=float(rng.uniform(*profile.snr_db)),
        peak_db=float(rng.uniform(*profile.peak_db)),
    )


def apply_channel(
    x: np.ndarray,
    channel: Channel,
    rng: np.random.Generator,
    sample_rate: int = 16000,
    speech_mask: np.ndarray | None = None,
) -> np.ndarray:
    """Records ``x`` through ``channel``: room, device band and colour, noise, level.

    The room's reverberant tail beyond the input length is cut, so the output has
    the input's length; a fresh noise realisation is drawn from ``rng``.

    Arguments
    ---------
    x : numpy.ndarray
        Clean speech [time].
    channel : Channel
        The recording set-up.
    rng : numpy.random.Generator
        The clip's private generator (room tail, noise).
    sample_rate : int
        Sample rate in Hz.
    speech_mask : numpy.ndarray, optional
        Boolean [time] marking the speech used to measure its power for the SNR;
        defaults to the samples above -40 dB of the peak.

    Returns
    -------
    numpy.ndarray
        float32 audio [time], peak at ``channel.peak_db`` dBFS.

    Example
    -------
    >>> profile = ChannelProfile(1.0, (0.2, 0.6), (0, 10), (50, 300), (3000, 7500),
    ...                          6.0, (5, 30), (-12, -1))
    >>> rng = np.random.default_rng(0)
    >>> speech = np.sin(np.arange(16000) / 5.0).astype(np.float32)
    >>> apply_channel(speech, sample_channel(rng, profile), rng).shape
    (16000,)
    """
    if x.ndim != 1:
        raise ValueError(f"Expected mono audio [time], found shape {list(x.shape)}")
    y = x.astype(np.float64)
    if speech_mask is None:
        speech_mask = np.abs(y) > 0.01 * (np.abs(y).max() + 1e-12)
    if channel.rt60 > 0:
        rir = synthetic_rir(rng, channel.rt60, channel.drr_db, sample_rate)
        y = fftconvolve(y, rir)[: len(y)]
    high = min(channel.high_hz, 0.49 * sample_rate)
    sos = butter(
        4, [channel.low_hz, high], btype="bandpass", fs=sample_rate, output="sos"
    )
    y = sosfilt(sos, y)
    for freq, gain_db, q in channel.eq:
        y = peaking_eq(y, min(freq, 0.45 * sample_rate), gain_db, q, sample_rate)
    speech_power = np.mean(y[speech_mask] ** 2) if speech_mask.any() else np.mean(y**2)
    noise = make_noise(channel.noise_kind, len(y), rng, sample_rate).astype(np.float64)
    y = y + noise * np.sqrt(speech_power / 10 ** (channel.snr_db / 10))
    y *= 10 ** (channel.peak_db / 20) / (np.abs(y).max() + 1e-12)
    return y.astype(np.float32)


def jitter_channel(
    rng: np.random.Generator, channel: Channel, amount: float
) -> Channel:
    """Returns ``channel`` varied a little, for takes recorded on one device.

    Arguments
    ---------
    rng : numpy.random.Generator
        The take's private generator.
    channel : Channel
        The device's channel.
    amount : float
        Relative size of the variation (0 keeps the channel, 0.2 is moderate).

    Returns
    -------
    Channel
        A new channel: other noise level and level, slightly other room and band.

    Example
    -------
    >>> base = Channel(0.3, 5.0, 100.0, 6000.0, (), "pink", 20.0, -6.0)
    >>> jitter_channel(np.random.default_rng(0), base, 0.0) == base
    True
    """
    scale = 1.0 + amount * rng.uniform(-1, 1, size=4)
    return Channel(
        rt60=channel.rt60 * float(scale[0]),
        drr_db=channel.drr_db,
        low_hz=channel.low_hz * float(scale[1]),
        high_hz=channel.high_hz * float(scale[2]),
        eq=channel.eq,
        noise_kind=channel.noise_kind,
        snr_db=channel.snr_db + 40 * amount * float(rng.uniform(-1, 1)),
        peak_db=min(channel.peak_db + 20 * amount * float(rng.uniform(-1, 1)), -0.5),
    )

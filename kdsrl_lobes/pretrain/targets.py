"""HuBERT's first-iteration targets: k-means clusters of 39-dim MFCC features.

HuBERT (Hsu et al. 2021, section IV-B) clusters 39-dimensional MFCCs (13
coefficients plus first and second derivatives, 25 ms windows every 10 ms) into
100 clusters and trains the model to predict the cluster of each masked frame.
fairseq computes them with ``torchaudio.compliance.kaldi.mfcc(use_energy=False)``
and ``compute_deltas``; so does `mfcc_features`. The model's CNN has a 20 ms
stride (50 Hz), so each model frame takes the cluster of the MFCC frame that
starts where it starts (every second frame for BASE's 320-sample stride).

The k-means is a small torch implementation (k-means++ seeding, then Lloyd
iterations over all frames) so that no extra dependency is needed.

Authors
 * kdsrl team 2026
"""

from collections.abc import Iterable

import torch
import torchaudio.functional as AF
from speechbrain.utils.logger import get_logger
from torchaudio.compliance import kaldi

from kdsrl_lobes.models.padding import length_mask

logger = get_logger(__name__)

SAMPLE_RATE = 16000
MFCC_HOP = 160  # 10 ms at 16 kHz
MFCC_WINDOW = 400  # 25 ms at 16 kHz
IGNORE_INDEX = -100  # torch's cross-entropy default


def mfcc_features(wav: torch.Tensor) -> torch.Tensor:
    """13 MFCCs with deltas and delta-deltas at 100 Hz, as in HuBERT.

    Arguments
    ---------
    wav : torch.Tensor
        One utterance ``[time]`` at 16 kHz, at least 25 ms long.

    Returns
    -------
    feats : torch.Tensor
        ``[frames, 39]`` with ``frames = (time - 400) // 160 + 1``.

    Example
    -------
    >>> mfcc_features(torch.randn(16000)).shape
    torch.Size([98, 39])
    """
    if wav.dim() != 1:
        raise ValueError(f"Expected one [time] waveform, found {list(wav.shape)}")
    if wav.numel() < MFCC_WINDOW:
        raise ValueError(
            f"Expected at least {MFCC_WINDOW} samples (25 ms) for one MFCC frame, "
            f"found {wav.numel()}"
        )
    mfcc = kaldi.mfcc(
        wav.float().unsqueeze(0),
        sample_frequency=SAMPLE_RATE,
        use_energy=False,
        dither=0.0,
    )  # frames x 13
    mfcc = mfcc.transpose(0, 1).unsqueeze(0)  # 1 x 13 x frames
    delta = AF.compute_deltas(mfcc)
    delta2 = AF.compute_deltas(delta)
    return torch.cat([mfcc, delta, delta2], dim=1)[0].transpose(0, 1)


def mfcc_frame_index(num_frames: int, frame_stride: int, num_mfcc: int) -> torch.Tensor:
    """Index of the MFCC frame that starts where each model frame starts.

    Arguments
    ---------
    num_frames : int
        Frames of the model's CNN.
    frame_stride : int
        The CNN's total stride in samples (320 for BASE).
    num_mfcc : int
        MFCC frames available; later model frames take the last one.

    Example
    -------
    >>> mfcc_frame_index(5, 320, 9)
    tensor([0, 2, 4, 6, 8])
    """
    index = torch.arange(num_frames) * frame_stride // MFCC_HOP
    return index.clamp(max=max(num_mfcc - 1, 0))


def kmeans(
    features: torch.Tensor,
    num_clusters: int,
    num_iters: int = 30,
    seed: int = 0,
    init_samples: int = 20000,
    chunk_size: int = 65536,
) -> torch.Tensor:
    """k-means (k-means++ seeding, Lloyd iterations) on ``[frames, dim]`` features.

    Arguments
    ---------
    features : torch.Tensor
        ``[frames, dim]``.
    num_clusters : int
        Number of centroids; there must be at least as many distinct frames.
    num_iters : int
        Lloyd iterations over all frames.
    seed : int
        Seed of the k-means++ draws (the result depends only on it).
    init_samples : int
        k-means++ seeds from at most this many randomly chosen frames.
    chunk_size : int
        Frames per distance computation (bounds the memory).

    Returns
    -------
    centroids : torch.Tensor
        ``[num_clusters, dim]``.

    Example
    -------
    >>> x = torch.cat([torch.randn(50, 2) - 10, torch.randn(50, 2) + 10])
    >>> c = kmeans(x, 2)
    >>> sorted(c[:, 0].round().tolist())
    [-10.0, 10.0]
    """
    if features.dim() != 2:
        raise ValueError(
            f"Expected [frames, dim] features, found {list(features.shape)}"
        )
    if num_clusters < 1:
        raise ValueError(f"Expected num_clusters >= 1, found {num_clusters}")
    if features.shape[0] < num_clusters:
        raise ValueError(
            f"k-means with {num_clusters} clusters needs at least {num_clusters} "
            f"feature frames, found {features.shape[0]}: use a larger corpus or "
            "fewer clusters"
        )
    if not torch.isfinite(features).all():
        raise ValueError("k-means features contain NaN or infinite values")
    features = features.float()
    gen = torch.Generator().manual_seed(seed)
    pool = features
    if features.shape[0] > init_samples:
        pool = features[torch.randperm(features.shape[0], generator=gen)[:init_samples]]
    centroids = _kmeans_plus_plus(pool, num_clusters, gen)
    for _ in range(num_iters):
        labels, dists = _nearest(features, centroids, chunk_size)
        sums = torch.zeros_like(centroids).index_add_(0, labels, features)
        counts = torch.bincount(labels, minlength=num_clusters)
        empty = counts == 0
        centroids = sums / counts.clamp(min=1).unsqueeze(1).to(sums.dtype)
        if empty.any():
            # Re-seed empty clusters with the frames farthest from their centroid.
            far = torch.topk(dists, int(empty.sum())).indices
            centroids[empty] = features[far]
    return centroids


def _kmeans_plus_plus(points, num_clusters, gen):
    """k-means++ seeding: each next centroid drawn with probability ~ distance^2."""
    first = torch.randint(points.shape[0], (1,), generator=gen)
    centroids = [points[first[0]]]
    dists = ((points - centroids[0]) ** 2).sum(dim=1)
    for _ in range(1, num_clusters):
        total = dists.sum()
        if total <= 0:
            raise ValueError(
                f"k-means needs {num_clusters} distinct feature frames, found fewer "
                "(silent or constant audio?)"
            )
        pick = torch.multinomial(dists / total, 1, generator=gen)[0]
        centroids.append(points[pick])
        dists = torch.minimum(dists, ((points - points[pick]) ** 2).sum(dim=1))
    return torch.stack(centroids)


def _nearest(features, centroids, chunk_size=65536):
    """Nearest centroid ``[frames]`` and squared distance ``[frames]``."""
    labels, dists = [], []
    c_norm = (centroids**2).sum(dim=1)
    for chunk in features.split(chunk_size):
        # |x - c|^2 = |x|^2 - 2 x.c + |c|^2; frames x clusters
        d = (chunk**2).sum(dim=1, keepdim=True) - 2 * chunk @ centroids.T + c_norm
        best = d.min(dim=1)
        labels.append(best.indices)
        dists.append(best.values.clamp(min=0))
    return torch.cat(labels), torch.cat(dists)


def training_features(
    waveforms: Iterable[torch.Tensor],
    frame_stride: int = 320,
    max_frames: int | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """MFCC features of a training set at the model's frame rate, for k-means.

    Arguments
    ---------
    waveforms : iterable of torch.Tensor
        Utterances ``[time]`` at 16 kHz, preprocessed as the model's input.
    frame_stride : int
        The model's CNN stride in samples: one MFCC frame is kept per model
        frame (every second one at BASE's 320).
    max_frames : int, optional
        Keep at most this many frames, drawn at random (k-means on a subset).
    seed : int
        Seed of that draw.

    Returns
    -------
    features : torch.Tensor
        ``[frames, 39]``.

    Example
    -------
    >>> training_features([torch.randn(16000), torch.randn(8000)]).shape
    torch.Size([73, 39])
    """
    chunks = []
    for wav in waveforms:
        if wav.numel() < MFCC_WINDOW:
            continue
        feats = mfcc_features(wav)
        num_frames = (wav.numel() - MFCC_WINDOW) // frame_stride + 1
        chunks.append(feats[mfcc_frame_index(num_frames, frame_stride, len(feats))])
    if not chunks:
        raise ValueError(
            "No training audio to compute k-means targets on (empty training set, "
            f"or every utterance shorter than {MFCC_WINDOW} samples)"
        )
    features = torch.cat(chunks)
    if max_frames is not None and features.shape[0] > max_frames:
        gen = torch.Generator().manual_seed(seed)
        keep = torch.randperm(features.shape[0], generator=gen)[:max_frames]
        features = features[keep]
    return features


class ClusterTargets(torch.nn.Module):
    """Frame-level cluster targets: MFCC -> standardise -> nearest k-means centroid.

    The codebook (per-dimension mean and std and the centroids) is a set of
    buffers, so it is saved in checkpoints and ``state_dict`` with the model.

    Arguments
    ---------
    num_clusters : int
        Codebook size (100 in HuBERT's first iteration).
    feature_dim : int
        Feature dimension (39 for MFCC + deltas).

    Example
    -------
    >>> targets = ClusterTargets(num_clusters=4)
    >>> targets.fit(torch.randn(200, 39))
    >>> labels = targets(torch.randn(2, 16000), torch.tensor([1.0, 0.5]), 49, 320)
    >>> labels.shape, int(labels[1, -1])
    (torch.Size([2, 49]), -100)
    """

    def __init__(self, num_clusters: int = 100, feature_dim: int = 39):
        super().__init__()
        self.num_clusters = num_clusters
        self.register_buffer("mean", torch.zeros(feature_dim))
        self.register_buffer("std", torch.ones(feature_dim))
        self.register_buffer("centroids", torch.zeros(num_clusters, feature_dim))
        self.register_buffer("fitted", torch.tensor(False))

    @property
    def is_fitted(self) -> bool:
        """Whether `fit` (or loading a fitted codebook) has happened."""
        return bool(self.fitted)

    def fit(self, features: torch.Tensor, num_iters: int = 30, seed: int = 0):
        """Fits the codebook on ``[frames, feature_dim]`` training features."""
        if features.dim() != 2 or features.shape[1] != self.mean.numel():
            raise ValueError(
                f"Expected [frames, {self.mean.numel()}] features, found "
                f"{list(features.shape)}"
            )
        features = features.float()
        self.mean.copy_(features.mean(dim=0))
        self.std.copy_(features.std(dim=0).clamp(min=1e-5))
        normed = (features - self.mean) / self.std
        self.centroids.copy_(kmeans(normed, self.num_clusters, num_iters, seed))
        self.fitted.fill_(True)
        counts = torch.bincount(self.assign(features), minlength=self.num_clusters)
        logger.info(
            "k-means: %d clusters on %d frames, %d clusters used",
            self.num_clusters,
            features.shape[0],
            int((counts > 0).sum()),
        )

    def assign(self, features: torch.Tensor) -> torch.Tensor:
        """Cluster index ``[frames]`` of ``[frames, feature_dim]`` features."""
        if not self.is_fitted:
            raise ValueError("ClusterTargets used before fit(): no k-means codebook")
        normed = (features.to(self.centroids) - self.mean) / self.std
        return _nearest(normed, self.centroids)[0]

    @torch.no_grad()
    def forward(
        self,
        wav: torch.Tensor,
        wav_lens: torch.Tensor | None,
        num_frames: int,
        frame_stride: int,
    ) -> torch.Tensor:
        """Targets ``[batch, num_frames]`` of a batch of waveforms ``[batch, time]``.

        ``wav_lens`` are SpeechBrain relative lengths; frames in the padding get
        ``IGNORE_INDEX`` (-100).
        """
        if wav.dim() != 2:
            raise ValueError(f"Expected [batch, time] audio, found {list(wav.shape)}")
        if wav_lens is None:
            wav_lens = torch.ones(wav.shape[0], device=wav.device)
        labels = torch.full((wav.shape[0], num_frames), IGNORE_INDEX, dtype=torch.long)
        frame_valid = length_mask(wav_lens.cpu(), num_frames)
        for i, rel in enumerate(wav_lens.tolist()):
            n = max(int(round(rel * wav.shape[1])), MFCC_WINDOW)
            feats = mfcc_features(wav[i, :n].cpu())
            index = mfcc_frame_index(num_frames, frame_stride, feats.shape[0])
            labels[i] = self.assign(feats).cpu()[index]
        labels[~frame_valid] = IGNORE_INDEX
        return labels.to(wav.device)

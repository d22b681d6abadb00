"""k-means targets: MFCC features, frame alignment, k-means, ClusterTargets."""

import pytest
import torch

from kdsrl_lobes.pretrain.targets import (
    IGNORE_INDEX,
    ClusterTargets,
    kmeans,
    mfcc_features,
    mfcc_frame_index,
    training_features,
)


def test_mfcc_is_39_dims_at_100hz_with_deltas():
    feats = mfcc_features(torch.randn(16000 * 2))
    assert feats.shape == (198, 39)
    # two steady tones: the deltas peak where one switches to the other
    t = torch.arange(16000) / 16000
    wav = torch.where(t < 0.5, torch.sin(2 * torch.pi * 440 * t), torch.sin(6e3 * t))
    deltas = mfcc_features(wav)[:, 13:26].abs().mean(dim=1)
    steady = torch.cat([deltas[5:40], deltas[58:-5]]).mean()
    assert deltas[45:52].max() > 5 * steady


def test_mfcc_rejects_batches_and_too_short_audio():
    with pytest.raises(ValueError, match=r"\[time\]"):
        mfcc_features(torch.randn(2, 16000))
    with pytest.raises(ValueError, match="at least 400 samples"):
        mfcc_features(torch.randn(300))


def test_base_frames_take_every_second_mfcc_frame():
    assert mfcc_frame_index(4, 320, 100).tolist() == [0, 2, 4, 6]
    assert mfcc_frame_index(4, 320, 5).tolist() == [0, 2, 4, 4]
    # BASE CNN on 1 s: 49 frames, 98 MFCC frames
    assert training_features([torch.randn(16000)]).shape == (49, 39)


def test_kmeans_finds_separated_clusters_and_is_deterministic():
    gen = torch.Generator().manual_seed(0)
    centers = torch.tensor([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0], [20.0, 20.0]])
    x = torch.cat([c + torch.randn(100, 2, generator=gen) for c in centers])
    found = kmeans(x, 4, seed=3)
    dist = torch.cdist(centers, found).min(dim=1).values
    assert dist.max() < 0.5
    assert torch.equal(found, kmeans(x, 4, seed=3))


def test_kmeans_too_few_frames_or_distinct_points_is_a_clear_error():
    with pytest.raises(ValueError, match="100 clusters needs at least 100"):
        kmeans(torch.randn(50, 39), 100)
    with pytest.raises(ValueError, match="distinct"):
        kmeans(torch.ones(50, 3), 10)
    with pytest.raises(ValueError, match="NaN"):
        kmeans(torch.full((50, 3), float("nan")), 2)


def test_training_features_empty_corpus_is_a_clear_error():
    with pytest.raises(ValueError, match="empty training set"):
        training_features([])


def test_cluster_targets_label_frames_and_ignore_padding():
    targets = ClusterTargets(num_clusters=6)
    with pytest.raises(ValueError, match="before fit"):
        targets.assign(torch.randn(3, 39))
    wavs = [torch.randn(16000), torch.sin(torch.arange(16000) * 0.3)]
    targets.fit(training_features(wavs))
    batch = torch.stack(wavs)
    batch[1, 8000:] = 0
    labels = targets(batch, torch.tensor([1.0, 0.5]), 49, 320)
    assert labels.shape == (2, 49)
    # 8000 of 16000 samples: 24 frames of speech, frame 24 on is padding
    assert (labels[1, 24:] == IGNORE_INDEX).all() and (labels[1, :24] >= 0).all()
    assert ((labels[0] >= 0) & (labels[0] < 6)).all()
    assert (labels[1, :24] < 6).all()
    # the labels of the padded utterance's valid frames are those it has alone
    alone = targets(batch[1:, :8000], None, 24, 320)
    assert torch.equal(labels[1, :24], alone[0])


def test_cluster_codebook_round_trips_through_state_dict():
    targets = ClusterTargets(num_clusters=4)
    targets.fit(torch.randn(200, 39))
    restored = ClusterTargets(num_clusters=4)
    restored.load_state_dict(targets.state_dict())
    feats = torch.randn(30, 39)
    assert restored.is_fitted
    assert torch.equal(restored.assign(feats), targets.assign(feats))

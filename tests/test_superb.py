"""Tests of the SUPERB-style suite: frozen upstream, layer weights, heads,
error rates, the recipes in --debug and the table runner."""

import json
import os

import pytest
import torch
from speechbrain.utils.metric_stats import ErrorRateStats

from kdsrl_lobes.downstream import (
    CTCHead,
    FbankFeatures,
    FrozenUpstream,
    WeightedLayerSum,
    load_upstream,
)
from kdsrl_lobes.downstream.brains import words_of
from kdsrl_lobes.downstream.table import HEADLINES, PUBLISHED, markdown_table
from kdsrl_lobes.evaluation.reports import error_rate_report
from kdsrl_lobes.models.encoder import load_encoder
from kdsrl_lobes.models.heads import KWSHead
from tests.recipe_utils import load_script, recipe_path, run_recipe


def test_only_layer_weights_and_head_train(tiny_teacher_dir):
    source = tiny_teacher_dir("hubert")
    upstream = load_upstream(source)
    assert upstream.num_layers == 5  # 4 transformer layers + the CNN projection
    assert not any(p.requires_grad for p in upstream.parameters())
    featurizer = WeightedLayerSum(upstream.num_layers)
    head = KWSHead(upstream.output_size, 3)
    # as SpeechBrain's Brain does: one optimiser over every module's
    # parameters, every module put in train mode
    modules = torch.nn.ModuleDict(
        {"upstream": upstream, "featurizer": featurizer, "head": head}
    )
    before = {k: v.clone() for k, v in upstream.state_dict().items()}
    head_before = head.linear.weight.clone()
    optimizer = torch.optim.AdamW(modules.parameters(), lr=0.1, weight_decay=0.5)
    modules.train()
    assert not upstream.training and not upstream.encoder.model.training
    wav, lens = torch.randn(4, 8000), torch.tensor([1.0, 0.8, 0.6, 1.0])
    states, frame_lens = upstream(wav, lens)
    again, _ = upstream(wav, lens)
    assert torch.equal(states, again)  # no dropout in "train" mode
    assert not states.requires_grad
    logits = head(featurizer(states), frame_lens)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 0])).backward()
    optimizer.step()
    assert featurizer.weights.grad is not None
    assert not torch.allclose(featurizer.layer_weights(), torch.full((5,), 0.2))
    assert not torch.equal(head.linear.weight, head_before)
    for key, value in upstream.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_upstream_returns_every_hidden_state_with_exact_lengths(tiny_teacher_dir):
    source = tiny_teacher_dir("wav2vec2")
    upstream = load_upstream(source, layer_norm=False)
    reference = load_encoder(source, layers=list(range(5)), freeze=True)
    wav = torch.randn(2, 16000)
    lens = torch.tensor([1.0, 0.5])
    states, frame_lens = upstream(wav, lens)
    full = reference(wav, lens)
    frames = reference.num_frames(torch.tensor([16000, 8000]))
    assert frame_lens.tolist() == pytest.approx((frames / frames.max()).tolist())
    assert torch.allclose(states[0], full[0])
    n = int(frames[1])
    assert torch.allclose(states[1, :, :n], full[1, :, :n])
    assert torch.all(states[1, :, n:] == 0)  # padding zeroed


def test_feature_cache_hit_equals_miss(tiny_teacher_dir):
    upstream = load_upstream(tiny_teacher_dir("wavlm"), cache_gb=0.1)
    wav, lens = torch.randn(3, 12000), torch.tensor([1.0, 0.7, 0.4])
    ids = ["a", "b", "c"]
    miss, miss_lens = upstream(wav, lens, ids=ids)
    assert set(upstream.cache) == set(ids)
    # a hit: another batch order, the audio is not even looked at
    hit, hit_lens = upstream(torch.zeros(3, 12000), lens, ids=ids)
    assert torch.equal(hit, miss) and torch.equal(hit_lens, miss_lens)
    reordered, _ = upstream(torch.zeros(2, 12000), None, ids=["c", "a"])
    n = int(round(miss_lens[2].item() * miss.shape[2]))
    assert torch.equal(reordered[0, :, :n], miss[2, :, :n])


def test_feature_cache_stops_at_its_size(tiny_teacher_dir):
    upstream = load_upstream(tiny_teacher_dir("hubert"), cache_gb=1e-6)  # ~1 kB
    upstream(torch.randn(2, 16000), None, ids=["a", "b"])
    assert upstream.cache == {}


def test_random_init_row_reads_only_the_config(tiny_teacher_dir):
    source = tiny_teacher_dir("hubert")
    trained = load_upstream(source)
    random_a = load_upstream(f"random:{source}", seed=7)
    random_b = load_upstream(f"random:{source}", seed=7)
    assert random_a.num_layers == trained.num_layers
    a, b = random_a.state_dict(), random_b.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # seeded
    key = "encoder.model.encoder.layers.0.attention.k_proj.weight"
    assert not torch.equal(a[key], trained.state_dict()[key])


def test_fbank_upstream():
    upstream = load_upstream("fbank")
    wav, wav_lens = torch.randn(2, 16000), torch.tensor([1.0, 0.5])
    states, lens = upstream(wav, wav_lens)
    assert states.shape == (2, 1, 101, 80)
    assert lens.tolist() == pytest.approx([1.0, 51 / 101])
    # one layer is passed on as it is (s3prl): CMVN, no per-frame layer norm
    assert torch.allclose(states[0], FbankFeatures()(wav, wav_lens)[0], atol=1e-6)


def test_hub_id_without_network_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(OSError, match="no-such-org/no-such-model.*network"):
        load_upstream("no-such-org/no-such-model")


def test_frozen_upstream_refuses_a_trainable_encoder(tiny_teacher_dir):
    encoder = load_encoder(tiny_teacher_dir("hubert"), layers=list(range(5)))
    with pytest.raises(ValueError, match="frozen SSLEncoder"):
        FrozenUpstream(encoder)


def test_weighted_sum_checks_layers():
    with pytest.raises(ValueError, match="3 layers"):
        WeightedLayerSum(3)(torch.randn(2, 4, 5, 6))


def test_ctc_head_ignores_padding():
    head = CTCHead(8, 6, rnn_layers=2, rnn_size=4).eval()
    x = torch.randn(2, 10, 8)  # utterance 1 is 6 frames, then non-zero padding
    padded = head(x, torch.tensor([1.0, 0.6]))
    assert padded.shape == (2, 10, 6)
    alone = head(x[1:, :6], torch.tensor([1.0]))
    assert torch.allclose(padded[1, :6], alone[0], atol=1e-5)
    with pytest.raises(ValueError, match="CTCHead expected"):
        head(torch.randn(2, 10, 7))


def test_ctc_head_frame_stride_averages_pairs():
    head = CTCHead(8, 6, frame_stride=2)
    x = torch.randn(2, 10, 8)
    pairs = x.reshape(2, 5, 2, 8).mean(2)
    expected = torch.log_softmax(head.linear(pairs), dim=-1)
    assert torch.allclose(head(x, torch.tensor([1.0, 0.6])), expected, atol=1e-6)


def test_error_rates_against_hand_computation():
    # ref "the cat sat" / hyp "the bat sat down": 1 substitution, 1 insertion
    ref, hyp = list("the|cat|sat"), list("the|bat|sat|down")
    words = ErrorRateStats()
    words.append(["u1"], [words_of(hyp)], [words_of(ref)])
    report = error_rate_report(words.scores, ["s1"], "asr_wer", 20)
    assert report["asr_wer"] == pytest.approx(100 * 2 / 3)
    chars = ErrorRateStats()
    chars.append(["u1"], [hyp], [ref])
    cer = error_rate_report(chars.scores, ["s1"], "asr_cer", 20)
    # c->b, then "|down" inserted: 1 + 5 edits over 11 reference characters
    assert cer["asr_cer"] == pytest.approx(100 * 6 / 11)
    # PER pooled over utterances: (1 + 0) edits over (3 + 2) phones
    phones = ErrorRateStats()
    phones.append(
        ["u1", "u2"], [["K", "AE", "P"], ["S", "AE"]], [["K", "AE", "T"], ["S", "AE"]]
    )
    per = error_rate_report(phones.scores, ["s1", "s2"], "pr_per", 200)
    assert per["pr_per"] == pytest.approx(20.0)
    assert per["pr_per_ci95"][0] <= 20.0 <= per["pr_per_ci95"][1]


def test_ctc_brain_scores_padded_batches_by_hand():
    """Greedy decoding and reference truncation inside the Brain: padded
    frames and padded reference tokens must not count."""
    from types import SimpleNamespace

    import speechbrain as sb
    from speechbrain.dataio.encoder import CTCTextEncoder

    from kdsrl_lobes.downstream.brains import CTCBrain

    tokenizer = CTCTextEncoder()
    tokenizer.insert_blank(index=0)
    tokenizer.update_from_iterable(list("the|catsbwodn"))
    refs, hyps = ["the|cat|sat", "a|cat"], ["the|bat|sat|down", "a|cat"]
    frames = [2 * len(h) for h in hyps]  # each token, then a blank
    garbage = tokenizer.lab2ind["d"]
    log_probs = torch.full((2, max(frames), len(tokenizer)), -20.0)
    log_probs[:, :, garbage] = 0.0  # padded frames would decode to "d..."
    for b, hyp in enumerate(hyps):
        for i, char in enumerate(hyp):
            log_probs[b, 2 * i] = -20.0
            log_probs[b, 2 * i, tokenizer.lab2ind[char]] = 0.0
            log_probs[b, 2 * i + 1] = -20.0
            log_probs[b, 2 * i + 1, 0] = 0.0
    tokens = torch.full((2, len(refs[0])), garbage)  # padded references too
    for b, ref in enumerate(refs):
        tokens[b, : len(ref)] = torch.tensor([tokenizer.lab2ind[c] for c in ref])
    token_lens = torch.tensor([len(r) / len(refs[0]) for r in refs])
    lens = torch.tensor(frames) / max(frames)
    brain = CTCBrain.__new__(CTCBrain)  # no modules needed to score
    brain.device = "cpu"
    brain.hparams = SimpleNamespace(
        blank_index=0, tokenizer=tokenizer, word_separator="|"
    )
    brain.reset_stats()
    batch = SimpleNamespace(id=["u1", "u2"], tokens_encoded=(tokens, token_lens))
    loss = brain.compute_objectives(
        (log_probs.log_softmax(-1), lens), batch, sb.Stage.TEST
    )
    assert torch.isfinite(loss)
    stats = brain.stage_stats()
    # words: sub + ins over 3 + 2 reference words; characters: 6 over 11 + 5
    assert stats["wer"] == pytest.approx(100 * 2 / 5)
    assert stats["token_error_rate"] == pytest.approx(100 * 6 / 16)


def test_markdown_table_has_published_rows():
    text = markdown_table(
        {"x": {"asv_eer": 10.0, "asv_eer_ci95": [8.0, 12.0]}}, ["asv"]
    )
    assert "| x | 10.00 (8.0-12.0) |" in text
    assert "| DistilHuBERT (published) | 8.55 |" in text
    assert all(
        set(row) <= {h[0] for h in HEADLINES.values()} for row in PUBLISHED.values()
    )


@pytest.fixture(scope="module")
def superb_debug(quick_corpus, tiny_teacher_dir, tmp_path_factory):
    """Every task's recipe in --debug through the runner: a tiny teacher on
    all six tasks and the filterbank on KS."""
    run_superb = load_script("scripts", "run_superb")
    out = str(tmp_path_factory.mktemp("superb"))
    teacher = tiny_teacher_dir("hubert")
    common = ["--corpus", quick_corpus, "--output", out, "--debug"]
    rows = run_superb.main(["--encoder", f"tiny={teacher}", *common])
    with open(os.path.join(out, "superb.json"), encoding="utf-8") as f:
        table = json.load(f)
    ks_rows = run_superb.main(
        ["--encoder", f"tiny={teacher}", "--encoder", "fbank", "--tasks", "ks", *common]
    )
    return out, table, rows, ks_rows


def test_runner_writes_every_task(superb_debug):
    out, table, rows, _ = superb_debug
    assert table == json.loads(json.dumps(rows))
    keys = (
        "ks_accuracy",
        "sid_accuracy",
        "asv_eer",
        "pr_per",
        "asr_wer",
        "er_accuracy",
    )
    for key in keys:
        assert key in table["tiny"] and f"{key}_ci95" in table["tiny"]
        low, high = table["tiny"][f"{key}_ci95"]
        assert 0.0 <= low <= high  # error rates may pass 100 % (insertions)
        assert high <= 100.0 or key in ("pr_per", "asr_wer")
    assert os.path.getsize(os.path.join(out, "superb.png")) > 0
    for task in ("ks", "sid", "asv", "pr", "asr", "er"):
        folder = os.path.join(out, "tiny", task)
        with open(os.path.join(folder, "metrics.json"), encoding="utf-8") as f:
            metrics = json.load(f)
        assert metrics["task"] == task
        weights = metrics["layer_weights"]
        assert len(weights) == 5 and sum(weights) == pytest.approx(1.0)
        assert max(weights) - min(weights) > 1e-5, (task, weights)  # they trained
        assert os.path.isfile(os.path.join(folder, "layer_weights.png"))
        assert os.path.isfile(os.path.join(folder, "train_log.txt"))


def test_runner_reuses_finished_runs(superb_debug):
    out, table, _, ks_rows = superb_debug
    # the second call ran fbank/ks and reused tiny/ks; its table has KS only
    assert ks_rows["tiny"]["ks_accuracy"] == table["tiny"]["ks_accuracy"]
    assert set(ks_rows) == {"tiny", "fbank"}
    assert "sid_accuracy" not in ks_rows["tiny"]
    assert {"ks_accuracy", "ks_layer_weights"} <= set(ks_rows["fbank"])
    assert len(ks_rows["fbank"]["ks_layer_weights"]) == 1
    with open(os.path.join(out, "stages.json"), encoding="utf-8") as f:
        stages = json.load(f)
    assert set(stages) == {f"tiny/{t}" for t in HEADLINES} | {"fbank/ks"}


def test_runner_names_a_missing_corpus_folder(tmp_path, tiny_teacher_dir):
    run_superb = load_script("scripts", "run_superb")
    with pytest.raises(FileNotFoundError, match="IEMOCAP_full_release"):
        run_superb.main(
            ["--encoder", tiny_teacher_dir("hubert"), "--corpus", str(tmp_path),
             "--tasks", "er", "--output", str(tmp_path / "out")]
        )  # fmt: skip


def ks_args(corpus, encoder, output, *extra, epochs=1):
    return [
        recipe_path("GSC", "superb", "hparams", "ks.yaml"),
        f"--encoder_source={encoder}",
        f"--gsc_folder={corpus}/speech_commands_v0.01",
        f"--output_folder={output}",
        f"--number_of_epochs={epochs}",
        "--num_workers=0",
        "--ci_resamples=20",
        *extra,
    ]


def test_ks_recipe_resumes_and_refuses_another_encoder(
    quick_corpus, tiny_teacher_dir, tmp_path
):
    script = recipe_path("GSC", "superb", "train.py")
    out = str(tmp_path / "ks")
    teacher = tiny_teacher_dir("hubert")
    run_recipe(script, ks_args(quick_corpus, teacher, out))
    result = run_recipe(script, ks_args(quick_corpus, teacher, out, epochs=2))
    log = open(os.path.join(out, "train_log.txt")).read()
    assert [line.split(",")[0] for line in log.splitlines()] == ["epoch: 1", "epoch: 2"]
    assert "Loading a checkpoint" in result.stdout + result.stderr
    refused = run_recipe(script, ks_args(quick_corpus, "fbank", out), check=False)
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert "upstream: checkpoint" in output and "now 'fbank'" in output
    # another test split is another experiment: refused too, not tested on
    other_test = f"--test_folder={quick_corpus}/speech_commands_test_set_v0.01"
    refused = run_recipe(
        script, ks_args(quick_corpus, teacher, out, other_test, epochs=2), check=False
    )
    assert refused.returncode != 0
    assert "data: checkpoint {'test_folder': None}" in refused.stdout + refused.stderr


def test_ks_recipe_under_ddp(quick_corpus, tiny_teacher_dir, tmp_path):
    out = str(tmp_path / "ks_ddp")
    run_recipe(
        recipe_path("GSC", "superb", "train.py"),
        ks_args(
            quick_corpus, tiny_teacher_dir("wavlm"), out, "--distributed_backend=gloo"
        ),
        nproc=2,
    )
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    assert 0.0 <= metrics["ks_accuracy"] <= 100.0
    assert len(metrics["layer_weights"]) == 5


def test_cached_epochs_read_no_audio(tmp_path):
    """After the first epoch every utterance's states are cached: the datasets
    stop producing ``sig``, so no audio is read, and training goes on."""
    import speechbrain as sb

    from kdsrl_lobes.downstream.brains import UtteranceClassBrain

    reads = []

    def dataset(prefix):
        data = sb.dataio.dataset.DynamicItemDataset(
            {f"{prefix}{i}": {"label": i % 2} for i in range(4)}
        )

        @sb.utils.data_pipeline.takes("id")
        @sb.utils.data_pipeline.provides("sig")
        def audio(utt):
            reads.append(utt)
            return torch.randn(4000 + 800 * int(utt[-1]))

        @sb.utils.data_pipeline.takes("label")
        @sb.utils.data_pipeline.provides("label_encoded")
        def label(value):
            return torch.LongTensor([value])

        data.add_dynamic_item(audio)
        data.add_dynamic_item(label)
        data.set_output_keys(["id", "sig", "label_encoded"])
        return data

    upstream = load_upstream("fbank", cache_gb=0.01)
    featurizer, head = WeightedLayerSum(1), KWSHead(80, 2)
    logger = sb.utils.train_logger.FileTrainLogger(str(tmp_path / "log.txt"))
    brain = UtteranceClassBrain(
        modules={"upstream": upstream, "featurizer": featurizer, "head": head},
        opt_class=lambda params: torch.optim.Adam(params, lr=0.01),
        hparams={
            "upstream": upstream,
            "train_logger": logger,
            "task": "ks",
            "train_log": str(tmp_path / "log.txt"),
            "output_folder": str(tmp_path),
        },  # fmt: skip
        run_opts={"noprogressbar": True},
        checkpointer=sb.utils.checkpoints.Checkpointer(str(tmp_path / "save")),
    )
    train, valid = dataset("t"), dataset("v")
    brain.set_stage_datasets({sb.Stage.TRAIN: train, sb.Stage.VALID: valid})
    before = head.linear.weight.detach().clone()
    brain.fit(range(3), train, valid, train_loader_kwargs={"batch_size": 2})
    assert sorted(reads) == [f"{p}{i}" for p in "tv" for i in range(4)]  # once each
    assert not torch.equal(head.linear.weight, before)
    assert len(open(tmp_path / "log.txt").read().splitlines()) == 3


def test_layer_norm_and_time_pooling_are_exact(tiny_teacher_dir):
    """Normalising in the upstream equals normalising in the featurizer, and
    for mean pooling + linear, pooling in the upstream equals pooling the
    weighted sum (KS, SID and ER use it)."""
    source = tiny_teacher_dir("hubert")
    wav, lens = torch.randn(3, 12000), torch.tensor([1.0, 0.6, 0.3])
    raw, raw_lens = load_upstream(source, layer_norm=False)(wav, lens)
    normed, _ = load_upstream(source)(wav, lens)
    pooled, pooled_lens = load_upstream(source, pool=True)(wav, lens)
    assert pooled.shape == (3, 5, 1, 16) and pooled_lens.tolist() == [1.0] * 3
    featurizer = WeightedLayerSum(5, layer_norm=True)
    with torch.no_grad():
        featurizer.weights.copy_(torch.randn(5))
    head = KWSHead(16, 4)
    reference = head(featurizer(raw), raw_lens)
    featurizer.layer_norm = False  # the states come normalised
    assert torch.allclose(head(featurizer(normed), raw_lens), reference, atol=1e-5)
    assert torch.allclose(head(featurizer(pooled), pooled_lens), reference, atol=1e-5)

"""The Brains of the SUPERB-style suite: a frozen upstream, its layer weights
and one small head; only the weights and the head train.

- `UtteranceClassBrain`: KS, SID and ER (mean pooling + linear, cross-entropy).
- `CTCBrain`: PR and ASR (CTC, greedy decoding, PER / WER and CER).
- `VerificationBrain`: ASV (x-vector head, additive angular margin softmax,
  cosine scoring of a trial list).

Each recipe's ``modules`` are ``upstream`` (`FrozenUpstream`), ``featurizer``
(`WeightedLayerSum`) and ``head`` (+ ``classifier`` for ASV). Validation keeps
the checkpoint of the lowest ``error`` (classification error or token error
rate); `test_metrics` gives the test metrics with their 95 % intervals.

Authors
 * kdsrl team 2026
"""

import os

import speechbrain as sb
import torch
from speechbrain.decoders import ctc_greedy_decode
from speechbrain.utils.distributed import if_main_process
from speechbrain.utils.metric_stats import ErrorRateStats

from kdsrl_lobes.evaluation.metrics import (
    confusion_matrix,
    enrolment_speakers,
    plot_confusion,
    plot_det,
    score_trials,
)
from kdsrl_lobes.evaluation.plotting import plot_train_log
from kdsrl_lobes.evaluation.reports import (
    classification_report,
    error_rate_report,
    verification_report,
)
from kdsrl_lobes.training.brain import ScheduledBrain


class DownstreamBrain(ScheduledBrain):
    """Frozen upstream -> weighted layer sum -> ``head``; logging, checkpoint
    choice and test loop shared by the tasks. Subclasses define
    ``compute_forward``, ``compute_objectives``, `stage_stats` and
    `test_metrics`; ``hparams.task`` names the task (``ks``, ``pr`` ...)."""

    #: ``{stage: dataset}`` of `fit` (set by `run_downstream`), whose audio
    #: stops being read once the upstream's cache holds all of it
    stage_datasets: dict = {}

    def features(self, batch):
        """``([batch, frames, dim], relative frame lengths)`` of a batch (of
        cached ids only, when it carries no ``sig``)."""
        wavs, lens = getattr(batch, "sig", (None, None))
        states, frame_lens = self.modules.upstream(wavs, lens, ids=list(batch.id))
        return self.modules.featurizer(states), frame_lens

    def on_stage_start(self, stage, epoch=None):
        """Fresh statistics outside training; the stage's dataset reads no
        audio when every utterance of it is cached (SpeechBrain computes a
        dynamic item only when an output key needs it)."""
        if stage != sb.Stage.TRAIN:
            self.reset_stats()
        dataset = self.stage_datasets.get(stage)
        if dataset is not None:
            keys = list(self.stage_keys[stage])
            if self.hparams.upstream.covers(list(dataset.data_ids)):
                keys.remove("sig")
            dataset.set_output_keys(keys)

    def set_stage_datasets(self, datasets: dict):
        """Registers the train and valid datasets (see `stage_datasets`)."""
        self.stage_datasets = datasets
        self.stage_keys = {
            stage: list(data.pipeline.output_mapping)
            for stage, data in datasets.items()
        }

    def reset_stats(self):
        """Creates this task's metric trackers."""
        raise NotImplementedError

    def stage_stats(self) -> dict:
        """Validation statistics; ``error`` (lower is better) picks the
        checkpoint."""
        raise NotImplementedError

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Logs, keeps the best checkpoint and plots the curves."""
        if stage == sb.Stage.TRAIN:
            self.train_stats = {"loss": stage_loss}
            return
        if stage != sb.Stage.VALID:
            return
        stats = {"loss": stage_loss, **self.stage_stats()}
        self.hparams.train_logger.log_stats(
            {"epoch": epoch, "lr": self.optimizer.param_groups[0]["lr"]},
            train_stats=self.train_stats,
            valid_stats=stats,
        )
        self.checkpointer.save_and_keep_only(meta=stats, min_keys=["error"])
        if if_main_process():
            plot_train_log(
                self.hparams.train_log,
                os.path.join(self.hparams.output_folder, "training_curves.png"),
                metrics=["loss", "error"],
                title=f"SUPERB {self.hparams.task}: {self.modules.upstream.name}",
            )

    def loader(self, dataset, **overrides):
        """Test-time data loader."""
        options = {**self.hparams.test_dataloader_opts, **overrides}
        return sb.dataio.dataloader.make_dataloader(dataset, **options)

    def test_metrics(self, dataset, **kwargs) -> dict:
        """Metrics of the loaded model on ``dataset`` (95 % intervals)."""
        raise NotImplementedError


class UtteranceClassBrain(DownstreamBrain):
    """Utterance classification (KS, SID, ER): ``head`` maps features to class
    logits; batches carry ``label_encoded``; ``hparams.label_encoder``."""

    def compute_forward(self, batch, stage):
        """Class logits ``[batch, classes]``."""
        batch = batch.to(self.device)
        feats, lens = self.features(batch)
        return self.modules.head(feats, lens)

    def compute_objectives(self, logits, batch, stage):
        """Cross-entropy; predictions kept outside training."""
        targets = batch.label_encoded.data.reshape(-1).to(self.device)
        if stage != sb.Stage.TRAIN:
            self.predictions.append(logits.argmax(dim=-1).cpu())
            self.targets.append(targets.cpu())
        return torch.nn.functional.cross_entropy(logits, targets)

    def reset_stats(self):
        self.predictions, self.targets = [], []

    def stage_stats(self):
        correct = torch.cat(self.predictions) == torch.cat(self.targets)
        return {"error": 100.0 * (1.0 - correct.float().mean().item())}

    @torch.no_grad()
    def test_metrics(self, dataset, **kwargs):
        """Accuracy, balanced accuracy, per-class recall (``<task>_`` keys) and
        ``<task>_confusion.png``."""
        self.modules.eval()
        self.reset_stats()
        for batch in self.loader(dataset):
            self.compute_objectives(
                self.compute_forward(batch, sb.Stage.TEST), batch, sb.Stage.TEST
            )
        preds, targets = torch.cat(self.predictions), torch.cat(self.targets)
        encoder = self.hparams.label_encoder
        labels = [encoder.ind2lab[i] for i in range(len(encoder))]
        task = self.hparams.task
        metrics = classification_report(
            preds, targets, labels, self.hparams.ci_resamples, prefix=task
        )
        if if_main_process() and len(labels) <= 40:
            matrix = confusion_matrix(preds, targets, len(labels))
            out = os.path.join(self.hparams.output_folder, f"{task}_confusion.png")
            plot_confusion(matrix, labels, out)
        return metrics


class CTCBrain(DownstreamBrain):
    """CTC recognition (PR: phones; ASR: characters, ``|`` between words):
    ``head`` gives log-probabilities; batches carry ``tokens_encoded``;
    ``hparams.tokenizer`` is a SpeechBrain ``CTCTextEncoder`` (blank 0);
    ``hparams.word_separator`` is set for ASR (WER and CER), null for PR."""

    def compute_forward(self, batch, stage):
        """``(log-probabilities [batch, frames, tokens], frame lengths)``."""
        batch = batch.to(self.device)
        feats, lens = self.features(batch)
        return self.modules.head(feats, lens), lens

    def compute_objectives(self, predictions, batch, stage):
        """CTC loss; greedy hypotheses scored outside training."""
        log_probs, lens = predictions
        tokens, token_lens = batch.tokens_encoded
        tokens, token_lens = tokens.to(self.device), token_lens.to(self.device)
        loss = sb.nnet.losses.ctc_loss(
            log_probs, tokens, lens, token_lens, self.hparams.blank_index
        )
        if stage != sb.Stage.TRAIN:
            hyps = ctc_greedy_decode(log_probs, lens, self.hparams.blank_index)
            decode = self.hparams.tokenizer.decode_ndim
            counts = torch.round(token_lens * tokens.shape[1]).long().tolist()
            refs = [
                decode(seq[:n].tolist())
                for seq, n in zip(tokens.cpu(), counts, strict=True)
            ]
            self.append(batch.id, decode(hyps), refs)
        return loss

    def append(self, ids, hyps, refs):
        """Scores token sequences (and, for ASR, the words they spell)."""
        self.token_stats.append(ids, hyps, refs)
        separator = self.hparams.word_separator
        if separator:
            self.word_stats.append(
                ids, [words_of(h, separator) for h in hyps],
                [words_of(r, separator) for r in refs],
            )  # fmt: skip

    def reset_stats(self):
        self.token_stats, self.word_stats = ErrorRateStats(), ErrorRateStats()

    def stage_stats(self):
        stats = {"token_error_rate": self.token_stats.summarize("error_rate")}
        if self.hparams.word_separator:
            stats["wer"] = self.word_stats.summarize("error_rate")
        stats["error"] = stats.get("wer", stats["token_error_rate"])
        return stats

    @torch.no_grad()
    def test_metrics(self, dataset, speakers=None, **kwargs):
        """PR: ``pr_per``; ASR: ``asr_wer`` and ``asr_cer``; intervals over
        ``speakers`` (``{id: speaker}``; utterances when None). Writes the
        alignments to ``<key>_test.txt`` (``pr_per_test.txt``, ...)."""
        self.modules.eval()
        self.reset_stats()
        for batch in self.loader(dataset):
            self.compute_objectives(
                self.compute_forward(batch, sb.Stage.TEST), batch, sb.Stage.TEST
            )
        task, n_boot = self.hparams.task, self.hparams.ci_resamples
        rates = {"asr_cer": self.token_stats, "asr_wer": self.word_stats}
        if not self.hparams.word_separator:
            rates = {f"{task}_per": self.token_stats}
        metrics = {}
        for key, stats in rates.items():
            groups = [(speakers or {}).get(s["key"], s["key"]) for s in stats.scores]
            metrics.update(error_rate_report(stats.scores, groups, key, n_boot))
            if if_main_process():
                out = os.path.join(self.hparams.output_folder, f"{key}_test.txt")
                with open(out, "w", encoding="utf-8") as f:
                    stats.write_stats(f)
        return metrics


def words_of(tokens: list[str], separator: str = "|") -> list[str]:
    """Words spelt by character tokens with ``separator`` between words.

    Example
    -------
    >>> words_of(list("A|CAT||SAT|"))
    ['A', 'CAT', 'SAT']
    """
    return [w for w in "".join(tokens).split(separator) if w]


class VerificationBrain(DownstreamBrain):
    """Speaker verification (ASV): ``head`` (x-vector) gives an embedding,
    ``classifier`` cosine logits over the training speakers for
    ``hparams.cost`` (AAM softmax); batches carry the speaker as
    ``label_encoded``."""

    def compute_forward(self, batch, stage):
        """Cosine logits ``[batch, 1, speakers]``."""
        batch = batch.to(self.device)
        return self.modules.classifier(self.embed(batch))

    def embed(self, batch):
        """Speaker embeddings ``[batch, 1, dim]``."""
        feats, lens = self.features(batch)
        return self.modules.head(feats, lens)

    def compute_objectives(self, logits, batch, stage):
        """AAM softmax; speaker-ID error outside training."""
        targets = batch.label_encoded.data.reshape(-1, 1).to(self.device)
        if stage != sb.Stage.TRAIN:
            self.errors.append(logits.argmax(dim=-1).reshape(-1, 1).cpu() != targets)
        return self.hparams.cost(logits, targets)

    def reset_stats(self):
        self.errors = []

    def stage_stats(self):
        return {"error": 100.0 * torch.cat(self.errors).float().mean().item()}

    @torch.no_grad()
    def test_metrics(self, dataset, trials=None, **kwargs):
        """``asv_eer`` and ``asv_min_dcf`` of ``trials`` (cosine scores), with
        intervals over enrolment speakers, and ``asv_det.png``."""
        self.modules.eval()
        embeddings = {}
        # one utterance per batch: without an attention mask (BASE models)
        # padding changes the hidden states, and a score must not depend on
        # the batch
        for batch in self.loader(dataset, batch_size=1):
            batch = batch.to(self.device)
            emb = self.embed(batch).squeeze(1).cpu()
            embeddings.update(zip(batch.id, emb, strict=True))
        scores, labels = score_trials(embeddings, trials)
        speakers = enrolment_speakers(trials)
        task = self.hparams.task
        metrics = verification_report(
            scores, labels, speakers, task, self.hparams.ci_resamples
        )
        if if_main_process():
            out = os.path.join(self.hparams.output_folder, f"{task}_det.png")
            plot_det(scores, labels, out, metrics[f"{task}_eer"])
        return metrics

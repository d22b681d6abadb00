#!/usr/bin/env python3
"""Multi-task fine-tuning: keyword spotting (GSC V1) + speaker verification
(VoxCeleb1) with one speech encoder and two linear heads (paper section 2.3).

Every iteration takes one KWS batch (an update on its cross-entropy) and then one
SV batch (an update on its additive-angular-margin loss); ``hparams/kws.yaml``
and ``hparams/sv.yaml`` train one task with the same code. The best checkpoint
is then tested (``<output_folder>/metrics.json``, each metric with its 95 %
bootstrap interval): KWS accuracy, balanced accuracy, per-class recall and
confusion matrix; SV EER/minDCF and DET curve; keyword SV EER.

To run:
    python train.py hparams/multitask.yaml --encoder_source=<dir or hub id> \
        --gsc_folder=<speech_commands_v0.01> --voxceleb_folder=<voxceleb1>
To evaluate a trained output folder again: add ``--test_only``.
Multi-process: ``torchrun --nproc_per_node=2 train.py ... --distributed_backend=gloo``

Authors
 * kdsrl team 2026
"""

import json
import os
import sys

import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml
from speechbrain.utils.distributed import if_main_process, run_on_main
from speechbrain.utils.logger import get_logger

from kdsrl_lobes.data import (
    GSC_CLASSES,
    GSC_KEYWORDS,
    add_gsc_speakers,
    find_trials,
    official_test_rows,
    prepare_gsc,
    prepare_voxceleb1,
    read_csv_rows,
    read_trials,
)
from kdsrl_lobes.evaluation.counts import count_parameters
from kdsrl_lobes.evaluation.keyword_sv import keyword_sv_of_rows
from kdsrl_lobes.evaluation.metrics import (
    confusion_matrix,
    enrolment_speakers,
    plot_confusion,
    plot_det,
    score_trials,
)
from kdsrl_lobes.evaluation.plotting import plot_train_log
from kdsrl_lobes.evaluation.reports import kws_report, verification_report
from kdsrl_lobes.training.brain import ScheduledBrain
from kdsrl_lobes.training.checkpoints import attach_config_guard
from kdsrl_lobes.training.crops import audio_pipeline
from kdsrl_lobes.training.interleave import BatchInterleaver
from kdsrl_lobes.training.yaml_peek import peek_hparams, set_override

logger = get_logger(__name__)


class MultiTaskBrain(ScheduledBrain):
    """Encoder + KWS head + SV head; batches are ``{task: PaddedBatch}``."""

    def compute_forward(self, batch, stage):
        """Encoder -> the head of each task in the batch: KWS logits, and for
        SV the training classifier's cosine logits ``[batch, 1, speakers]``."""
        outputs = {}
        for task, task_batch in batch.items():
            task_batch = task_batch.to(self.device)
            wavs, lens = task_batch.sig
            feats = self.modules.encoder(wavs, lens)
            if task == "kws":
                outputs[task] = self.modules.kws_head(feats, lens)
            else:
                embeddings = self.modules.sv_head(feats, lens)
                outputs[task] = self.modules.speaker_classifier(embeddings.unsqueeze(1))
        return outputs

    def compute_objectives(self, predictions, batch, stage):
        """Weighted sum of the tasks' costs (``kws_cost``, ``sv_cost`` in the
        YAML); each task's classification error outside training."""
        loss = torch.zeros((), device=self.device)
        for task, logits in predictions.items():
            task_batch = batch[task].to(self.device)
            if task == "kws":
                targets = task_batch.command_encoded.data.reshape(-1, 1)
                task_loss = self.hparams.kws_cost(logits, targets.reshape(-1))
                logits = logits.unsqueeze(1)  # B x 1 x classes
            else:
                targets = task_batch.spk_id_encoded.data.reshape(-1, 1)
                task_loss = self.hparams.sv_cost(logits, targets)
            loss = loss + self.hparams.loss_weights[task] * task_loss
            if stage != sb.Stage.TRAIN:
                self.error_metrics[task].append(task_batch.id, logits, targets)
        return loss

    def lr_scale(self, batch):
        """Per-task learning rate: with the alternating schedule every update is
        one task's, made at ``lr * <task>_lr_scale``. (Adam is invariant to a
        loss's scale, so ``<task>_loss_weight`` alone barely changes an
        alternating run; this is the lever that does.)"""
        if len(batch) == 1:
            (task,) = batch
            return self.hparams.lr_scales[task]
        return 1.0

    def on_stage_start(self, stage, epoch=None):
        """A classification-error tracker per task (validation and test)."""
        if stage != sb.Stage.TRAIN:
            self.error_metrics = {
                task: self.hparams.error_stats() for task in self.hparams.tasks
            }

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Logs, checkpoints (best = lowest summed valid error) and plots."""
        if stage == sb.Stage.TRAIN:
            self.train_stats = {"loss": stage_loss}
            return
        stats = {"loss": stage_loss}
        error = 0.0
        for task, metric in self.error_metrics.items():
            # a --debug stage may end before a task's first batch: all wrong
            task_error = 100.0 * metric.summarize("average") if metric.scores else 100.0
            stats[f"{task}_acc"] = 100.0 - task_error
            error += task_error
        if stage == sb.Stage.VALID:
            self.hparams.train_logger.log_stats(
                {"epoch": epoch, "lr": self.optimizer.param_groups[0]["lr"]},
                train_stats=self.train_stats,
                valid_stats=stats,
            )
            self.checkpointer.save_and_keep_only(
                meta={"error": error, **stats}, min_keys=["error"]
            )
            if if_main_process():
                plot_train_log(
                    self.hparams.train_log,
                    os.path.join(self.hparams.output_folder, "training_curves.png"),
                    metrics=["loss"] + [f"{t}_acc" for t in self.hparams.tasks],
                    title=f"Fine-tuning: {', '.join(self.hparams.tasks)}",
                )

    @torch.no_grad()
    def evaluate_tasks(self, test_sets, trials, keyword_rows=None):
        """Test metrics of the loaded model (95 % bootstrap intervals:
        ``ci_resamples``); writes the PNGs and the keyword trial list."""
        self.modules.eval()
        out, n_boot = self.hparams.output_folder, self.hparams.ci_resamples
        metrics = {}
        # SV embeddings of the KWS test clips, for keyword SV: taken from the
        # KWS pass where a batch has no padding (equal to one clip per batch)
        self._kws_embeddings = {}
        if "kws" in test_sets:
            preds, targets = [], []
            for batch in self._loader(test_sets["kws"]):
                batch = batch.to(self.device)
                wavs, lens = batch.sig
                feats = self.modules.encoder(wavs, lens)
                logits = self.modules.kws_head(feats, lens)
                if keyword_rows and "sv" in test_sets and bool((lens == 1.0).all()):
                    emb = self.modules.sv_head(feats, lens).cpu()
                    self._kws_embeddings.update(zip(batch.id, emb, strict=True))
                preds.append(logits.argmax(dim=-1).cpu())
                targets.append(batch.command_encoded.data.reshape(-1).cpu())
            preds, targets = torch.cat(preds), torch.cat(targets)
            labels = [self.hparams.label_encoder.ind2lab[i] for i in range(12)]
            metrics.update(kws_report(preds, targets, labels, n_boot))
            matrix = confusion_matrix(preds, targets, len(labels))
            plot_confusion(matrix, labels, os.path.join(out, "kws_confusion.png"))
        if "sv" in test_sets:
            scores, labels = score_trials(self._embeddings(test_sets["sv"]), trials)
            speakers = enrolment_speakers(trials)
            metrics.update(verification_report(scores, labels, speakers, "sv", n_boot))
            plot_det(scores, labels, os.path.join(out, "sv_det.png"), metrics["sv_eer"])
        if keyword_rows:  # same-keyword trials of the GSC test clips
            trials_file = os.path.join(out, "keyword_trials.txt")
            seed = self.hparams.seed
            embed = self._embeddings
            metrics.update(
                keyword_sv_of_rows(embed, keyword_rows, n_boot, seed, trials_file)
            )
        return metrics

    def _embeddings(self, dataset):
        """SV embeddings ``{id: [dim]}``, one utterance per batch: with a
        group-norm CNN and no attention mask (BASE models) padding changes the
        embedding, and a score must not depend on the batch. Clips whose
        embedding the KWS test pass already computed are not encoded again."""
        known = getattr(self, "_kws_embeddings", {})
        embeddings = {key: known[key] for key in dataset.data if key in known}
        if embeddings:
            dataset = dataset.filtered_sorted(
                key_test={"id": lambda key: key not in embeddings}
            )
        for batch in self._loader(dataset, batch_size=1):
            batch = batch.to(self.device)
            wavs, lens = batch.sig
            emb = self.modules.sv_head(self.modules.encoder(wavs, lens), lens)
            embeddings.update(zip(batch.id, emb.cpu(), strict=True))
        return embeddings

    def _loader(self, dataset, **overrides):
        options = {**self.hparams.eval_dataloader_opts, **overrides}
        return sb.dataio.dataloader.make_dataloader(dataset, **options)


def kws_datasets(hparams):
    """GSC train/valid/test datasets with encoded 12-class labels."""
    encoder = sb.dataio.encoder.CategoricalEncoder()
    encoder.load_or_create(hparams["label_encoder_file"], from_iterables=[GSC_CLASSES])
    encoder.expect_len(len(GSC_CLASSES))
    hparams["label_encoder"] = encoder

    @sb.utils.data_pipeline.takes("command")
    @sb.utils.data_pipeline.provides("command_encoded")
    def label(command):
        return torch.LongTensor([encoder.encode_label(command)])

    datasets = {}
    for split in ("train", "valid", "test"):
        csv = os.path.join(hparams["data_save_folder"], "gsc", f"{split}.csv")
        data = sb.dataio.dataset.DynamicItemDataset.from_csv(csv)
        unknown = {row["command"] for row in data.data.values()} - set(GSC_CLASSES)
        if unknown:
            msg = f"labels outside the 12 GSC V1 classes: {sorted(unknown)[:5]}"
            raise ValueError(f"{csv} has {msg}")
        data.add_dynamic_item(audio_pipeline())  # whole clips
        data.add_dynamic_item(label)
        data.set_output_keys(["id", "sig", "command_encoded"])
        datasets[split] = data
    return datasets


def sv_datasets(hparams):
    """VoxCeleb1 dev train/valid (random / fixed crops, encoded speakers) and
    the test set of every trial file (whole utterances)."""
    folder = os.path.join(hparams["data_save_folder"], "voxceleb1")
    encoder = sb.dataio.encoder.CategoricalEncoder()
    train_csv = sv_train_csv(hparams)
    encoder.load_or_create(
        os.path.join(hparams["output_folder"], "speaker_encoder.txt"),
        from_didatasets=[sb.dataio.dataset.DynamicItemDataset.from_csv(train_csv)],
        output_key="spk_id",
    )
    encoder.expect_len(hparams["n_speakers"])

    @sb.utils.data_pipeline.takes("spk_id")
    @sb.utils.data_pipeline.provides("spk_id_encoded")
    def label(spk_id):
        return torch.LongTensor([encoder.encode_label(spk_id)])

    datasets = {}
    for split, csv in (("train", train_csv), ("valid", f"{folder}/valid.csv")):
        deterministic = split == "valid"
        data = sb.dataio.dataset.DynamicItemDataset.from_csv(csv)
        data.add_dynamic_item(
            audio_pipeline(hparams["sv_crop_seconds"], deterministic=deterministic)
        )
        data.add_dynamic_item(label)
        data.set_output_keys(["id", "sig", "spk_id_encoded"])
        datasets[split] = data
    test = sb.dataio.dataset.DynamicItemDataset.from_csv(
        os.path.join(folder, "test.csv")
    )
    test.add_dynamic_item(audio_pipeline())  # whole utterances
    test.set_output_keys(["id", "sig"])
    datasets["test"] = test
    return datasets


def sv_train_csv(values):
    """The SV training CSV: VoxCeleb1 dev, plus GSC speakers with sv_extra_gsc."""
    if values.get("sv_extra_gsc"):
        return os.path.join(values["data_save_folder"], "sv_train_with_gsc.csv")
    return os.path.join(values["data_save_folder"], "voxceleb1", "train.csv")


def keyword_test_rows(values):
    """GSC test rows for keyword SV: the prepared split, else the official
    folder; None (with a warning) when neither has two keyword speakers."""
    if values.get("gsc_folder"):
        rows = read_csv_rows(f"{values['data_save_folder']}/gsc/test.csv")
    elif values.get("test_folder"):
        rows = official_test_rows(values["test_folder"])
    else:
        logger.warning("No gsc_folder or test_folder: no keyword SV (sv_keyword_eer)")
        return None
    speakers = {row["spk_id"] for row in rows if row["command"] in GSC_KEYWORDS}
    if len(speakers) < 2:
        logger.warning(
            "The GSC test split has %d keyword speaker(s): no keyword SV "
            "(sv_keyword_eer); pass --test_folder=<speech_commands_test_set_v0.01>",
            len(speakers),
        )
        return None
    return rows


def prepare_data(values):
    """Prepares the corpora of the tasks (main process, skipped when done)."""
    save = values["data_save_folder"]
    if "kws" in values["tasks"] or values.get("gsc_folder"):
        run_on_main(
            prepare_gsc,
            kwargs={
                "data_folder": values["gsc_folder"],
                "save_folder": os.path.join(save, "gsc"),
                "unknown_fraction": values["unknown_fraction"],
                "test_folder": values.get("test_folder"),
            },
        )
    if "sv" in values["tasks"] and values.get("sv_extra_gsc"):
        if not values.get("gsc_folder"):
            raise ValueError("sv_extra_gsc: True needs gsc_folder, found null")
    if "sv" in values["tasks"]:
        run_on_main(
            prepare_voxceleb1,
            kwargs={
                "data_folder": values["voxceleb_folder"],
                "save_folder": os.path.join(save, "voxceleb1"),
                "trials": find_trials(
                    values["voxceleb_folder"], values.get("trials_file")
                ),
                "valid_ratio": values["sv_valid_ratio"],
            },
        )
        if values.get("sv_extra_gsc"):
            run_on_main(
                add_gsc_speakers,
                args=[f"{save}/voxceleb1/train.csv", f"{save}/gsc/train.csv"],
                kwargs={"output_csv": sv_train_csv(values)},
            )


def count_speakers(values):
    """Number of distinct speakers in the prepared SV training CSV."""
    return len({row["spk_id"] for row in read_csv_rows(sv_train_csv(values))})


def main(argv):
    """Prepares data, fine-tunes, evaluates, writes metrics.json."""
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    sb.utils.distributed.ddp_init_group(run_opts)
    values = peek_hparams(hparams_file, overrides)
    tasks = list(values["tasks"])
    if not tasks or set(tasks) - {"kws", "sv"}:
        raise ValueError(f"Expected tasks from ['kws', 'sv'], found {tasks}")
    prepare_data(values)
    if "sv" in tasks:
        found = count_speakers(values)
        if str(values["n_speakers"]) == "auto":
            overrides = set_override(overrides, "n_speakers", found)
        elif int(values["n_speakers"]) != found:
            raise ValueError(
                f"n_speakers is {values['n_speakers']} but the prepared VoxCeleb1 "
                f"train.csv has {found} dev speakers: pass --n_speakers={found} "
                "or --n_speakers=auto"
            )
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    hparams["loss_weights"] = {task: hparams[f"{task}_loss_weight"] for task in tasks}
    hparams["lr_scales"] = {task: hparams[f"{task}_lr_scale"] for task in tasks}
    if hparams["schedule"] != "alternate" and set(hparams["lr_scales"].values()) != {
        1.0
    }:
        raise ValueError(
            f"Per-task LR scales {hparams['lr_scales']} need schedule: alternate "
            f"(one task per update), found schedule: {hparams['schedule']}"
        )
    datasets = {}
    if "kws" in tasks:
        datasets["kws"] = kws_datasets(hparams)
    if "sv" in tasks:
        datasets["sv"] = sv_datasets(hparams)
    encoder = hparams["encoder"]
    attach_config_guard(
        hparams["checkpointer"],
        tasks=tasks,
        encoder_type=encoder.model.config.model_type,
        encoder_layers=encoder.num_layers,
        encoder_dim=encoder.hidden_size,
        n_kws_classes=hparams.get("n_kws_classes"),
        n_speakers=hparams.get("n_speakers"),
        # SV heads hold the embedding only; the AAM classifier is its own module
        sv_classifier="speaker_classifier" if "sv" in tasks else None,
        sv_embedding_size=hparams.get("sv_embedding_size"),
        freeze_encoder=hparams["freeze_encoder"],
    )
    brain = MultiTaskBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    if not brain.test_only:
        loaders = {
            task: brain.make_dataloader(
                datasets[task]["train"],
                stage=sb.Stage.TRAIN,
                ckpt_prefix=f"{task}_dataloader-",
                **hparams[f"{task}_dataloader_opts"],
            )
            for task in tasks
        }
        train = BatchInterleaver(
            loaders, epoch=hparams["epoch_rounds"], schedule=hparams["schedule"]
        )
        hparams["checkpointer"].add_recoverable("interleaver", train)
        valid = BatchInterleaver(
            {
                task: brain.make_dataloader(
                    datasets[task]["valid"],
                    stage=sb.Stage.VALID,
                    **hparams["eval_dataloader_opts"],
                )
                for task in tasks
            },
            epoch="chain",
        )
        brain.fit(brain.hparams.epoch_counter, train, valid)
    brain.checkpointer.recover_if_possible(min_key="error")
    trials = (
        read_trials(find_trials(hparams["voxceleb_folder"], hparams.get("trials_file")))
        if "sv" in tasks
        else None
    )
    metrics = brain.evaluate_tasks(
        {task: datasets[task]["test"] for task in tasks},
        trials,
        keyword_test_rows(hparams) if "sv" in tasks else None,
    )
    modules = torch.nn.ModuleList(hparams["modules"].values())
    metrics.update(
        {
            "tasks": tasks,
            "encoder_source": hparams["encoder_source"],
            "freeze_encoder": hparams["freeze_encoder"],
            "num_parameters": count_parameters(modules),
            "num_trainable_parameters": count_parameters(modules, trainable_only=True),
            "num_encoder_parameters": count_parameters(encoder),
        }
    )
    if if_main_process():
        with open(hparams["metrics_file"], "w", encoding="utf-8") as f:
            json.dump(metrics, f, indent=2)
        logger.info("Test metrics: %s", json.dumps(metrics))
        logger.info("Plots and metrics.json in %s", hparams["output_folder"])
    return metrics


if __name__ == "__main__":
    main(sys.argv[1:])

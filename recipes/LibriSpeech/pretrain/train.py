#!/usr/bin/env python3
"""Recipe for the self-supervised pre-training of a teacher on LibriSpeech.

Two objectives, one Brain: ``hparams/hubert.yaml`` is HuBERT's first iteration
(masked prediction of k-means clusters of MFCCs; the k-means runs once before
training and is saved), ``hparams/wav2vec2.yaml`` is wav2vec 2.0 (contrastive
loss over quantised targets plus the diversity loss). The objectives live in
``kdsrl_lobes.pretrain``; this script only wires data, optimisation and output.
The teacher ends up in ``<output_folder>/teacher`` as a transformers directory
that ``kdsrl_lobes.load_teacher`` loads.

To run (embedded default, CPU):
    python train.py hparams/hubert.yaml --data_folder=<corpus>/LibriSpeech \
        --output_folder=results/pretrain_hubert

Authors
 * kdsrl team 2026
"""

import os
import sys

import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml
from speechbrain.utils.distributed import if_main_process, run_on_main
from speechbrain.utils.logger import get_logger

from kdsrl_lobes.data import load_audio, prepare_librispeech
from kdsrl_lobes.models.encoder import normalize_waveform
from kdsrl_lobes.pretrain import training_features
from kdsrl_lobes.training.brain import ScheduledBrain
from kdsrl_lobes.training.crops import audio_pipeline
from kdsrl_lobes.training.schedule import recipe_training_steps

logger = get_logger(__name__)


class PretrainBrain(ScheduledBrain):
    """Pre-trains the ``model`` module, a lobe whose forward returns its loss."""

    def compute_forward(self, batch, stage):
        """Waveforms -> the objective's outputs (loss and statistics)."""
        batch = batch.to(self.device)
        wav, wav_lens = batch.sig
        return self.modules.model(wav, wav_lens)

    def compute_objectives(self, predictions, batch, stage):
        """Returns the objective's loss; tracks its scalar statistics."""
        for key, value in predictions.items():
            if key != "loss" and torch.is_tensor(value) and value.dim() == 0:
                self.stage_stats[key] = self.stage_stats.get(key, 0.0) + float(value)
        self.stats_count += 1
        return predictions["loss"]

    def on_fit_batch_end(self, batch, outputs, loss, should_step):
        """After each optimiser step: advances the objective's per-update state
        (wav2vec 2.0's Gumbel temperature) and records the loss curve."""
        if should_step:
            model = getattr(self.modules.model, "module", self.modules.model)
            model.on_optimizer_step()
            self.hparams.loss_history.append(self.optimizer_step, loss.item())

    def on_stage_start(self, stage, epoch=None):
        """Resets the running statistics."""
        self.stage_stats = {}
        self.stats_count = 0

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Logs, plots the loss curve, checkpoints and writes the teacher."""
        stats = {"loss": stage_loss}
        for key, total in self.stage_stats.items():
            stats[key] = total / max(self.stats_count, 1)
        if stage != sb.Stage.TRAIN:
            self.hparams.train_logger.log_stats({"Epoch": epoch}, valid_stats=stats)
            return
        lr = self.optimizer.param_groups[0]["lr"]
        self.hparams.train_logger.log_stats(
            {"epoch": epoch, "lr": lr, "steps": self.optimizer_step},
            train_stats=stats,
        )
        self.hparams.loss_history.plot(self.hparams.loss_plot)
        self.checkpointer.save_and_keep_only(
            meta={"loss": stage_loss, "epoch": epoch}, num_to_keep=1
        )
        self.save_teacher()

    def save_teacher(self):
        """Writes the teacher as a transformers directory (main process)."""
        if if_main_process():
            model = getattr(self.modules.model, "module", self.modules.model)
            model.save_teacher(self.hparams.teacher_folder)


def dataio_prepare(hparams):
    """Prepares the CSVs and the training set of random crops."""
    run_on_main(
        prepare_librispeech,
        kwargs={
            "data_folder": hparams["data_folder"],
            "save_folder": hparams["save_folder"],
            "splits": tuple(hparams["train_splits"]),
        },
    )
    datasets = []
    for split in hparams["train_splits"]:
        csv = os.path.join(hparams["save_folder"], f"{split}.csv")
        with open(csv, encoding="utf-8") as f:
            if sum(1 for _ in f) < 2:  # header only
                raise ValueError(f"{csv} has no rows: no audio to pre-train on")
        datasets.append(sb.dataio.dataset.DynamicItemDataset.from_csv(csv_path=csv))
    train_data = datasets[0]
    if len(datasets) > 1:
        train_data = sb.dataio.dataset.DynamicItemDataset(
            {k: v for d in datasets for k, v in d.data.items()}
        )
    train_data = train_data.filtered_sorted(
        key_min_value={"duration": hparams["min_duration"]}
    )
    if len(train_data) == 0:
        raise ValueError(
            f"No training utterance is at least min_duration="
            f"{hparams['min_duration']} s long"
        )
    # A random crop of crop_seconds (the whole file if shorter), new each epoch.
    pipeline = audio_pipeline(hparams["crop_seconds"], rate_from_duration=True)
    sb.dataio.dataset.add_dynamic_item([train_data], pipeline)
    sb.dataio.dataset.set_output_keys([train_data], ["id", "sig"])
    return train_data


def load_or_fit_targets(hparams, train_data):
    """Fits the k-means codebook once and saves it; a resumed run loads it."""
    targets = hparams["cluster_targets"]
    path = hparams["codebook_file"]

    def fit():
        if os.path.isfile(path):
            return
        model = hparams["model"]
        with train_data.output_keys_as(["wav", "start", "stop"]):
            waveforms = (
                _model_input(
                    load_audio(row["wav"], int(row["start"]), int(row["stop"]))
                )
                for row in train_data
            )
            features = training_features(
                waveforms,
                frame_stride=model.frame_stride,
                max_frames=hparams["kmeans_max_frames"],
                seed=hparams["seed"],
            )
        targets.fit(features, num_iters=hparams["kmeans_iters"], seed=hparams["seed"])
        tmp = path + ".tmp"
        torch.save(targets.state_dict(), tmp)
        os.replace(tmp, path)  # atomic: a killed run never leaves half a codebook

    run_on_main(fit)
    targets.load_state_dict(torch.load(path, map_location="cpu"))


def _model_input(wav):
    """The per-utterance normalisation the pre-trainers apply to their input."""
    return normalize_waveform(wav.unsqueeze(0))[0]


def main(argv):
    """Parses the command line, prepares data (and the k-means targets),
    pre-trains, writes the teacher."""
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    sb.utils.distributed.ddp_init_group(run_opts)
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    train_data = dataio_prepare(hparams)
    if "cluster_targets" in hparams:
        load_or_fit_targets(hparams, train_data)

    brain = PretrainBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    # The linear decay needs the run's length, known only once the data is read.
    brain.total_steps = recipe_training_steps(
        brain,
        len(train_data),
        hparams["dataloader_options"]["batch_size"],
        hparams["number_of_epochs"],
    )
    brain.fit(
        brain.hparams.epoch_counter,
        train_data,
        train_loader_kwargs=hparams["dataloader_options"],
    )
    brain.save_teacher()
    logger.info("Pre-trained teacher written to %s", hparams["teacher_folder"])


if __name__ == "__main__":
    main(sys.argv[1:])

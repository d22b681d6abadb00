#!/usr/bin/env python3
"""Layer-wise distillation of a self-supervised teacher into a 2-layer student.

The student keeps the teacher's CNN and first transformer layers (copied) and
learns, through one prediction head per target layer, to reproduce teacher
layers 4, 8 and 12 with the L1 + cosine loss (paper section 2.2, DistilHuBERT).
With an ensemble of teachers (`kdsrl_lobes.EnsembleTeacher`, Huang et al. 2023)
the targets are the teachers' layers averaged, concatenated, or one per teacher
and layer; the student is initialised from one of them (``init_teacher``).

To run:
    python train.py hparams/distill.yaml --data_folder=<LibriSpeech> \
        --teacher_source=facebook/hubert-base-ls960 --output_folder=<dir>
    python train.py hparams/distill_ensemble.yaml --data_folder=<LibriSpeech> \
        --teacher_sources=[facebook/hubert-base-ls960,microsoft/wavlm-base-plus] \
        --aggregation=average --output_folder=<dir>

Multi-process (SpeechBrain DDP; gloo on CPU, nccl on GPU):
    torchrun --nproc_per_node=2 train.py hparams/distill.yaml \
        --distributed_backend=gloo ...

Authors
 * kdsrl team 2026
"""

import os
import sys

import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml
from speechbrain.utils.distributed import if_main_process, run_on_main
from speechbrain.utils.logger import get_logger

from kdsrl_lobes.data import prepare_librispeech
from kdsrl_lobes.evaluation.plotting import plot_train_log
from kdsrl_lobes.models.ensemble import EnsembleTeacher
from kdsrl_lobes.training.brain import ScheduledBrain
from kdsrl_lobes.training.checkpoints import attach_config_guard
from kdsrl_lobes.training.crops import crop_dataset
from kdsrl_lobes.training.schedule import recipe_training_steps
from kdsrl_lobes.training.teacher_cache import TeacherCache

logger = get_logger(__name__)


class DistillBrain(ScheduledBrain):
    """Trains the student and its prediction heads on frozen teacher targets."""

    def on_fit_start(self):
        """Moves the frozen teacher (not a module: never checkpointed or
        DDP-wrapped) to the device and sets up the optional target cache;
        the LR schedule is `ScheduledBrain`'s."""
        self.hparams.teacher.to(self.device)
        self.cache = None
        if self.hparams.teacher_cache:
            self.cache = TeacherCache(self.hparams.teacher, self.hparams.cache_folder)
        super().on_fit_start()

    def teacher_targets(self, wavs, lens, crop_ids):
        """``[batch, targets, frames, dim]`` from the cache or the teacher."""
        if self.cache is not None:
            return self.cache(wavs, lens, crop_ids)
        return self.hparams.teacher(wavs, lens)

    def compute_forward(self, batch, stage):
        """Student -> prediction heads, beside the teacher's targets."""
        batch = batch.to(self.device)
        wavs, lens = batch.sig
        targets = self.teacher_targets(wavs, lens, batch.crop_id)
        preds = self.modules.prediction_heads(self.modules.student(wavs, lens))
        return preds, targets

    def compute_objectives(self, predictions, batch, stage):
        """Sum over targets of L1 + cosine; per-target terms are averaged over
        the stage for the log."""
        preds, targets = predictions
        _, lens = batch.sig
        loss, terms = self.hparams.distillation_loss(preds, targets, lens)
        for name, value in terms.items():
            self.term_sums[name] = self.term_sums.get(name, 0.0) + float(value)
        self.term_count += 1
        return loss

    def on_stage_start(self, stage, epoch=None):
        """Resets the per-layer term accumulators."""
        self.term_sums = {}
        self.term_count = 0

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Logs loss and per-layer terms, checkpoints, exports the student and
        redraws the curves."""
        stats = {"loss": stage_loss}
        stats.update(
            {k: v / max(1, self.term_count) for k, v in sorted(self.term_sums.items())}
        )
        if stage == sb.Stage.TRAIN:
            self.train_stats = stats
            return
        if stage == sb.Stage.VALID:
            self.hparams.train_logger.log_stats(
                {"epoch": epoch, "lr": self.optimizer.param_groups[0]["lr"]},
                train_stats=self.train_stats,
                valid_stats=stats,
            )
            self.checkpointer.save_and_keep_only(
                meta={"loss": stage_loss}, min_keys=["loss"]
            )
            if if_main_process():
                plot_train_log(
                    self.hparams.train_log,
                    self.hparams.curves_png,
                    metrics=["loss", *self.hparams.distillation_loss.term_names()],
                    title="Layer-wise distillation",
                )

    def export_student(self, directory):
        """Saves the best student (lowest valid loss) as a transformers model
        directory, without the prediction heads."""
        self.checkpointer.recover_if_possible(min_key="loss")
        if if_main_process():
            student = self.modules.student
            student = getattr(student, "module", student)  # unwrap DDP
            student.save_pretrained(directory)
            logger.info("Distilled student saved to %s", directory)


def dataio_prepare(hparams):
    """Train (the listed splits, merged) and valid datasets of crops."""
    save = hparams["save_folder"]
    train_csvs = [f"{split}.csv" for split in hparams["train_splits"]]
    run_on_main(
        sb.dataio.dataio.merge_csvs,
        kwargs={"data_folder": save, "csv_lst": train_csvs, "merged_csv": "train.csv"},
    )
    datasets = {}
    for name, csv, deterministic in (
        ("train", "train.csv", hparams["teacher_cache"]),
        ("valid", f"{hparams['valid_split']}.csv", True),
    ):
        datasets[name] = crop_dataset(
            os.path.join(save, csv),
            hparams["crop_seconds"],
            deterministic,
            hparams["min_duration"],
        )
    return datasets


def check_setup(hparams):
    """Fails before any training when heads, teacher and student disagree."""
    teacher, student = hparams["teacher"], hparams["student"]
    if isinstance(teacher, EnsembleTeacher):
        name, names = f"ensemble {teacher.sources}", teacher.target_names
    else:
        name, names = f"teacher {hparams['teacher_source']}", None
    hparams["prediction_heads"].check_teacher(
        teacher.num_layers, teacher.hidden_size, name, names
    )
    if hparams["prediction_heads"].input_size != student.hidden_size:
        raise ValueError(
            f"Prediction heads take {hparams['prediction_heads'].input_size} "
            f"features but the student's hidden size is {student.hidden_size}"
        )


def guarded_config(hparams):
    """The settings a checkpoint must agree with: the teacher (an ensemble's
    sources in order, their types, the aggregation and the initialising
    member), the target layers, the student and the heads."""
    teacher = hparams["teacher"]
    config = {
        "target_layers": hparams["target_layers"],
        "student_layers": hparams["student_layers"],
        "prediction_head_hidden": hparams["prediction_head_hidden"],
    }
    if not isinstance(teacher, EnsembleTeacher):
        return dict(
            config,
            teacher_type=teacher.model.config.model_type,
            teacher_layers=teacher.num_layers,
            teacher_hidden=teacher.hidden_size,
        )
    return dict(
        config,
        teacher_sources=teacher.sources,
        teacher_types=teacher.model_types,
        teacher_layers=[member.num_layers for member in teacher.teachers],
        teacher_hidden=teacher.hidden_size,
        aggregation=teacher.aggregation,
        init_teacher=teacher.index(hparams["init_teacher"]),
    )


def main(argv):
    """Parses the command line, prepares data, distils, exports the student."""
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    sb.utils.distributed.ddp_init_group(run_opts)
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    check_setup(hparams)
    run_on_main(
        prepare_librispeech,
        kwargs={
            "data_folder": hparams["data_folder"],
            "save_folder": hparams["save_folder"],
            "splits": [*hparams["train_splits"], hparams["valid_split"]],
        },
    )
    datasets = dataio_prepare(hparams)
    attach_config_guard(hparams["checkpointer"], **guarded_config(hparams))
    brain = DistillBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    # The linear decay needs the run's length, known only once the data is read.
    brain.total_steps = recipe_training_steps(
        brain,
        len(datasets["train"]),
        hparams["train_dataloader_opts"]["batch_size"],
        hparams["number_of_epochs"],
        hparams["optimizer_step_limit"],
    )
    brain.fit(
        brain.hparams.epoch_counter,
        datasets["train"],
        datasets["valid"],
        train_loader_kwargs=hparams["train_dataloader_opts"],
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )
    brain.export_student(hparams["student_folder"])


if __name__ == "__main__":
    main(sys.argv[1:])

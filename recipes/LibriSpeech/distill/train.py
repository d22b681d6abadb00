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
from kdsrl_lobes.models.front_end import FrontEndTap
from kdsrl_lobes.training.brain import ScheduledBrain
from kdsrl_lobes.training.checkpoints import attach_config_guard
from kdsrl_lobes.training.crops import crop_dataset
from kdsrl_lobes.training.front_end import FrontEndTeacher, front_end_teacher
from kdsrl_lobes.training.schedule import recipe_training_steps
from kdsrl_lobes.training.teacher_cache import TeacherCache

logger = get_logger(__name__)


class DistillBrain(ScheduledBrain):
    """Trains the student and its prediction heads on frozen teacher targets;
    with a ``front_end_loss`` module, its front end also on the teacher's."""

    def on_fit_start(self):
        """Moves the frozen teacher (not a module: never checkpointed or
        DDP-wrapped) to the device and sets up the optional target caches
        and the front-end tap; the LR schedule is `ScheduledBrain`'s."""
        self.hparams.teacher.to(self.device)
        self.front_end = None
        if "front_end_loss" in self.modules:
            point = self.hparams.front_end_target
            student = getattr(self.modules.student, "module", self.modules.student)
            self.front_tap = FrontEndTap(student.model, point)
            self.front_end = FrontEndTeacher(
                front_end_teacher(
                    self.hparams.teacher, getattr(self.hparams, "init_teacher", None)
                ),
                point,
            )
        self.caches = {}
        if self.front_end is not None and not self.hparams.teacher_cache:
            # uncached, the teacher's own forward pass yields its front end's
            # output: read it there instead of running its CNN a second time
            self.teacher_front_tap = FrontEndTap(self.front_end.model, point)
        if self.hparams.teacher_cache:
            teachers = {"layers": self.hparams.teacher, "front_end": self.front_end}
            self.caches = {
                name: TeacherCache(teacher, self.hparams.cache_folder)
                for name, teacher in teachers.items()
                if teacher is not None
            }
        super().on_fit_start()

    def teacher_targets(self, wavs, lens, crop_ids):
        """``[batch, targets, frames, dim]`` from the cache or the teacher."""
        if "layers" in self.caches:
            return self.caches["layers"](wavs, lens, crop_ids)
        return self.hparams.teacher(wavs, lens)

    def compute_forward(self, batch, stage):
        """Student -> prediction heads, beside the teacher's targets; with a
        front-end loss also the two front ends' outputs."""
        batch = batch.to(self.device)
        wavs, lens = batch.sig
        targets = self.teacher_targets(wavs, lens, batch.crop_id)
        preds = self.modules.prediction_heads(self.modules.student(wavs, lens))
        if self.front_end is None:
            return preds, targets, None
        if "front_end" in self.caches:
            front_targets = self.caches["front_end"](wavs, lens, batch.crop_id)[:, 0]
        else:  # read during the teacher's forward above
            front_targets = self.teacher_front_tap.output
        return preds, targets, (self.front_tap.output, front_targets)

    def compute_objectives(self, predictions, batch, stage):
        """Sum over targets of L1 + cosine (plus the weighted front-end loss);
        per-target terms are averaged over the stage for the log. While the
        front end warms up (``front_end_warmup_epochs``) training minimises
        the front-end loss alone; the loss reported (and that picks the best
        checkpoint) is always the full one."""
        preds, targets, front = predictions
        _, lens = batch.sig
        loss, terms = self.hparams.distillation_loss(preds, targets, lens)
        objective = loss
        if front is not None:
            front_loss, front_terms = self.modules.front_end_loss(*front, lens)
            terms.update(front_terms)
            loss = loss + front_loss
            warming = self.hparams.epoch_counter.current <= (
                self.hparams.front_end_warmup_epochs
            )
            objective = front_loss if stage == sb.Stage.TRAIN and warming else loss
        for name, value in terms.items():
            self.term_sums[name] = self.term_sums.get(name, 0.0) + float(value)
        self.term_count += 1
        self.full_loss_sum += float(loss.detach())
        return objective

    def on_stage_start(self, stage, epoch=None):
        """Resets the per-layer term accumulators."""
        self.term_sums = {}
        self.term_count = 0
        self.full_loss_sum = 0.0

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Logs loss and per-layer terms, checkpoints, exports the student and
        redraws the curves."""
        # the full loss, also while the front end warms up alone
        stats = {"loss": self.full_loss_sum / max(1, self.term_count)}
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
                meta={"loss": stats["loss"]}, min_keys=["loss"]
            )
            if if_main_process():
                plot_train_log(
                    self.hparams.train_log,
                    self.hparams.curves_png,
                    metrics=["loss", *self.term_names()],
                    title="Layer-wise distillation",
                )

    def term_names(self):
        """The logged terms: per target layer, and the front end's."""
        names = self.hparams.distillation_loss.term_names()
        if "front_end_loss" in self.modules:
            module = self.modules.front_end_loss
            names += getattr(module, "module", module).term_names()
        return names

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
        "student_conv_dim": list(hparams["student"].model.config.conv_dim),
        "front_end_target": hparams["front_end_target"],
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
    modules = dict(hparams["modules"])
    if hparams["front_end_loss"] is not None:  # a module only when it trains
        modules["front_end_loss"] = hparams["front_end_loss"]
        hparams["checkpointer"].add_recoverable(
            "front_end_loss", hparams["front_end_loss"]
        )
    attach_config_guard(hparams["checkpointer"], **guarded_config(hparams))
    brain = DistillBrain(
        modules=modules,
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

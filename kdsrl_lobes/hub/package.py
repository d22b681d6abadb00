"""Packages a trained multi-task output folder as a SpeechBrain hub model.

    python -m kdsrl_lobes.package <trained output folder> <package dir> \
        [--upload REPO_ID [--dry-run] [--private]] [--overwrite]

The best checkpoint (lowest valid ``error``, as the recipe recovers it) of
``<output folder>/save`` is written in the layout of `kdsrl_lobes.hub.files`
with a model card; the package is then loaded back with
``MultiTaskSpeechModel.from_hparams`` and checked to give the recipe model's
outputs. ``--upload`` sends it to the Hugging Face hub (`kdsrl_lobes.hub.upload`).

Authors
 * kdsrl team 2026
"""

import argparse
import io
import json
import os
import shutil
import sys
import tempfile

import ruamel.yaml
import torch
import transformers
from speechbrain.dataio.encoder import CategoricalEncoder
from speechbrain.utils.checkpoints import Checkpointer
from speechbrain.utils.logger import get_logger

from kdsrl_lobes.hub.files import (
    HPARAMS_FILE,
    LABEL_ENCODER_FILE,
    WEIGHT_FILES,
    MultiTaskNetwork,
    save_safetensors,
)
from kdsrl_lobes.hub.model_card import render_model_card
from kdsrl_lobes.hub.upload import upload_package
from kdsrl_lobes.models.encoder import SSLEncoder, load_hf_speech_config
from kdsrl_lobes.models.heads import KWSHead, SVHead
from kdsrl_lobes.training.yaml_peek import peek_hparams

logger = get_logger(__name__)

TRAINED_FILES = ("hyperparams.yaml", "metrics.json", LABEL_ENCODER_FILE)
CHECKPOINT_FILES = ("encoder.ckpt", "kws_head.ckpt", "sv_head.ckpt")

HPARAMS_TEMPLATE = """\
# ############################################################################
# kdsrl multi-task model: keyword spotting (Google Speech Commands V1, 12
# classes) and speaker verification (cosine scoring of embeddings) from one
# {model_type} encoder ({num_layers} transformer layers, hidden size {hidden}).
# Load with kdsrl_lobes.hub.inference.MultiTaskSpeechModel.from_hparams(source=...),
# which sets pretrained_path to its source. Weights are safetensors files.
# ############################################################################

pretrained_path: {pretrained_path}
sample_rate: 16000
sv_threshold: {sv_threshold!r}  # EER threshold of the test trials
kws_window_seconds: 1.0  # longer recordings: sliding windows of KWS
kws_hop_seconds: 0.5
n_kws_classes: {n_classes}
sv_embedding_size: {embedding_size}
sv_pooling: {pooling}
encoder_dim: {hidden}

encoder: !apply:kdsrl_lobes.hub.files.encoder_from_config
    normalize_waveform: {normalize}
    use_attention_mask: {attention_mask}
    config:
{config}
kws_head: !new:kdsrl_lobes.models.heads.KWSHead
    input_size: !ref <encoder_dim>
    n_classes: !ref <n_kws_classes>

sv_head: !new:kdsrl_lobes.models.heads.SVHead
    input_size: !ref <encoder_dim>
    embedding_size: !ref <sv_embedding_size>
    pooling: !ref <sv_pooling>

label_encoder: !new:speechbrain.dataio.encoder.CategoricalEncoder

modules:
    encoder: !ref <encoder>
    kws_head: !ref <kws_head>
    sv_head: !ref <sv_head>

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        encoder: !ref <encoder>
        kws_head: !ref <kws_head>
        sv_head: !ref <sv_head>
        label_encoder: !ref <label_encoder>
    paths:
        encoder: !ref <pretrained_path>/{encoder_file}
        kws_head: !ref <pretrained_path>/{kws_file}
        sv_head: !ref <pretrained_path>/{sv_file}
        label_encoder: !ref <pretrained_path>/{label_file}
    custom_hooks:
        encoder: !name:kdsrl_lobes.hub.files.load_safetensors
        kws_head: !name:kdsrl_lobes.hub.files.load_safetensors
        sv_head: !name:kdsrl_lobes.hub.files.load_safetensors
"""


def best_checkpoint_dir(save_folder: str) -> str:
    """The checkpoint the recipe evaluates: lowest ``error`` in its meta."""
    if not os.path.isdir(save_folder):
        raise FileNotFoundError(f"No checkpoint folder {save_folder}")
    checkpoint = Checkpointer(save_folder).find_checkpoint(min_key="error")
    if checkpoint is None:
        raise FileNotFoundError(
            f"No checkpoint with an 'error' meta in {save_folder}: expected the "
            "save folder of a multi-task recipe run"
        )
    for name in CHECKPOINT_FILES:
        if not os.path.isfile(os.path.join(checkpoint.path, name)):
            raise FileNotFoundError(
                f"Checkpoint {checkpoint.path} has no {name} "
                f"({os.path.join(checkpoint.path, name)})"
            )
    return str(checkpoint.path)


def _load_state(path: str) -> dict:
    # weights_only: tensors and containers only, no arbitrary unpickling
    return torch.load(path, map_location="cpu", weights_only=True)


def load_trained_model(output_folder: str) -> dict:
    """Rebuilds the recipe's encoder and heads from a trained output folder.

    The encoder architecture and its preprocessing come from the run's
    ``encoder_source`` (config and preprocessor config only: no weights are
    read there); the weights and head sizes from the best checkpoint.

    Returns
    -------
    dict
        ``network`` (`MultiTaskNetwork`, eval mode), ``metrics``,
        ``checkpoint`` (its folder) and ``encoder_source``.
    """
    for name in TRAINED_FILES:
        if not os.path.isfile(os.path.join(output_folder, name)):
            raise FileNotFoundError(
                f"{output_folder} has no {name}: expected the output folder of "
                "recipes/GSC_VoxCeleb1/multitask/train.py"
            )
    with open(os.path.join(output_folder, "metrics.json"), encoding="utf-8") as f:
        metrics = json.load(f)
    tasks = metrics.get("tasks", [])
    if sorted(tasks) != ["kws", "sv"] or "sv_threshold" not in metrics:
        raise ValueError(
            f"{output_folder}/metrics.json: expected a multi-task run (tasks "
            f"['kws', 'sv'] with sv_threshold), found tasks {tasks}"
        )
    values = peek_hparams(os.path.join(output_folder, "hyperparams.yaml"))
    source = str(values["encoder_source"])
    checkpoint = best_checkpoint_dir(os.path.join(output_folder, "save"))
    states = {
        name[: -len(".ckpt")]: _load_state(os.path.join(checkpoint, name))
        for name in CHECKPOINT_FILES
    }
    config = load_hf_speech_config(source)
    encoder = SSLEncoder(transformers.AutoModel.from_config(config), source=source)
    encoder.load_state_dict(states["encoder"], strict=True)
    hidden = encoder.hidden_size
    kws_weight = states["kws_head"]["linear.weight"]  # classes x hidden
    kws_head = KWSHead(input_size=hidden, n_classes=kws_weight.shape[0])
    kws_head.load_state_dict(states["kws_head"], strict=True)
    # runs trained before the AAM classifier left SVHead kept it in sv_head
    states["sv_head"].pop("classifier.weight", None)
    emb_weight = states["sv_head"]["embedding.weight"]  # embedding x pooled
    sv_head = SVHead(
        input_size=hidden,
        embedding_size=emb_weight.shape[0],
        pooling="stats" if emb_weight.shape[1] == 2 * hidden else "mean",
    )
    sv_head.load_state_dict(states["sv_head"], strict=True)
    network = MultiTaskNetwork(encoder, kws_head, sv_head).eval()
    return {
        "network": network,
        "metrics": metrics,
        "checkpoint": checkpoint,
        "encoder_source": source,
    }


def _config_yaml(config: dict, indent: int = 8) -> str:
    """The encoder config as an indented block mapping for the template."""
    stream = io.StringIO()
    yaml = ruamel.yaml.YAML()
    yaml.default_flow_style = None  # lists inline, mappings as blocks
    yaml.dump(json.loads(json.dumps(config)), stream)
    pad = " " * indent
    return "".join(pad + line + "\n" for line in stream.getvalue().splitlines())


def write_package(trained: dict, output_folder: str, package_dir: str, repo_id=None):
    """Writes the package folder (see `kdsrl_lobes.hub.files`)."""
    network = trained["network"]
    encoder, kws_head, sv_head = network.encoder, network.kws_head, network.sv_head
    config = encoder.model.config
    config_dict = {
        k: v for k, v in config.to_diff_dict().items() if k != "architectures"
    }
    os.makedirs(package_dir, exist_ok=True)
    labels = CategoricalEncoder()
    labels.load(os.path.join(output_folder, LABEL_ENCODER_FILE))
    if len(labels) != kws_head.n_classes:
        raise ValueError(
            f"{output_folder}/{LABEL_ENCODER_FILE} has {len(labels)} labels, the "
            f"KWS head {kws_head.n_classes} classes"
        )
    shutil.copyfile(
        os.path.join(output_folder, LABEL_ENCODER_FILE),
        os.path.join(package_dir, LABEL_ENCODER_FILE),
    )
    for name, module in (
        ("encoder", encoder),
        ("kws_head", kws_head),
        ("sv_head", sv_head),
    ):
        save_safetensors(module, os.path.join(package_dir, WEIGHT_FILES[name]))
    config.save_pretrained(package_dir)
    transformers.Wav2Vec2FeatureExtractor(
        sampling_rate=16000,
        do_normalize=encoder.normalize_waveform,
        return_attention_mask=encoder.use_attention_mask,
    ).save_pretrained(package_dir)
    metrics = dict(trained["metrics"])
    with open(os.path.join(package_dir, "metrics.json"), "w", encoding="utf-8") as f:
        json.dump(metrics, f, indent=2)
    hparams = HPARAMS_TEMPLATE.format(
        model_type=config.model_type,
        num_layers=config.num_hidden_layers,
        hidden=encoder.hidden_size,
        pretrained_path=repo_id or "!PLACEHOLDER  # set by from_hparams",
        sv_threshold=float(metrics["sv_threshold"]),
        n_classes=kws_head.n_classes,
        embedding_size=sv_head.embedding.out_features,
        pooling="stats" if sv_head.pooling.return_std else "mean",
        normalize=encoder.normalize_waveform,
        attention_mask=encoder.use_attention_mask,
        config=_config_yaml(config_dict),
        encoder_file=WEIGHT_FILES["encoder"],
        kws_file=WEIGHT_FILES["kws_head"],
        sv_file=WEIGHT_FILES["sv_head"],
        label_file=LABEL_ENCODER_FILE,
    )
    with open(os.path.join(package_dir, HPARAMS_FILE), "w", encoding="utf-8") as f:
        f.write(hparams)
    card = render_model_card(
        metrics=metrics,
        model_type=config.model_type,
        num_layers=config.num_hidden_layers,
        num_parameters=sum(p.numel() for p in network.parameters()),
        labels=[labels.ind2lab[i] for i in range(len(labels))],
        repo_id=repo_id,
    )
    with open(os.path.join(package_dir, "README.md"), "w", encoding="utf-8") as f:
        f.write(card)


@torch.no_grad()
def check_package(package_dir: str, network: MultiTaskNetwork, atol=1e-5) -> float:
    """Loads the package offline and returns the largest absolute difference
    of its KWS logits and embeddings from ``network``'s on random audio;
    raises ``ValueError`` above ``atol``."""
    from kdsrl_lobes.hub.inference import MultiTaskSpeechModel

    with tempfile.TemporaryDirectory() as savedir:
        model = MultiTaskSpeechModel.from_hparams(
            source=package_dir, savedir=savedir, run_opts={"device": "cpu"}
        )
        wav = torch.randn(2, 16000, generator=torch.Generator().manual_seed(0))
        lens = torch.tensor([1.0, 0.75])
        diff = max(
            float((a - b).abs().max())
            for a, b in zip(model(wav, lens), network(wav, lens), strict=True)
        )
    if diff > atol:
        raise ValueError(
            f"The package in {package_dir} gives outputs {diff:.3g} away from the "
            f"trained model's (expected at most {atol})"
        )
    return diff


def main(argv=None) -> str:
    """Command line entry; returns the package folder."""
    parser = argparse.ArgumentParser(
        description="Package a trained multi-task output folder for the hub"
    )
    parser.add_argument("output_folder", help="trained multi-task output folder")
    parser.add_argument("package_dir", help="where to write the package")
    parser.add_argument("--upload", metavar="REPO_ID", help="hub repo to upload to")
    parser.add_argument("--dry-run", action="store_true", help="list, send nothing")
    parser.add_argument("--private", action="store_true", help="private hub repo")
    parser.add_argument("--overwrite", action="store_true", help="replace the dir")
    args = parser.parse_args(argv)
    if args.dry_run and not args.upload:
        parser.error("--dry-run lists an upload: give --upload REPO_ID")
    if os.path.isdir(args.package_dir) and os.listdir(args.package_dir):
        if not args.overwrite:
            raise FileExistsError(
                f"{args.package_dir} exists and is not empty: pass --overwrite"
            )
        shutil.rmtree(args.package_dir)
    trained = load_trained_model(args.output_folder)
    write_package(trained, args.output_folder, args.package_dir, args.upload)
    diff = check_package(args.package_dir, trained["network"])
    print(
        f"Packaged {trained['checkpoint']} in {args.package_dir} "
        f"(reloaded: max abs difference {diff:.2e})"
    )
    if args.upload:
        files = upload_package(args.package_dir, args.upload, dry_run=args.dry_run)
        verb = "Would upload" if args.dry_run else "Uploaded"
        print(f"{verb} {len(files)} files to {args.upload}:")
        for name, size in files:
            print(f"  {name}  {size} bytes")
    return args.package_dir


if __name__ == "__main__":
    main(sys.argv[1:])

"""kdsrl: knowledge distillation of self-supervised speech models into one small
multi-task (keyword spotting + speaker verification) network, as a SpeechBrain
recipe plugin."""

from setuptools import find_packages, setup

# torch and torchaudio must be the matching pair: SpeechBrain imports torchaudio,
# and a torchaudio build only loads against its own torch release.
INSTALL_REQUIRES = [
    "torch==2.11.0",
    "torchaudio==2.11.0",
    "speechbrain>=1.1,<1.2",
    "transformers>=5,<6",
    "hyperpyyaml",
    "sentencepiece",
    "numpy",
    "scipy",
    "soundfile",
    "huggingface_hub",
    "matplotlib",
    "tqdm",
]

# torch.onnx's dynamo exporter needs onnxscript; onnxruntime runs, checks and
# quantises the exported graph.
EXPORT_REQUIRES = ["onnx", "onnxscript", "onnxruntime"]

setup(
    name="kdsrl",
    version="0.1.0",
    description=(
        "Layer-wise distillation of wav2vec 2.0 / HuBERT / WavLM into a small "
        "student, jointly fine-tuned for keyword spotting and speaker verification"
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["kdsrl_lobes", "kdsrl_lobes.*"]),
    python_requires=">=3.11",
    install_requires=INSTALL_REQUIRES,
    extras_require={
        # ONNX export and int8 quantisation (python -m kdsrl_lobes.export)
        "export": EXPORT_REQUIRES,
        "dev": ["pytest", "ruff", *EXPORT_REQUIRES],
    },
    license="Apache-2.0",
)

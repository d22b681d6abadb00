"""Inference with a packaged multi-task model: keyword spotting and speaker
verification from one encoder pass::

    from kdsrl_lobes.hub.inference import MultiTaskSpeechModel
    model = MultiTaskSpeechModel.from_hparams(source="<package dir or hub id>",
                                              savedir="pretrained")
    probs, score, index, label = model.classify_file("yes.wav")
    score, same = model.verify_files("spk1_a.wav", "spk1_b.wav")
    metrics = model.verify_keywords("speech_commands_test_set_v0.01")  # sv_keyword_eer

Files at any sample rate and channel count are down-mixed and resampled;
clips shorter than the CNN's receptive field are zero-padded; recordings longer
than the KWS window are classified with a sliding window, while speaker
embeddings always use the whole utterance.

Authors
 * kdsrl team 2026
"""

import os

import torch
import torchaudio
from speechbrain.inference.interfaces import Pretrained
from speechbrain.utils.logger import get_logger

from kdsrl_lobes.data.audio import load_audio
from kdsrl_lobes.evaluation.keyword_sv import evaluate_keyword_sv
from kdsrl_lobes.hub.files import (
    HPARAMS_FILE,
    MultiTaskNetwork,
    check_package_files,
    receptive_field,
)
from kdsrl_lobes.models.padding import length_mask

logger = get_logger(__name__)

NON_KEYWORDS = ("_silence_", "_unknown_")


class MultiTaskSpeechModel(Pretrained):
    """Keyword spotting and speaker verification with one distilled encoder.

    Load it with `from_hparams` from a folder written by
    ``python -m kdsrl_lobes.package`` or from its hub id. The packaged
    ``hyperparams.yaml`` provides the modules ``encoder``, ``kws_head`` and
    ``sv_head``, the ``label_encoder``, the ``sample_rate``, the speaker
    verification ``sv_threshold`` (the EER point of the model's test trials)
    and the sliding window of KWS (``kws_window_seconds``, ``kws_hop_seconds``).

    Batch methods take audio ``[batch, time]`` (or ``[batch, time, channels]``,
    averaged to mono) with SpeechBrain relative lengths ``wav_lens``; pass
    ``sample_rate`` when it is not the model's (16 kHz).
    """

    HPARAMS_NEEDED = [
        "sample_rate",
        "sv_threshold",
        "label_encoder",
        "kws_window_seconds",
        "kws_hop_seconds",
    ]
    MODULES_NEEDED = ["encoder", "kws_head", "sv_head"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The label file was written from the 12 classes the KWS head was
        # trained on: say so, or SpeechBrain warns "expect_len was never
        # called" at every load. Packages without n_kws_classes: the file's.
        encoder = self.hparams.label_encoder
        encoder.expect_len(getattr(self.hparams, "n_kws_classes", len(encoder)))
        self.network = MultiTaskNetwork(
            self.mods.encoder, self.mods.kws_head, self.mods.sv_head
        )
        self.min_samples = receptive_field(self.mods.encoder)

    @classmethod
    def from_hparams(cls, source, hparams_file=HPARAMS_FILE, overrides=None, **kwargs):
        """Loads a package folder or hub id (SpeechBrain's fetching; a local
        folder is used offline). The packaged ``hyperparams.yaml`` takes its
        files from ``pretrained_path``, set here to ``source``.

        Raises ``FileNotFoundError`` naming a file missing from a local folder.
        """
        source_str = str(source)
        if os.path.isdir(source_str):
            check_package_files(source_str)
        elif source_str.startswith((".", os.path.sep, "~")) or os.path.exists(
            source_str
        ):
            raise FileNotFoundError(f"Model package folder not found: {source_str}")
        overrides = {"pretrained_path": source_str, **(overrides or {})}
        return super().from_hparams(
            source, hparams_file=hparams_file, overrides=overrides, **kwargs
        )

    @property
    def labels(self) -> list[str]:
        """Keyword labels in class-index order."""
        encoder = self.hparams.label_encoder
        return [encoder.ind2lab[i] for i in range(len(encoder))]

    def load_audio(self, path, savedir=None):
        """Reads a local audio file as mono float32 ``[time]`` at the model's
        sample rate (any rate / channel count in). A missing, empty, corrupt or
        non-audio file raises an error naming it."""
        del savedir  # local files only
        return load_audio(str(path), sample_rate=self.hparams.sample_rate)

    def prepare_batch(self, wavs, wav_lens=None, sample_rate=None):
        """Mono, model-rate, padded audio ``[batch, time]`` and relative lengths.

        Arguments
        ---------
        wavs : torch.Tensor
            ``[time]``, ``[batch, time]`` or ``[batch, time, channels]``.
        wav_lens : torch.Tensor, optional
            Relative lengths ``[batch]`` (all 1 when None).
        sample_rate : int, optional
            Rate of ``wavs``; resampled when it differs from the model's.

        Returns
        -------
        wavs : torch.Tensor
            ``[batch, time]`` on the model's device, at least `min_samples`
            long; utterances shorter than that are zero-padded to it.
        wav_lens : torch.Tensor
            ``[batch]`` relative lengths.
        """
        wavs = torch.as_tensor(wavs, dtype=torch.float32)
        if wavs.dim() == 1:
            wavs = wavs.unsqueeze(0)
        elif wavs.dim() == 3:
            wavs = wavs.mean(dim=-1)  # B x T x C -> B x T
        if wavs.dim() != 2 or wavs.shape[1] == 0:
            raise ValueError(
                "Expected audio [time], [batch, time] or [batch, time, channels], "
                f"found {list(wavs.shape)}"
            )
        if wav_lens is None:
            wav_lens = torch.ones(wavs.shape[0])
        wav_lens = torch.as_tensor(wav_lens, dtype=torch.float32).reshape(-1).cpu()
        if len(wav_lens) != wavs.shape[0] or not bool(
            ((wav_lens > 0) & (wav_lens <= 1.0 + 1e-6)).all()
        ):
            raise ValueError(
                f"Expected {wavs.shape[0]} relative lengths in (0, 1], "
                f"found {wav_lens.tolist()}"
            )
        model_rate = int(self.hparams.sample_rate)
        if sample_rate is not None and int(sample_rate) != model_rate:
            wavs = torchaudio.functional.resample(wavs, int(sample_rate), model_rate)
        total = wavs.shape[1]
        lengths = torch.round(wav_lens * total).clamp(min=self.min_samples)
        if total < self.min_samples:
            wavs = torch.nn.functional.pad(wavs, (0, self.min_samples - total))
        wavs = wavs * length_mask(lengths / wavs.shape[1], wavs.shape[1])
        return wavs.to(self.device), (lengths / wavs.shape[1]).to(self.device)

    @torch.no_grad()
    def forward(self, wavs, wav_lens=None, sample_rate=None):
        """KWS logits ``[batch, classes]`` and speaker embeddings
        ``[batch, embedding]`` from one pass over the whole inputs."""
        wavs, wav_lens = self.prepare_batch(wavs, wav_lens, sample_rate)
        return self.network(wavs, wav_lens)

    @torch.no_grad()
    def encode_batch(self, wavs, wav_lens=None, sample_rate=None):
        """Speaker embeddings ``[batch, embedding]`` of whole utterances."""
        wavs, wav_lens = self.prepare_batch(wavs, wav_lens, sample_rate)
        return self.mods.sv_head(self.mods.encoder(wavs, wav_lens), wav_lens)

    @torch.no_grad()
    def classify_batch(self, wavs, wav_lens=None, sample_rate=None):
        """Keyword of each utterance.

        An utterance up to ``kws_window_seconds`` long is classified in one
        pass; a longer one by sliding windows (hop ``kws_hop_seconds``), keeping
        the most confident window among those predicting a keyword (or the most
        confident window when none does).

        Returns
        -------
        probs : torch.Tensor
            Class probabilities ``[batch, classes]``.
        score : torch.Tensor
            Probability of the predicted class ``[batch]``.
        index : torch.Tensor
            Predicted class index ``[batch]``.
        labels : list[str]
            Predicted keyword labels.
        """
        wavs, wav_lens = self.prepare_batch(wavs, wav_lens, sample_rate)
        lengths = torch.round(wav_lens * wavs.shape[1]).long()
        window = int(round(self.hparams.kws_window_seconds * self.hparams.sample_rate))
        if int(lengths.max()) <= window:
            feats = self.mods.encoder(wavs, wav_lens)
            probs = self.mods.kws_head(feats, wav_lens).softmax(dim=-1)
        else:
            pairs = zip(wavs, lengths, strict=True)
            probs = torch.stack([self._sliding_probs(w[:n], window) for w, n in pairs])
        score, index = probs.max(dim=-1)
        labels = self.hparams.label_encoder.decode_torch(index.cpu())
        return probs, score, index, labels

    def _sliding_probs(self, wav: torch.Tensor, window: int) -> torch.Tensor:
        """Class probabilities ``[classes]`` of one utterance ``[time]``."""
        if len(wav) <= window:
            return self.mods.kws_head(self.mods.encoder(wav[None])).softmax(-1)[0]
        hop = max(
            1, int(round(self.hparams.kws_hop_seconds * self.hparams.sample_rate))
        )
        starts = list(range(0, len(wav) - window + 1, hop))
        if starts[-1] + window < len(wav):
            starts.append(len(wav) - window)  # cover the tail
        chunks = torch.stack([wav[s : s + window] for s in starts])  # W x window
        probs = self.mods.kws_head(self.mods.encoder(chunks)).softmax(dim=-1)
        top, index = probs.max(dim=-1)
        keyword = torch.tensor(
            [self.labels[i] not in NON_KEYWORDS for i in index.tolist()],
            device=top.device,
        )
        if bool(keyword.any()):
            top = torch.where(keyword, top, -1.0)
        return probs[int(top.argmax())]

    def classify_file(self, path):
        """`classify_batch` of one audio file (any rate / channels); returns
        ``(probs [1, classes], score [1], index [1], [label])``."""
        return self.classify_batch(self.load_audio(path).unsqueeze(0))

    @torch.no_grad()
    def verify_batch(
        self, wavs1, wavs2, wav1_lens=None, wav2_lens=None, threshold=None
    ):
        """Cosine scores ``[batch]`` of utterance pairs and the same-speaker
        decisions ``score >= threshold`` (default: the packaged
        ``sv_threshold``, the model's EER point)."""
        emb1 = self.encode_batch(wavs1, wav1_lens)
        emb2 = self.encode_batch(wavs2, wav2_lens)
        score = torch.nn.functional.cosine_similarity(emb1, emb2, dim=-1)
        if threshold is None:
            threshold = float(self.hparams.sv_threshold)
        return score, score >= threshold

    def verify_files(self, path_x, path_y, threshold=None):
        """`verify_batch` of two audio files: ``(score [1], decision [1])``."""
        wav_x = self.load_audio(path_x).unsqueeze(0)
        wav_y = self.load_audio(path_y).unsqueeze(0)
        return self.verify_batch(wav_x, wav_y, threshold=threshold)

    def verify_keywords(self, folder, trials=None, n_resamples=1000, seed=0):
        """Keyword speaker verification of the model: EER and minDCF (with 95 %
        bootstrap intervals) of same-keyword trials, target when both clips
        are one speaker's (`kdsrl_lobes.evaluation.keyword_sv`).

        Arguments
        ---------
        folder : str
            GSC V1's official test-set folder; the trials are drawn from its
            keyword clips (or, with ``trials``, any folder they are relative to).
        trials : sequence of (label, enrol, test), optional
            Paths relative to ``folder``; a clip that is not there raises
            ``FileNotFoundError`` naming it.
        n_resamples : int
            Bootstrap resamples.
        seed : int
            Seed of the trial draws and the resampling.

        Returns
        -------
        dict
            ``sv_keyword_eer`` (%), ``sv_keyword_eer_ci95``,
            ``sv_keyword_min_dcf``, ``sv_keyword_num_trials``, ...
        """

        def embed(path):
            return self.encode_batch(self.load_audio(path).unsqueeze(0))[0]

        return evaluate_keyword_sv(embed, folder, trials, n_resamples, seed)

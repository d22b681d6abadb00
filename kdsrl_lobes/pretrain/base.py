"""What both pre-training objectives share: padding, per-utterance waveform
normalisation, valid-frame masks, span masks, and writing the bare encoder as
the teacher directory that ``load_teacher`` reads.

Authors
 * kdsrl team 2026
"""

import copy

import torch
import transformers

from kdsrl_lobes.models.encoder import SSLEncoder, normalize_waveform
from kdsrl_lobes.models.padding import length_mask
from kdsrl_lobes.pretrain.masking import span_mask


class MaskedPretrainer(torch.nn.Module):
    """Shared preprocessing: padding, normalisation, frame masks, span masks."""

    def __init__(self, mask_prob, mask_length, min_masks, normalize, unmasked_weight):
        super().__init__()
        self.mask_prob = mask_prob
        self.mask_length = mask_length
        self.min_masks = min_masks
        self.normalize = normalize
        if unmasked_weight < 0:
            raise ValueError(f"unmasked_weight must be >= 0, found {unmasked_weight}")
        self.unmasked_weight = unmasked_weight

    @property
    def encoder(self) -> transformers.PreTrainedModel:
        """The bare ``HubertModel`` / ``Wav2Vec2Model`` being pre-trained."""
        raise NotImplementedError

    @property
    def frame_stride(self) -> int:
        """Total stride of the CNN in samples (320 for BASE)."""
        stride = 1
        for s in self.encoder.config.conv_stride:
            stride *= s
        return stride

    def model_input(self, wav: torch.Tensor, wav_lens: torch.Tensor | None):
        """The model input ``[batch, time]`` (padding zeroed, normalised as
        configured) and the valid-sample mask ``[batch, time]``."""
        if wav.dim() != 2:
            raise ValueError(f"Expected [batch, time] audio, found {list(wav.shape)}")
        if wav_lens is None:
            wav_lens = torch.ones(wav.shape[0], device=wav.device)
        sample_mask = length_mask(wav_lens.to(wav.device), wav.shape[1])
        wav = wav * sample_mask
        if self.normalize:
            wav = normalize_waveform(wav, sample_mask)
        return wav, sample_mask

    def prepare(self, wav: torch.Tensor, wav_lens: torch.Tensor | None):
        """Returns the model input ``[batch, time]``, the valid-frame mask
        ``[batch, frames]`` and the span mask ``[batch, frames]``."""
        wav, sample_mask = self.model_input(wav, wav_lens)
        get_len = self.encoder._get_feat_extract_output_lengths
        num_frames = int(get_len(torch.tensor(wav.shape[1])))
        if num_frames < 1:
            raise ValueError(
                f"Audio of {wav.shape[1]} samples is shorter than one frame of the "
                "model's CNN"
            )
        valid = get_len(sample_mask.sum(dim=1)).clamp(min=1)  # B
        frame_mask = torch.arange(num_frames, device=wav.device) < valid[:, None]
        time_mask = span_mask(
            frame_mask, self.mask_prob, self.mask_length, self.min_masks
        )
        return wav, frame_mask, time_mask

    def on_optimizer_step(self) -> None:
        """Called by the recipe after each optimiser step (not each forward
        pass: under gradient accumulation several passes make one update).
        Objectives with a per-update schedule advance it here."""

    def save_teacher(self, directory: str) -> None:
        """Writes the bare encoder as an HF directory (config.json,
        model.safetensors, preprocessor_config.json) that ``load_teacher`` and
        ``transformers.AutoModel`` load."""
        model = copy.deepcopy(self.encoder).cpu().eval()
        SSLEncoder(
            model, normalize_waveform=self.normalize, use_attention_mask=False
        ).save_pretrained(directory)

"""wav2vec 2.0's objective as a lobe: ``Wav2Vec2ForPreTraining``'s contrastive
loss over quantised targets with sampled distractors plus the diversity loss,
with the Gumbel temperature annealed per update as in the paper (2 -> 0.5).

Authors
 * kdsrl team 2026
"""

import torch
import transformers

from kdsrl_lobes.models.configs import speech_config
from kdsrl_lobes.pretrain.base import MaskedPretrainer
from kdsrl_lobes.pretrain.diagnostics import adjacent_similarity, cnn_features
from kdsrl_lobes.pretrain.masking import sample_negatives
from kdsrl_lobes.pretrain.views import ChannelViews


class Wav2Vec2Pretrainer(MaskedPretrainer):
    """wav2vec 2.0's contrastive + diversity objective (``Wav2Vec2ForPreTraining``).

    Arguments
    ---------
    config : transformers.Wav2Vec2Config, optional
        Default: ``speech_config("wav2vec2", "embedded")``. Its
        ``num_negatives``, ``diversity_loss_weight``, codebook sizes and
        ``contrastive_logits_temperature`` set the objective.
    mask_prob, mask_length, min_masks : float, int, int
        Span masking (wav2vec 2.0: 0.65 and 10), see `span_mask`.
    max_gumbel_temperature, min_gumbel_temperature, gumbel_decay : float
        The Gumbel-softmax temperature is ``max(max * decay**updates, min)``.
    normalize : bool
        Per-utterance waveform normalisation.
    unmasked_weight : float
        Weight of the same contrastive loss on the *unmasked* frames, added to
        the masked frames' (0 in the paper). There the context vector sees the
        features its target was quantised from, so the CNN, the quantiser and the
        transformer get a gradient before the codes mean anything (its effect
        on a short pre-training: recipes/LibriSpeech/pretrain/README.md).
    cross_sample_negatives : int
        Distractors per frame drawn from the other utterances of the batch, on
        top of ``config.num_negatives`` from the same one (fairseq's option of
        that name; 0 in the paper), see `sample_negatives`. A batch of one
        utterance gets only the same-utterance ones.
    channel_views : ChannelViews, optional
        In training, the context network hears each utterance through one
        random channel and the quantiser (the targets) through another, see
        `ChannelViews` (not in the paper, which quantises the same input).

    Example
    -------
    >>> cfg = speech_config("wav2vec2", "tiny", num_negatives=4, codevector_dim=8,
    ...                     proj_codevector_dim=8, num_codevectors_per_group=4)
    >>> model = Wav2Vec2Pretrainer(cfg, mask_length=3)
    >>> out = model(torch.randn(2, 4000), torch.tensor([1.0, 0.7]))
    >>> bool(torch.isfinite(out["loss"])), out["mask"].shape
    (True, torch.Size([2, 12]))
    """

    def __init__(
        self,
        config: transformers.Wav2Vec2Config | None = None,
        mask_prob: float = 0.65,
        mask_length: int = 10,
        min_masks: int = 2,
        max_gumbel_temperature: float = 2.0,
        min_gumbel_temperature: float = 0.5,
        gumbel_decay: float = 0.999995,
        normalize: bool = True,
        unmasked_weight: float = 0.0,
        cross_sample_negatives: int = 0,
        channel_views: ChannelViews | None = None,
    ):
        super().__init__(mask_prob, mask_length, min_masks, normalize, unmasked_weight)
        self.cross_sample_negatives = cross_sample_negatives
        self.channel_views = channel_views
        self._target_features = None
        if config is None:
            config = speech_config("wav2vec2", "embedded")
        if config.model_type != "wav2vec2":
            raise ValueError(f"Expected a wav2vec2 config, found '{config.model_type}'")
        config.apply_spec_augment = True
        self.model = transformers.Wav2Vec2ForPreTraining(config)
        self.max_gumbel_temperature = max_gumbel_temperature
        self.min_gumbel_temperature = min_gumbel_temperature
        self.gumbel_decay = gumbel_decay
        self.register_buffer("num_updates", torch.tensor(0, dtype=torch.long))
        # Wav2Vec2ForPreTraining quantises the features of its own input; with
        # channel_views the quantiser's input is swapped for the other view's,
        # so that transformers' loss (negatives, logits, diversity) is kept.
        self.model.quantizer.register_forward_pre_hook(
            self._swap_quantizer_input, with_kwargs=True
        )

    def _swap_quantizer_input(self, module, args, kwargs):
        if self._target_features is None:
            return None
        features, self._target_features = self._target_features, None
        return (features, *args[1:]), kwargs

    def _target_view_features(self, wav, wav_lens):
        """The CNN features of the target view as ``Wav2Vec2ForPreTraining``
        hands its own to the quantiser: layer-normed (``feature_projection``),
        then ``dropout_features``."""
        wav, _ = self.model_input(wav, wav_lens)
        features = self.encoder.feature_extractor(wav).transpose(1, 2)
        features = self.encoder.feature_projection.layer_norm(features)
        return self.model.dropout_features(features)

    @property
    def encoder(self) -> transformers.Wav2Vec2Model:
        """The ``Wav2Vec2Model`` being pre-trained (without quantiser/heads)."""
        return self.model.wav2vec2

    def on_optimizer_step(self) -> None:
        """Counts an optimiser update: the Gumbel temperature decays per
        update, as in the paper, whatever the gradient accumulation."""
        self.num_updates += 1

    @property
    def gumbel_temperature(self) -> float:
        """The temperature of the current update."""
        decayed = self.max_gumbel_temperature * self.gumbel_decay ** int(
            self.num_updates
        )
        return max(decayed, self.min_gumbel_temperature)

    def forward(self, wav: torch.Tensor, wav_lens: torch.Tensor | None = None):
        """Contrastive + diversity loss of a batch ``[batch, time]``.

        Returns
        -------
        out : dict
            ``loss``, ``contrastive_loss`` and ``diversity_loss`` (each per
            masked frame; ``loss`` adds ``unmasked_weight`` times the mean
            contrastive loss of the unmasked frames), ``perplexity`` of the
            codebook and ``mask``.
        """
        target_features = None
        if self.training and self.channel_views is not None:
            wav, target_view = self.channel_views(wav, wav_lens)
            target_features = self._target_view_features(target_view, wav_lens)
        wav, frame_mask, time_mask = self.prepare(wav, wav_lens)
        # A batch of one utterance (a data set's last, short batch; --debug with
        # batch_size 1) has no other utterances to draw distractors from.
        cross = self.cross_sample_negatives if len(wav) > 1 else 0
        negatives = sample_negatives(frame_mask, self.model.config.num_negatives, cross)
        if self.training:
            self.model.set_gumbel_temperature(self.gumbel_temperature)
        self._target_features = target_features
        try:
            out = self.model(
                wav, mask_time_indices=time_mask, sampled_negative_indices=negatives
            )
        finally:
            self._target_features = None
        num_masked = time_mask.sum().clamp(min=1)
        loss = out.loss / num_masked
        unmasked = frame_mask & ~time_mask
        if self.unmasked_weight > 0 and bool(unmasked.any()):
            loss = loss + self.unmasked_weight * self._contrastive_loss(
                out, negatives, unmasked
            )
        return dict(
            loss=loss,
            contrastive_loss=out.contrastive_loss.detach() / num_masked,
            diversity_loss=out.diversity_loss.detach() / num_masked,
            perplexity=out.codevector_perplexity.detach(),
            mask=time_mask,
        )

    @torch.no_grad()
    def code_statistics(self, wav: torch.Tensor, wav_lens: torch.Tensor | None = None):
        """How the quantiser codes a batch ``[batch, time]`` (most likely code of
        each group, no Gumbel noise): whether its targets can be predicted from
        context at all. Speech units last several 20 ms frames, so codes that
        change at nearly every frame follow waveform detail, not phones.

        Returns
        -------
        stats : dict
            ``confidence`` (mean top code probability), ``adjacent_agreement``
            (share of consecutive valid frames with the same code in every
            group), ``codes_used`` (distinct codes per group) and
            ``feature_similarity`` (`adjacent_similarity` of the CNN features
            that are quantised).

        Example
        -------
        >>> cfg = speech_config("wav2vec2", "tiny", num_codevectors_per_group=4)
        >>> stats = Wav2Vec2Pretrainer(cfg).code_statistics(torch.randn(2, 4000))
        >>> sorted(stats), len(stats["codes_used"])
        (['adjacent_agreement', 'codes_used', 'confidence', 'feature_similarity'], 2)
        """
        wav, frame_mask, _ = self.prepare(wav, wav_lens)
        features = cnn_features(self.encoder, wav)  # B x T x C, as quantised
        quantizer = self.model.quantizer
        logits = quantizer.weight_proj(features[frame_mask])  # N x (G * V)
        probs = logits.view(-1, quantizer.num_groups, quantizer.num_vars).softmax(-1)
        best = probs.argmax(-1)  # N x G
        codes = torch.full(
            (*frame_mask.shape, quantizer.num_groups), -1, device=wav.device
        )
        codes[frame_mask] = best  # B x T x G
        pairs = frame_mask[:, 1:] & frame_mask[:, :-1]
        same = (codes[:, 1:] == codes[:, :-1]).all(-1)
        return dict(
            confidence=float(probs.max(-1).values.mean()),
            adjacent_agreement=float(same[pairs].float().mean()),
            codes_used=[int(group.unique().numel()) for group in best.T],
            feature_similarity=adjacent_similarity(features, frame_mask),
        )

    def _contrastive_loss(self, out, negatives, frames):
        """Mean contrastive loss over ``frames`` ``[batch, frames]``, computed as
        ``Wav2Vec2ForPreTraining`` does for the masked ones (its own logits
        function, the same negatives, a negative equal to the positive ignored):
        transformers only scores masked frames."""
        quantized = out.projected_quantized_states  # B x T x D
        batch, length, dim = quantized.shape
        negative = quantized.reshape(-1, dim)[negatives.long().view(-1)]
        negative = negative.view(batch, length, -1, dim).permute(2, 0, 1, 3)
        logits = self.model.compute_contrastive_logits(
            quantized[None],
            negative,
            out.projected_states,
            self.model.config.contrastive_logits_temperature,
        )  # (1 + K) x B x T
        neg_is_pos = (quantized == negative).all(-1)
        logits[1:][neg_is_pos] = float("-inf")
        logits = logits.permute(1, 2, 0)[frames]  # N x (1 + K)
        positive = torch.zeros(len(logits), dtype=torch.long, device=logits.device)
        return torch.nn.functional.cross_entropy(logits.float(), positive)

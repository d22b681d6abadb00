"""The two pre-training objectives as lobes: ``forward(wav, wav_lens)`` returns the
loss and its statistics, so the recipe's Brain stays thin and the objectives can
be tested on a fixed batch.

* `HubertPretrainer`: ``HubertModel`` + HuBERT's prediction head (a projection to
  ``final_dim`` and cosine similarity, over temperature 0.1, to one learnable
  embedding per cluster); cross-entropy on the masked frames against
  `ClusterTargets`' k-means labels.
* `Wav2Vec2Pretrainer`: ``Wav2Vec2ForPreTraining``'s contrastive loss over
  quantised targets with sampled distractors plus the diversity loss, with the
  Gumbel temperature annealed per update as in the paper (2 -> 0.5).

Both normalise each waveform (zero mean, unit variance over its valid samples)
and record that in the saved teacher's preprocessor_config.json.

Authors
 * kdsrl team 2026
"""

import copy

import torch
import transformers

from kdsrl_lobes.models.configs import speech_config
from kdsrl_lobes.models.encoder import SSLEncoder, normalize_waveform
from kdsrl_lobes.models.padding import length_mask
from kdsrl_lobes.pretrain.diagnostics import adjacent_similarity, cnn_features
from kdsrl_lobes.pretrain.masking import sample_negatives, span_mask
from kdsrl_lobes.pretrain.targets import IGNORE_INDEX, ClusterTargets
from kdsrl_lobes.pretrain.views import ChannelViews


class _MaskedPretrainer(torch.nn.Module):
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


class HubertPretrainer(_MaskedPretrainer):
    """HuBERT masked prediction of k-means cluster targets.

    Arguments
    ---------
    config : transformers.HubertConfig, optional
        The encoder's config (default: ``speech_config("hubert", "embedded")``).
    targets : ClusterTargets, optional
        The k-means codebook (fitted before training); default 100 clusters.
    final_dim : int
        Dimension of the projection compared with the cluster embeddings (256
        in HuBERT BASE).
    logit_temperature : float
        Cosine similarities are divided by it (0.1 in HuBERT).
    mask_prob, mask_length, min_masks : float, int, int
        Span masking (HuBERT: 0.8 and 10), see `span_mask`.
    normalize : bool
        Per-utterance waveform normalisation.
    unmasked_weight : float
        Weight of the cross-entropy on the *unmasked* frames, added to the masked
        frames' (fairseq HuBERT's ``pred_nomask_weight``; 0 in the paper).
        Unmasked targets are a local function of the input, so a positive weight
        gives the CNN a training signal before the masked prediction has one
        (its effect on a short pre-training: recipes/LibriSpeech/pretrain/README.md).

    Example
    -------
    >>> cfg = speech_config("hubert", "tiny")
    >>> targets = ClusterTargets(num_clusters=5)
    >>> targets.fit(torch.randn(100, 39))
    >>> model = HubertPretrainer(cfg, targets, final_dim=8, mask_length=3)
    >>> out = model(torch.randn(2, 4000), torch.tensor([1.0, 0.7]))
    >>> out["logits"].shape, bool(torch.isfinite(out["loss"]))
    (torch.Size([2, 12, 5]), True)
    """

    def __init__(
        self,
        config: transformers.HubertConfig | None = None,
        targets: ClusterTargets | None = None,
        final_dim: int = 256,
        logit_temperature: float = 0.1,
        mask_prob: float = 0.8,
        mask_length: int = 10,
        min_masks: int = 2,
        normalize: bool = True,
        unmasked_weight: float = 0.0,
    ):
        super().__init__(mask_prob, mask_length, min_masks, normalize, unmasked_weight)
        if config is None:
            config = speech_config("hubert", "embedded")
        if config.model_type != "hubert":
            raise ValueError(f"Expected a hubert config, found '{config.model_type}'")
        config.apply_spec_augment = True  # else HubertModel ignores our mask
        self.hubert = transformers.HubertModel(config)
        self.targets = targets if targets is not None else ClusterTargets()
        self.final_proj = torch.nn.Linear(config.hidden_size, final_dim)
        self.label_embs = torch.nn.Parameter(
            torch.randn(self.targets.num_clusters, final_dim) * final_dim**-0.5
        )
        self.logit_temperature = logit_temperature

    @property
    def encoder(self) -> transformers.HubertModel:
        """The ``HubertModel`` being pre-trained."""
        return self.hubert

    def forward(self, wav: torch.Tensor, wav_lens: torch.Tensor | None = None):
        """Masked-prediction loss of a batch ``[batch, time]``.

        Returns
        -------
        out : dict
            ``loss`` (mean cross-entropy over masked frames, plus
            ``unmasked_weight`` times that over unmasked frames), ``accuracy``
            (of the masked frames), ``logits`` ``[batch, frames, clusters]``,
            ``targets`` and ``mask`` ``[batch, frames]``.
        """
        wav, frame_mask, time_mask = self.prepare(wav, wav_lens)
        num_frames = frame_mask.shape[1]
        targets = self.targets(wav, wav_lens, num_frames, self.frame_stride)
        targets[~frame_mask] = IGNORE_INDEX
        hidden = self.hubert(wav, mask_time_indices=time_mask).last_hidden_state
        proj = torch.nn.functional.normalize(self.final_proj(hidden), dim=-1)
        embs = torch.nn.functional.normalize(self.label_embs, dim=-1)
        logits = proj @ embs.T / self.logit_temperature  # B x T x C
        selected = time_mask & (targets != IGNORE_INDEX)
        loss = torch.nn.functional.cross_entropy(logits[selected], targets[selected])
        unmasked = ~time_mask & (targets != IGNORE_INDEX)
        if self.unmasked_weight > 0 and bool(unmasked.any()):
            loss = loss + self.unmasked_weight * torch.nn.functional.cross_entropy(
                logits[unmasked], targets[unmasked]
            )
        with torch.no_grad():
            accuracy = (logits[selected].argmax(-1) == targets[selected]).float().mean()
        return dict(
            loss=loss,
            accuracy=accuracy,
            logits=logits,
            targets=targets,
            mask=time_mask,
        )


class Wav2Vec2Pretrainer(_MaskedPretrainer):
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

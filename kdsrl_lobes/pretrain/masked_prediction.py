"""HuBERT's objective and the two teachers built on it, as lobes:
``forward(wav, wav_lens)`` returns the loss and its statistics.

* `HubertPretrainer`: ``HubertModel`` + HuBERT's prediction head (a projection
  to ``final_dim`` and cosine similarity, over temperature 0.1, to one learnable
  embedding per cluster); cross-entropy on the masked frames against
  `ClusterTargets`' k-means labels. With ``distortion`` it is the
  RobustHuBERT-style teacher: the encoder hears a distorted recording, the
  targets come from the clean one.
* `WavLMPretrainer`: the same masked prediction on a ``WavLMModel`` (gated
  relative position bias), with WavLM's utterance mixing (`UtteranceMixing`):
  the encoder hears a segment of another utterance mixed in, the targets come
  from the primary utterance alone.

Authors
 * kdsrl team 2026
"""

import torch
import transformers

from kdsrl_lobes.models.configs import ARCHITECTURES, speech_config
from kdsrl_lobes.pretrain.base import MaskedPretrainer
from kdsrl_lobes.pretrain.mixing import UtteranceMixing
from kdsrl_lobes.pretrain.targets import IGNORE_INDEX, ClusterTargets
from kdsrl_lobes.pretrain.views import ChannelViews


class HubertPretrainer(MaskedPretrainer):
    """HuBERT masked prediction of k-means cluster targets.

    Arguments
    ---------
    config : transformers.HubertConfig or transformers.WavLMConfig, optional
        The encoder's config (default: ``speech_config("hubert", "embedded")``);
        its model type picks the encoder class (``HubertModel``, ``WavLMModel``).
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
    utterance_mixing : UtteranceMixing, optional
        In training, the encoder hears each batch through WavLM's utterance
        mixing; the targets stay the clean primary utterance's.
    distortion : ChannelViews, optional
        In training, the encoder hears each utterance through one random
        channel (`ChannelViews.record`), after any mixing; the targets stay the
        clean utterance's (RobustHuBERT's idea: distortion-invariant features).

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

    model_types = ("hubert",)

    def __init__(
        self,
        config: transformers.PretrainedConfig | None = None,
        targets: ClusterTargets | None = None,
        final_dim: int = 256,
        logit_temperature: float = 0.1,
        mask_prob: float = 0.8,
        mask_length: int = 10,
        min_masks: int = 2,
        normalize: bool = True,
        unmasked_weight: float = 0.0,
        utterance_mixing: UtteranceMixing | None = None,
        distortion: ChannelViews | None = None,
    ):
        super().__init__(mask_prob, mask_length, min_masks, normalize, unmasked_weight)
        if config is None:
            config = speech_config(self.model_types[0], "embedded")
        if config.model_type not in self.model_types:
            raise ValueError(
                f"Expected a {' or '.join(self.model_types)} config, found "
                f"'{config.model_type}'"
            )
        config.apply_spec_augment = True  # else the model ignores our mask
        self.model_type = config.model_type
        # the attribute is named after the model type ("hubert", "wavlm"), so
        # that the checkpoints' keys say which encoder they hold
        setattr(self, self.model_type, ARCHITECTURES[self.model_type][1](config))
        self.targets = targets if targets is not None else ClusterTargets()
        self.final_proj = torch.nn.Linear(config.hidden_size, final_dim)
        self.label_embs = torch.nn.Parameter(
            torch.randn(self.targets.num_clusters, final_dim) * final_dim**-0.5
        )
        self.logit_temperature = logit_temperature
        self.utterance_mixing = utterance_mixing
        self.distortion = distortion

    @property
    def encoder(self) -> transformers.PreTrainedModel:
        """The ``HubertModel`` / ``WavLMModel`` being pre-trained."""
        return getattr(self, self.model_type)

    def heard(self, wav: torch.Tensor, wav_lens: torch.Tensor | None, clean):
        """What the encoder hears in training: ``wav`` mixed and distorted as
        configured, then normalised; ``clean`` (the normalised ``wav``) when
        neither is set or in evaluation."""
        if not self.training or (
            self.utterance_mixing is None and self.distortion is None
        ):
            return clean
        if self.utterance_mixing is not None:
            wav = self.utterance_mixing(wav, wav_lens)
        if self.distortion is not None:
            wav = self.distortion.record(wav, wav_lens)
        return self.model_input(wav, wav_lens)[0]

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
        clean, frame_mask, time_mask = self.prepare(wav, wav_lens)
        num_frames = frame_mask.shape[1]
        targets = self.targets(clean, wav_lens, num_frames, self.frame_stride)
        targets[~frame_mask] = IGNORE_INDEX
        heard = self.heard(wav, wav_lens, clean)
        hidden = self.encoder(heard, mask_time_indices=time_mask).last_hidden_state
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


class WavLMPretrainer(HubertPretrainer):
    """WavLM: masked prediction of k-means targets (`HubertPretrainer`'s
    objective) on a ``WavLMModel``, with utterance mixing on by default.

    Arguments
    ---------
    config : transformers.WavLMConfig, optional
        Default: ``speech_config("wavlm", "embedded")``.
    targets : ClusterTargets, optional
    utterance_mixing : UtteranceMixing, optional
        Default: ``UtteranceMixing()`` (WavLM's 0.2 of the utterances, up to
        half their length).
    **kwargs
        Any other `HubertPretrainer` argument.

    Example
    -------
    >>> cfg = speech_config("wavlm", "tiny")
    >>> targets = ClusterTargets(num_clusters=5)
    >>> targets.fit(torch.randn(100, 39))
    >>> model = WavLMPretrainer(cfg, targets, final_dim=8, mask_length=3)
    >>> out = model(torch.randn(2, 4000), torch.tensor([1.0, 0.7]))
    >>> type(model.encoder).__name__, out["logits"].shape
    ('WavLMModel', torch.Size([2, 12, 5]))
    """

    model_types = ("wavlm",)

    def __init__(
        self,
        config: transformers.WavLMConfig | None = None,
        targets: ClusterTargets | None = None,
        utterance_mixing: UtteranceMixing | None = None,
        **kwargs,
    ):
        if utterance_mixing is None:
            utterance_mixing = UtteranceMixing()
        super().__init__(config, targets, utterance_mixing=utterance_mixing, **kwargs)

"""Frame-level CTC heads of the SUPERB-style suite (PR and ASR).

Utterance-level tasks (KS, SID, ER) use `kdsrl_lobes.models.heads.KWSHead`
(masked mean pooling + one linear layer) and ASV uses SpeechBrain's
``Xvector``, so only the CTC head is new here.

Authors
 * kdsrl team 2026
"""

import torch
from speechbrain.nnet.RNN import LSTM


class CTCHead(torch.nn.Module):
    """Token log-probabilities for CTC: one linear layer (SUPERB's PR head),
    or a bidirectional LSTM and a linear layer (SUPERB's ASR head, smaller).

    Arguments
    ---------
    input_size : int
        Feature size.
    n_tokens : int
        Output tokens, the CTC blank included.
    rnn_layers : int
        BiLSTM layers (0: linear head).
    rnn_size : int
        LSTM units per direction.
    dropout : float
        Dropout between LSTM layers (none with one layer).
    frame_stride : int
        Average each run of this many frames first (1: none). An LSTM on a CPU
        runs step by step, so halving the frame rate halves its time; the
        relative lengths CTC gets are unchanged.

    Example
    -------
    >>> head = CTCHead(16, n_tokens=5, rnn_layers=1, rnn_size=8)
    >>> out = head(torch.randn(2, 30, 16), torch.tensor([1.0, 0.5]))
    >>> out.shape, bool(out.exp().sum(-1).allclose(torch.ones(2, 30)))
    (torch.Size([2, 30, 5]), True)
    >>> CTCHead(16, 5, frame_stride=2)(torch.randn(2, 31, 16)).shape
    torch.Size([2, 16, 5])
    """

    def __init__(
        self,
        input_size: int = 768,
        n_tokens: int = 40,
        rnn_layers: int = 0,
        rnn_size: int = 256,
        dropout: float = 0.2,
        frame_stride: int = 1,
    ):
        super().__init__()
        if frame_stride < 1:
            raise ValueError(f"frame_stride must be >= 1, found {frame_stride}")
        self.input_size = input_size
        self.frame_stride = frame_stride
        self.rnn = None
        size = input_size
        if rnn_layers > 0:
            self.rnn = LSTM(
                hidden_size=rnn_size,
                input_shape=[None, None, input_size],
                num_layers=rnn_layers,
                bidirectional=True,
                dropout=dropout if rnn_layers > 1 else 0.0,
            )
            size = 2 * rnn_size
        self.linear = torch.nn.Linear(size, n_tokens)

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Log-probabilities ``[batch, frames / frame_stride, n_tokens]`` of
        features ``[batch, frames, input_size]`` with relative ``lengths``."""
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(
                f"CTCHead expected [batch, frames, {self.input_size}] features, "
                f"found {list(x.shape)}"
            )
        if self.frame_stride > 1:  # B x T x D -> B x ceil(T / stride) x D
            x = torch.nn.functional.avg_pool1d(
                x.transpose(1, 2), self.frame_stride, ceil_mode=True
            ).transpose(1, 2)
        if self.rnn is not None:
            x, _ = self.rnn(x, lengths=lengths)
        return torch.log_softmax(self.linear(x), dim=-1)

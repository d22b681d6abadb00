"""Per-step loss history that survives a resume, and its plot.

Authors
 * kdsrl team 2026
"""

import matplotlib

matplotlib.use("Agg")  # no display on servers and in CI

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from speechbrain.utils.checkpoints import (  # noqa: E402
    mark_as_loader,
    mark_as_saver,
    register_checkpoint_hooks,
)


@register_checkpoint_hooks
class LossHistory:
    """Training losses by optimiser step; a SpeechBrain checkpoint recoverable,
    so that after a resume the curve continues from the checkpoint's step.

    Arguments
    ---------
    name : str
        What is plotted (the y label).

    Example
    -------
    >>> import os, tempfile
    >>> history = LossHistory()
    >>> for step, loss in enumerate([3.0, 2.5, 2.0]):
    ...     history.append(step, loss)
    >>> path = os.path.join(tempfile.mkdtemp(), "loss.png")
    >>> history.plot(path)
    >>> os.path.getsize(path) > 0, len(history)
    (True, 3)
    """

    def __init__(self, name: str = "training loss"):
        self.name = name
        self.steps: list[int] = []
        self.losses: list[float] = []

    def __len__(self) -> int:
        return len(self.steps)

    def append(self, step: int, loss: float) -> None:
        """Records the loss of one optimiser step."""
        self.steps.append(int(step))
        self.losses.append(float(loss))

    def plot(self, path: str, smooth: int = 20) -> None:
        """Writes a PNG of the raw losses and their moving average."""
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(self.steps, self.losses, alpha=0.3, label="per step")
        if len(self.losses) >= smooth > 1:
            values = torch.tensor(self.losses)
            kernel = torch.ones(smooth) / smooth
            avg = torch.nn.functional.conv1d(values[None, None], kernel[None, None])
            ax.plot(self.steps[smooth - 1 :], avg[0, 0].tolist(), label="average")
        ax.set_xlabel("optimiser step")
        ax.set_ylabel(self.name)
        ax.legend()
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)

    @mark_as_saver
    def save(self, path):
        """Saves the history (checkpoint hook)."""
        torch.save({"steps": self.steps, "losses": self.losses}, path)

    @mark_as_loader
    def load(self, path, end_of_epoch=False):
        """Loads the history (checkpoint hook)."""
        del end_of_epoch
        data = torch.load(path)
        self.steps, self.losses = list(data["steps"]), list(data["losses"])

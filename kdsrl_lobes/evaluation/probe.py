"""Linear probes on frozen features: how much of a task a representation holds.

The benchmarks that check whether pre-training and distillation taught an
encoder anything (``benchmarks/linear_probe.py``) and how hard the embedded
corpus is for plain MFCCs (``benchmarks/mfcc_baseline.py``) fit the same probe:
features standardised with the training statistics, then a multinomial logistic
regression. Written here rather than taken from scikit-learn, which the project
does not otherwise need: it is a dozen lines of torch with L-BFGS.

Authors
 * kdsrl team 2026
"""

import torch

DEFAULT_L2 = 1e-3  # the probes' L2 penalty on the logistic regression's weights


def standardise(
    train: torch.Tensor, *others: torch.Tensor, eps: float = 1e-6
) -> tuple[torch.Tensor, ...]:
    """Zero-mean unit-variance per feature with the statistics of ``train``,
    applied to ``train`` and every tensor of ``others``.

    Example
    -------
    >>> a, b = standardise(torch.tensor([[0.0], [2.0]]), torch.tensor([[1.0]]))
    >>> b.shape, float(b[0, 0])
    (torch.Size([1, 1]), 0.0)
    """
    mean, std = train.mean(0), train.std(0) + eps
    return tuple((x - mean) / std for x in (train, *others))


def logistic_regression(
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int | None = None,
    l2: float = DEFAULT_L2,
    max_iter: int = 300,
) -> torch.nn.Linear:
    """Multinomial logistic regression on ``x`` ``[rows, features]`` with labels
    ``y`` ``[rows]``, fitted with L-BFGS and an L2 penalty on the weights.

    Example
    -------
    >>> x = torch.tensor([[-2.0], [-1.0], [1.0], [2.0]])
    >>> model = logistic_regression(x, torch.tensor([0, 0, 1, 1]))
    >>> model(x).argmax(1).tolist()
    [0, 0, 1, 1]
    """
    if x.dim() != 2 or y.shape != x.shape[:1]:
        raise ValueError(
            f"Expected features [rows, features] and labels [rows], found "
            f"{list(x.shape)} and {list(y.shape)}"
        )
    num_classes = num_classes or int(y.max()) + 1
    model = torch.nn.Linear(x.shape[1], num_classes)
    optimizer = torch.optim.LBFGS(
        model.parameters(), max_iter=max_iter, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss = loss + l2 * model.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return model


def probe_accuracy(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    l2: float = DEFAULT_L2,
    max_iter: int = 300,
) -> float:
    """Test accuracy (0 to 1) of a logistic regression fitted on standardised
    training features.

    Example
    -------
    >>> x = torch.tensor([[-2.0], [-1.0], [1.0], [2.0]])
    >>> y = torch.tensor([0, 0, 1, 1])
    >>> probe_accuracy(x, y, torch.tensor([[-3.0], [3.0]]), torch.tensor([0, 1]))
    1.0
    """
    x_train, x_test = standardise(x_train, x_test)
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    model = logistic_regression(x_train, y_train, num_classes, l2, max_iter)
    with torch.no_grad():
        return (model(x_test).argmax(1) == y_test).float().mean().item()

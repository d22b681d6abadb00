"""Reading plain values of a HyperPyYAML file without building its objects.

A recipe sometimes needs a value before it can build its modules: the multi-task
recipe prepares the corpora first, counts the training speakers, then builds the
speaker head with that many classes. HyperPyYAML resolves references and
overrides in one step with building objects; ``resolve_references`` alone
followed by a plain YAML parse gives the values without building anything.

Authors
 * kdsrl team 2026
"""

import io

import ruamel.yaml
from hyperpyyaml import resolve_references


def peek_hparams(path: str, overrides="") -> dict:
    """Top-level values of a HyperPyYAML file, references and overrides
    resolved, objects left unbuilt (their nodes come back as mappings).

    Arguments
    ---------
    path : str
        The YAML file.
    overrides : str or dict
        As given to ``load_hyperpyyaml``.

    Returns
    -------
    values : dict

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "h.yaml")
    >>> with open(path, "w") as f:
    ...     _ = f.write("seed: 1\\nout: !ref results/<seed>\\n"
    ...                 "model: !new:torch.nn.Linear [2, 2]\\n")
    >>> peek_hparams(path, "seed: 7")["out"]
    'results/7'
    """
    with open(path, encoding="utf-8") as f:
        resolved = resolve_references(f, overrides)
    return dict(ruamel.yaml.YAML().load(resolved.getvalue()))


def set_override(overrides, key: str, value) -> str:
    """``overrides`` (a YAML string, as ``speechbrain.parse_arguments`` returns
    it, or a dict) with ``key`` set to ``value``, replacing any value the user
    gave: appending a second ``key:`` line would make the YAML invalid
    (ruamel's DuplicateKeyError).

    Example
    -------
    >>> print(set_override("n_speakers: auto\\nlr: 0.1\\n", "n_speakers", 40))
    n_speakers: 40
    lr: 0.1
    <BLANKLINE>
    >>> set_override("", "n_speakers", 3)
    'n_speakers: 3\\n'
    """
    yaml = ruamel.yaml.YAML()  # round trip: keeps tags such as !ref
    if isinstance(overrides, dict):
        data = dict(overrides)
    else:
        data = yaml.load(overrides) if overrides and overrides.strip() else None
        if data is None:
            data = {}
        elif not isinstance(data, dict):
            raise ValueError(
                f"Expected overrides as a YAML mapping, found {overrides!r}"
            )
    data[key] = value
    stream = io.StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()

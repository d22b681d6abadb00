"""Uploading a model package to the Hugging Face hub.

The token comes from ``huggingface_hub``'s usual places (``HF_TOKEN``, or
``hf auth login``); it is checked before any request and is never printed or
written. The whole folder goes up as one commit (``upload_folder``), so a failed
upload leaves the repo as it was.

Authors
 * kdsrl team 2026
"""

import os

import huggingface_hub
from huggingface_hub.utils import HFValidationError, validate_repo_id
from speechbrain.utils.logger import get_logger

from kdsrl_lobes.hub.files import check_package_files

logger = get_logger(__name__)


def package_listing(package_dir: str) -> list[tuple[str, int]]:
    """``(relative path, bytes)`` of every file a package upload sends, sorted;
    hidden files and folders (``.cache`` ...) are left out.

    Example
    -------
    >>> import tempfile
    >>> tmp = tempfile.mkdtemp()
    >>> _ = open(os.path.join(tmp, "a.txt"), "w").write("hi")
    >>> os.makedirs(os.path.join(tmp, ".cache"))
    >>> package_listing(tmp)
    [('a.txt', 2)]
    """
    listing = []
    for root, dirs, files in os.walk(package_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = os.path.join(root, name)
            listing.append((os.path.relpath(path, package_dir), os.path.getsize(path)))
    return sorted(listing)


def resolve_token(token: str | None = None) -> str:
    """The given token, else ``huggingface_hub``'s (environment or login).

    Raises ``PermissionError`` when there is none, before any network access.
    """
    token = token or huggingface_hub.get_token()
    if not token:
        raise PermissionError(
            "No Hugging Face token: set HF_TOKEN or run `hf auth login` before "
            "uploading (nothing was sent)"
        )
    return token


def upload_package(
    package_dir: str,
    repo_id: str,
    token: str | None = None,
    private: bool = False,
    dry_run: bool = False,
    commit_message: str = "Upload kdsrl multi-task model",
) -> list[tuple[str, int]]:
    """Creates ``repo_id`` if needed and uploads the package in one commit.

    Arguments
    ---------
    package_dir : str
        A folder written by ``python -m kdsrl_lobes.package``.
    repo_id : str
        Hub model repo, ``user/name``.
    token : str, optional
        Defaults to the token ``huggingface_hub`` finds.
    private : bool
        Create the repo private.
    dry_run : bool
        Only list what would be uploaded (no token needed, nothing sent).
    commit_message : str
        Message of the hub commit.

    Returns
    -------
    list of (str, int)
        The files (relative path, bytes) uploaded, or that would be.

    Example
    -------
    >>> upload_package("/no/such/package", "me/model", dry_run=True)
    Traceback (most recent call last):
    ...
    FileNotFoundError: Model package folder not found: /no/such/package
    """
    check_package_files(package_dir)
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise ValueError(f"Invalid hub repo id {repo_id!r}: {error}") from error
    if "/" not in repo_id:
        raise ValueError(f"Expected a hub repo id 'user/name', found {repo_id!r}")
    listing = package_listing(package_dir)
    if dry_run:
        return listing
    api = huggingface_hub.HfApi(token=resolve_token(token))
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    api.upload_folder(
        folder_path=package_dir,
        repo_id=repo_id,
        repo_type="model",
        commit_message=commit_message,
        allow_patterns=[name for name, _ in listing],
    )
    logger.info("Uploaded %d files of %s to %s", len(listing), package_dir, repo_id)
    return listing

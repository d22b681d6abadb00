"""Hub upload of a package, mocked at the HTTP boundary: huggingface_hub's own
httpx2 client gets a MockTransport, so everything above the wire (HfApi,
create_repo, upload_folder, the commit payload) runs for real."""

import base64
import json
import os
import socket

import httpx2
import huggingface_hub
import pytest
from huggingface_hub import constants

from kdsrl_lobes.hub import package
from kdsrl_lobes.hub.upload import package_listing, upload_package


@pytest.fixture(scope="module")
def package_dir(trained_multitask, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("pkg") / "package")
    package.main([trained_multitask, out])
    return out


@pytest.fixture
def hub(monkeypatch):
    """Records every request huggingface_hub sends and answers like the hub."""
    requests = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        requests.append(request)
        path = request.url.path
        if path == "/api/repos/create":
            return httpx2.Response(200, json={"url": "https://huggingface.co/x/y"})
        if path == "/api/validate-yaml":
            return httpx2.Response(200, json={"errors": [], "warnings": []})
        if "/preupload/" in path:
            files = json.loads(request.content)["files"]
            return httpx2.Response(
                200,
                json={
                    "files": [
                        {
                            "path": f["path"],
                            "uploadMode": "regular",
                            "shouldIgnore": False,
                        }
                        for f in files
                    ]
                },
            )
        if "/commit/" in path:
            return httpx2.Response(
                200,
                json={
                    "commitUrl": "https://huggingface.co/x/y/commit/0",
                    "commitOid": "0" * 40,
                    "pullRequestUrl": None,
                },
            )
        return httpx2.Response(404, json={"error": f"unexpected {path}"})

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    huggingface_hub.set_client_factory(
        lambda: httpx2.Client(transport=httpx2.MockTransport(handler))
    )
    yield requests
    huggingface_hub.set_client_factory(
        huggingface_hub.utils._http.default_client_factory
    )


@pytest.fixture
def no_network(monkeypatch):
    """Refuses and records every socket connection, whichever client makes it:
    a request that bypassed the mock transport would not reach the hub either."""
    attempts = []

    def refuse(sock, address, *args):
        attempts.append(address)
        raise OSError(f"test refused a connection to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


def _commit_files(request) -> dict:
    """path -> bytes of the files in an NDJSON commit payload."""
    files = {}
    for line in request.content.decode().splitlines():
        entry = json.loads(line)
        if entry["key"] == "file":
            value = entry["value"]
            assert value["encoding"] == "base64"
            files[value["path"]] = base64.b64decode(value["content"])
    return files


def test_cli_upload_sends_the_package_to_the_repo(
    trained_multitask, tmp_path, hub, monkeypatch, capsys
):
    monkeypatch.setenv("HF_TOKEN", "hf_secret_test_token")
    out = str(tmp_path / "package")
    package.main([trained_multitask, out, "--upload", "me/kdsrl-kws-sv"])
    create = [r for r in hub if r.url.path == "/api/repos/create"]
    assert len(create) == 1
    body = json.loads(create[0].content)
    assert (body["organization"], body["name"]) == ("me", "kdsrl-kws-sv")
    commits = [r for r in hub if r.url.path.startswith("/api/models/me/kdsrl-kws-sv/")]
    assert [r.url.path.rsplit("/", 2)[1] for r in commits] == ["preupload", "commit"]
    for request in (*create, *commits):
        assert request.headers["authorization"] == "Bearer hf_secret_test_token"
    sent = _commit_files(commits[-1])
    assert sorted(sent) == [name for name, _ in package_listing(out)]
    for name, content in sent.items():
        with open(os.path.join(out, name), "rb") as f:
            assert f.read() == content
    # the hub id is written into the package so any SpeechBrain loader finds it
    assert b"pretrained_path: me/kdsrl-kws-sv" in sent["hyperparams.yaml"]
    printed = capsys.readouterr().out
    assert "hf_secret_test_token" not in printed
    for root, _, names in os.walk(out):
        for name in names:
            with open(os.path.join(root, name), "rb") as f:
                assert b"hf_secret_test_token" not in f.read()


def test_dry_run_lists_files_and_sends_nothing(
    trained_multitask, package_dir, tmp_path, hub, no_network, capsys, monkeypatch
):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    out = str(tmp_path / "package")
    package.main([trained_multitask, out, "--upload", "me/model", "--dry-run"])
    printed = capsys.readouterr().out
    assert "Would upload 9 files to me/model" in printed
    for name, size in package_listing(out):
        assert f"  {name}  {size} bytes" in printed
    assert hub == [] and no_network == []


def test_upload_without_token_fails_before_any_request(
    package_dir, hub, no_network, monkeypatch
):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(PermissionError, match="No Hugging Face token"):
        upload_package(package_dir, "me/model")
    with pytest.raises(ValueError, match="Invalid hub repo id"):
        upload_package(package_dir, "me/bad name", token="hf_x")
    assert hub == [] and no_network == []


def test_upload_refuses_an_incomplete_package(package_dir, tmp_path, hub, no_network):
    (tmp_path / "hyperparams.yaml").write_text("x: 1\n")
    with pytest.raises(FileNotFoundError, match="encoder.safetensors"):
        upload_package(str(tmp_path), "me/model", token="hf_x")
    assert hub == [] and no_network == []

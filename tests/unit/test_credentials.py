"""Where the bearer token comes from, and when it is read again: no cluster needed."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
import yaml

from typedkube import ConfigError, Connection
from typedkube._credentials import TokenFile, subject_of, without_scheme
from typedkube.wire import error_for


def jwt(subject: str) -> str:
    def part(data: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part({'sub': subject})}.c2lnbmF0dXJlLXNlY3JldA"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("authorization", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),  # the kubernetes client's in-cluster loader writes this
        ("BEARER  abc ", "abc"),
        ("abc", "abc"),
        ("Basic dXNlcjpwYXNz", None),  # not a bearer token at all
        ("", None),
    ],
)
def test_the_bearer_scheme_is_case_insensitive(authorization: str, token: str | None) -> None:
    assert without_scheme(authorization) == token


def test_the_subject_is_read_from_the_claims_and_nothing_else() -> None:
    assert subject_of(jwt("system:serviceaccount:ops:reactivejob")) == (
        "system:serviceaccount:ops:reactivejob"
    )
    assert subject_of("not-a-jwt") is None
    assert subject_of("a.!!!.c") is None
    assert subject_of(None) is None


def test_a_token_file_is_read_again_when_it_changes_or_a_minute_passed(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("one\n")
    clock = Clock()
    source = TokenFile(path, clock=clock)
    assert source.token() == "one"

    # A rewrite in place that keeps inode, size and mtime: only time tells.
    stamp = path.stat()
    path.write_text("two\n")
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    clock.now = 59.0
    assert source.token() == "one"
    clock.now = 60.0
    assert source.token() == "two"

    # The kubelet's swap (a new file) is seen at once.
    staged = tmp_path / "staged"
    staged.write_text("three")
    os.replace(staged, path)
    assert source.token() == "three"


def test_refresh_says_whether_a_retry_is_worth_it(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("one")
    source = TokenFile(path, clock=Clock())
    assert source.token() == "one"
    assert source.refresh() is False  # the same token: a retry would be refused again
    path.write_text("two!")
    assert source.refresh() is True
    assert source.token() == "two!"


def test_an_unreadable_file_keeps_the_last_token(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("one")
    source = TokenFile(path, clock=Clock())
    assert source.token() == "one"
    path.unlink()
    assert source.refresh() is False
    assert source.token() == "one"


def service_account(tmp_path: Path, token: str) -> Path:
    folder = tmp_path / "sa"
    folder.mkdir()
    (folder / "token").write_text(token)
    (folder / "ca.crt").write_text("not parsed here")
    (folder / "namespace").write_text("ops")
    return folder


def test_in_cluster_reads_the_fixed_folder_and_the_service_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = jwt("system:serviceaccount:ops:reactivejob")
    folder = service_account(tmp_path, token)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    connection = Connection.in_cluster(folder)
    assert connection.server == "https://[fd00::1]:443"
    assert connection.ca_file == str(folder / "ca.crt")
    assert connection.auth_headers() == {"Authorization": f"Bearer {token}"}
    (folder / "token").write_text(jwt("system:serviceaccount:ops:other"))
    assert connection.refresh_token() is True
    # Whose it is, and where it came from; never the token itself.
    described = connection.describe()
    assert described == (
        "the Pod's ServiceAccount (namespace ops), system:serviceaccount:ops:other, "
        f"token file {folder / 'token'}"
    )
    assert token not in repr(connection)
    assert "c2lnbmF0dXJl" not in repr(connection) + described


def test_in_cluster_says_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ConfigError, match="KUBERNETES_SERVICE_HOST"):
        Connection.in_cluster(tmp_path)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    with pytest.raises(ConfigError, match="automountServiceAccountToken"):
        Connection.in_cluster(tmp_path)


def kubeconfig(tmp_path: Path, user: dict[str, object]) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
                "users": [{"name": "ci", "user": user}],
                "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "ci"}}],
                "current-context": "ctx",
            }
        )
    )
    return path


def test_a_kubeconfig_token_file_is_followed(tmp_path: Path) -> None:
    (tmp_path / "t").write_text("first")
    connection = Connection.from_kubeconfig(kubeconfig(tmp_path, {"tokenFile": "t"}))
    assert connection.bearer_token() == "first"
    (tmp_path / "t").write_text("second")
    assert connection.refresh_token() is True
    assert connection.bearer_token() == "second"
    assert connection.describe() == f"kubeconfig user ci (ctx), token file {tmp_path / 't'}"


def test_a_kubeconfig_exec_plugin_runs_again_after_a_401(tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    plugin = tmp_path / "plugin.sh"
    plugin.write_text(
        "#!/bin/sh\necho x >> " + str(counter) + "\n"
        "n=$(wc -l < " + str(counter) + ")\n"
        'printf \'{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",'
        '"status":{"token":"exec-%s"}}\' "$n"\n'
    )
    plugin.chmod(0o755)
    user: dict[str, object] = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": str(plugin),
            "interactiveMode": "Never",
        }
    }
    connection = Connection.from_kubeconfig(kubeconfig(tmp_path, user))
    assert connection.bearer_token() == "exec-1"
    assert connection.bearer_token() == "exec-1"  # no expiry given: kept until refused
    assert connection.refresh_token() is True
    assert connection.bearer_token() == "exec-2"


def test_a_static_kubeconfig_token_is_not_retried(tmp_path: Path) -> None:
    connection = Connection.from_kubeconfig(kubeconfig(tmp_path, {"token": "fixed"}))
    assert connection.bearer_token() == "fixed"
    assert connection.refresh_token() is False
    assert "fixed" not in repr(connection)


def test_a_401_names_the_identity_not_the_token(tmp_path: Path) -> None:
    token = jwt("system:serviceaccount:ops:gone")
    (tmp_path / "t").write_text(token)
    connection = Connection.from_kubeconfig(kubeconfig(tmp_path, {"tokenFile": "t"}))
    body = json.dumps({"kind": "Status", "code": 401, "reason": "Unauthorized",
                       "message": "Unauthorized"})  # fmt: skip
    error = error_for(401, body, connection)
    assert str(error) == (
        "401 Unauthorized: the API server refused the credentials of kubeconfig user ci (ctx), "
        f"system:serviceaccount:ops:gone, token file {tmp_path / 't'}"
    )
    assert token not in str(error)

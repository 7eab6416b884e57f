"""The typed client's public names: what tool authors imported before the generic client moved
into typedkube must still import, from the same modules."""

from __future__ import annotations

import importlib

import pytest

BUILT_IN = ("ConfigMap", "Event", "Job", "Lease", "Secret")
EXPORTED = {
    "reactivejob_api": (
        "API_VERSION", "CRD_FILE", "GROUP", "KIND", "PLURAL", "VERSION", "AlreadyExists",
        "ApiError", "AsyncReactiveJobClient", "ConfigError", "Conflict", "Connection", "Expired",
        "Forbidden", "Invalid", "NotFound", "ReactiveJob", "ReactiveJobClient",
        "ReactiveJobCondition", "ReactiveJobList", "ReactiveJobRun", "ReactiveJobSpec",
        "ReactiveJobStatus", "RunFailed", "RunTimeout", "Unauthorized", "WatchEvent", "models",
    ),
    "reactivejob_api.client": (
        "Connection", "ResourceClient", "RunWaits", "ReactiveJob", "ReactiveJobList",
        "ReactiveJobClient", *(f"{k}Client" for k in BUILT_IN), *BUILT_IN,
        *(f"{k}List" for k in BUILT_IN),
    ),
    "reactivejob_api.aio": (
        "Connection", "AsyncResourceClient", "AsyncRunWaits", "ReactiveJob", "ReactiveJobList",
        "AsyncReactiveJobClient", *(f"Async{k}Client" for k in BUILT_IN), *BUILT_IN,
        *(f"{k}List" for k in BUILT_IN),
    ),
}  # fmt: skip


@pytest.mark.parametrize("module", sorted(EXPORTED))
def test_every_name_exported_before_still_imports(module: str) -> None:
    loaded = importlib.import_module(module)
    missing = [name for name in EXPORTED[module] if not hasattr(loaded, name)]
    assert missing == []


def test_the_generated_clients_hold_no_verbs_of_their_own() -> None:
    from reactivejob_api.aio import AsyncJobClient  # noqa: PLC0415
    from reactivejob_api.client import JobClient, ReactiveJobClient  # noqa: PLC0415
    from typedkube.aio import AsyncResourceClient  # noqa: PLC0415
    from typedkube.sync import ResourceClient  # noqa: PLC0415

    for client, generic in ((JobClient, ResourceClient), (AsyncJobClient, AsyncResourceClient)):
        assert issubclass(client, generic)
        own = {name for name, value in vars(client).items() if callable(value)}
        assert own <= {"model", "list_model"}, own  # the models are classes: callable
    assert (ReactiveJobClient.group, ReactiveJobClient.plural) == (
        "batch.cs.sap.com",
        "reactivejobs",
    )

"""The generated CRD and typed client against the real API server."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from reactivejob_api import (
    AlreadyExists,
    AsyncReactiveJobClient,
    Conflict,
    Connection,
    Expired,
    Invalid,
    NotFound,
    ReactiveJob,
    ReactiveJobClient,
    WatchEvent,
)
from testbed import ControlPlane
from testbed.manifests import install_crds
from tests.codegen_helpers import add_spec_field, copy_schema, edit_root_schema, run_codegen
from tests.integration.conftest import CRD_DIR
from tests.samples import reactive_job, rich_template, simple_template

CRD = "reactivejobs.batch.cs.sap.com.yaml"


@pytest.fixture
def jobs(control_plane: ControlPlane, crds: list[str]) -> Iterator[ReactiveJobClient]:
    with ReactiveJobClient(Connection.from_kubeconfig(control_plane.kubeconfig)) as typed:
        yield typed


def test_rich_template_round_trips_through_server_and_models(
    jobs: ReactiveJobClient, namespace: str
) -> None:
    source = reactive_job("rich", rich_template(), namespace)
    created = jobs.create(source)
    stored = jobs.get("rich", namespace)
    dumped = stored.model_dump(by_alias=True, exclude_unset=True, mode="json")
    assert dumped["spec"] == source["spec"]  # nothing pruned, nothing converted
    assert created.spec == stored.spec
    assert stored.status is not None and stored.status.observed_generation == -1


def test_crud_patch_status_and_errors_sync(jobs: ReactiveJobClient, namespace: str) -> None:
    created = jobs.create(
        ReactiveJob.model_validate(reactive_job("crud", simple_template(), namespace))
    )
    assert created.metadata is not None and created.metadata.generation == 1
    with pytest.raises(AlreadyExists) as exists:
        jobs.create(reactive_job("crud", simple_template(), namespace))
    assert "already exists" in exists.value.message

    listed = jobs.list(namespace)
    assert [item.metadata.name for item in listed.items if item.metadata] == ["crud"]

    patched = jobs.patch("crud", namespace, {"metadata": {"labels": {"a": "b"}}})
    assert patched.metadata is not None and patched.metadata.labels == {"a": "b"}
    json_patched = jobs.patch(
        "crud",
        namespace,
        [{"op": "add", "path": "/metadata/annotations", "value": {"x": "y"}}],
        type="json",
    )
    assert json_patched.metadata is not None and json_patched.metadata.annotations == {"x": "y"}

    status = jobs.patch_status(
        "crud", namespace, {"status": {"state": "Processing", "observedGeneration": 1}}
    )
    assert status.status is not None and status.status.state == "Processing"
    with pytest.raises(Invalid) as invalid:
        jobs.patch_status("crud", namespace, {"status": {"state": "Sleeping"}})
    assert 'Unsupported value: "Sleeping"' in invalid.value.message

    stale = created.model_copy(deep=True)
    with pytest.raises(Conflict):
        jobs.replace(stale)  # resourceVersion is old: the server refuses a lost update

    applied = jobs.apply(
        {"metadata": {"name": "crud", "namespace": namespace, "labels": {"owner": "tool"}}},
        field_manager="a-tool",
    )
    assert applied.metadata is not None and applied.metadata.labels == {"a": "b", "owner": "tool"}

    jobs.delete("crud", namespace)
    with pytest.raises(NotFound):
        jobs.get("crud", namespace)


def test_watch_yields_typed_events_and_410_is_expired(
    jobs: ReactiveJobClient, namespace: str
) -> None:
    start = jobs.list(namespace).metadata
    assert start is not None
    events: list[WatchEvent[ReactiveJob]] = []

    def collect() -> None:
        for event in jobs.watch(
            namespace, resource_version=start.resource_version, timeout_seconds=5
        ):
            events.append(event)
            if event.type == "DELETED":
                return

    watcher = threading.Thread(target=collect)
    watcher.start()
    jobs.create(reactive_job("watched", simple_template(), namespace))
    jobs.patch("watched", namespace, {"metadata": {"labels": {"seen": "yes"}}})
    jobs.delete("watched", namespace)
    watcher.join(timeout=10)
    assert [event.type for event in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert all(isinstance(event.object, ReactiveJob) for event in events)

    with pytest.raises(Expired) as expired:
        list(jobs.watch(namespace, resource_version="1", timeout_seconds=5))
    assert expired.value.status == 410


def test_async_client_does_the_same(
    control_plane: ControlPlane, crds: list[str], namespace: str
) -> None:
    async def scenario() -> list[str]:
        seen: list[str] = []
        async with AsyncReactiveJobClient(
            Connection.from_kubeconfig(control_plane.kubeconfig)
        ) as jobs:
            start = (await jobs.list(namespace)).metadata
            assert start is not None

            async def watch() -> None:
                async for event in jobs.watch(
                    namespace, resource_version=start.resource_version, timeout_seconds=5
                ):
                    seen.append(event.type)
                    if event.type == "DELETED":
                        return

            watching = asyncio.create_task(watch())
            await jobs.create(reactive_job("async", simple_template(), namespace))
            status = await jobs.patch_status("async", namespace, {"status": {"state": "Ready"}})
            assert status.status is not None and status.status.state == "Ready"
            got = await jobs.get_status("async", namespace)
            assert got.status is not None and got.status.state == "Ready"
            await jobs.delete("async", namespace)
            await asyncio.wait_for(watching, 10)
            with pytest.raises(NotFound):
                await jobs.get("async", namespace)
        return seen

    assert asyncio.run(scenario()) == ["ADDED", "MODIFIED", "DELETED"]


def test_crd_with_an_added_field_still_installs(
    kube: client.ApiClient,
    crds: list[str],
    tmp_path: Path,
    namespace: str,
    control_plane: ControlPlane,
) -> None:
    schema = copy_schema(tmp_path)
    edit_root_schema(schema, add_spec_field)
    assert run_codegen(schema, tmp_path).returncode == 0
    try:
        install_crds(kube, [tmp_path / "generated" / "reactivejob_api" / "crds" / CRD])
        with ReactiveJobClient(Connection.from_kubeconfig(control_plane.kubeconfig)) as jobs:
            body = reactive_job("extra", simple_template(), namespace)
            body["spec"]["suspendReruns"] = True
            jobs.create(body)
            stored = jobs.get("extra", namespace)
            assert stored.spec is not None and stored.spec.model_extra == {"suspendReruns": True}
    finally:
        install_crds(kube, [CRD_DIR / CRD])

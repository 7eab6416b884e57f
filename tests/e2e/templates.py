"""The Job templates the e2e tests run on the node: one busybox container (the image is loaded
on the node, never pulled) running a shell script."""

from __future__ import annotations

from typing import Any

from testbed.node import images


def busybox(
    script: str, *, labels: dict[str, str] | None = None, cpu: str | None = None, **spec: Any
) -> dict[str, Any]:
    """A Job template whose one container runs ``script`` in busybox's sh, with ``labels`` on
    the Job, a request of ``cpu`` (what Kueue counts), and ``spec`` over backoffLimit 0."""
    container: dict[str, Any] = {
        "name": "run",
        "image": images.BUSYBOX_IMAGE,
        "imagePullPolicy": "Never",
        "command": ["sh", "-c", script],
    }
    if cpu is not None:
        container["resources"] = {"requests": {"cpu": cpu}}
    template: dict[str, Any] = {
        "spec": {
            "backoffLimit": 0,
            **spec,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 1,
                    "containers": [container],
                }
            },
        }
    }
    if labels:
        template["metadata"] = {"labels": labels}
    return template


def plain_job(name: str, template: dict[str, Any]) -> dict[str, Any]:
    """A batch/v1 Job of ``template``, named ``name``: not a ReactiveJob's."""
    metadata = {"name": name, **(template.get("metadata") or {})}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": template["spec"]}

"""The generated models: Kubernetes names, both spellings, unknown fields kept, exact round trip."""

from __future__ import annotations

from typing import Any

from reactivejob_api import ReactiveJob, ReactiveJobStatus
from reactivejob_api.models import Container, JobTemplateSpec, PodSpec
from tests.samples import reactive_job, rich_template


def dump(model: Any) -> Any:
    return model.model_dump(by_alias=True, exclude_unset=True, mode="json")


def test_rich_object_round_trips_exactly() -> None:
    source = reactive_job("rich", rich_template(), namespace="ns")
    source["status"] = {
        "observedGeneration": 3,
        "state": "Ready",
        "currentJobName": "rich-abcde",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Ready",
                "message": "CompletionsReached: done",
                "lastTransitionTime": "2026-11-26T10:00:00Z",
                "lastUpdateTime": "2026-11-26T10:00:01Z",
            }
        ],
    }
    assert dump(ReactiveJob.model_validate(source)) == source


def test_int_or_string_and_quantities_keep_their_json_type() -> None:
    parsed = ReactiveJob.model_validate(reactive_job("q", rich_template()))
    assert parsed.spec is not None
    container = parsed.spec.job_template.spec.template.spec.containers[0]  # type: ignore[union-attr]
    assert container.resources is not None and container.resources.requests is not None
    assert container.resources.requests["cpu"] == 1
    assert container.resources.requests["memory"] == "128Mi"
    assert container.liveness_probe is not None and container.liveness_probe.http_get is not None
    assert container.liveness_probe.http_get.port == "http"


def test_construction_by_python_name_or_by_alias() -> None:
    by_name = Container(name="a", image="x", image_pull_policy="Always")
    by_alias = Container.model_validate({"name": "a", "image": "x", "imagePullPolicy": "Always"})
    assert by_name == by_alias
    assert dump(by_name) == {"name": "a", "image": "x", "imagePullPolicy": "Always"}


def test_unknown_fields_from_a_newer_server_survive() -> None:
    source: dict[str, Any] = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "a", "image": "x", "futureField": {"on": True}}],
                    "futurePodField": [1, 2],
                }
            }
        },
        "futureTemplateField": "kept",
    }
    parsed = JobTemplateSpec.model_validate(source)
    assert dump(parsed) == source
    pod = PodSpec.model_validate(source["spec"]["template"]["spec"])
    assert pod.model_extra == {"futurePodField": [1, 2]}


def test_unset_fields_stay_unset() -> None:
    status = ReactiveJobStatus.model_validate({"observedGeneration": -1})
    assert dump(status) == {"observedGeneration": -1}
    assert status.state is None

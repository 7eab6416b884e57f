"""Which Jobs ``decide()`` acts on: the controller ownerReference decides, never the labels
alone (anyone who may create Jobs can copy them). The Go operator's Jobs, with our labels and
no controller, are adopted."""

from __future__ import annotations

from reactivejob.core.decide import ADOPTED, CONTROLLED_ELSEWHERE, decide
from reactivejob.core.naming import job_name
from reactivejob_api.vocabulary import ANNOTATION_RUN, ConditionType
from tests.unit.builders import DIGEST, NOW, TEMPLATE, UID, job, rj

OTHER = "9f0e0000-aaaa-bbbb-cccc-ddddeeeeffff"


def test_a_job_of_another_controller_is_not_read_as_the_run() -> None:
    # Our labels, the newest run number and a result: a forgery in all but its controller.
    impostor = job("migrate-zzzzz", 1, annotations={ANNOTATION_RUN: "99"}, controller=OTHER,
                   state="Complete")  # fmt: skip
    plan = decide(rj(), TEMPLATE, [impostor], NOW, digest=DIGEST)
    # As if no Job existed: ours is made, and the impostor's result is not ours to show.
    assert plan.create is not None
    assert plan.create.metadata is not None
    assert plan.create.metadata.name == job_name("migrate", UID, 1)
    assert plan.status is not None and plan.status.state != "Ready"
    assert plan.adopt == ()


def test_a_job_of_another_controller_is_never_deleted_released_or_resumed() -> None:
    ours = job(job_name("migrate", UID, 1), 1, state="running")
    impostor = job("migrate-zzzzz", 0, "old", controller=OTHER, state="held")
    for policy in ("Replace", "Forbid", "Allow"):
        plan = decide(rj(2, spec={"concurrencyPolicy": policy}), TEMPLATE, [ours, impostor],
                      NOW, digest="new")  # fmt: skip
        touched = (*plan.delete, *plan.prune, *plan.release, *plan.adopt, plan.resume)
        assert "migrate-zzzzz" not in touched, (policy, plan)


def test_jobs_of_another_controller_are_named_in_the_status_and_an_event_once() -> None:
    impostor = job("migrate-zzzzz", 1, controller=OTHER, state="running")
    plan = decide(rj(), TEMPLATE, [impostor], NOW, digest=DIGEST)
    assert plan.status is not None
    found = {c.type: c for c in plan.status.conditions or []}[ConditionType.FOREIGN_JOBS]
    assert (found.status, found.reason) == ("True", CONTROLLED_ELSEWHERE)
    assert "migrate-zzzzz is controlled by CronJob impostor (uid " + OTHER in str(found.message)
    warnings = [e for e in plan.events if e.reason == CONTROLLED_ELSEWHERE]
    assert [e.type for e in warnings] == ["Warning"]
    # Decided again on what it wrote: the same list is not told again, and the condition
    # keeps its time.
    status = plan.status.model_dump(by_alias=True, exclude_none=True, mode="json")
    again = decide(rj(status=status), TEMPLATE, [impostor], NOW, digest=DIGEST)
    assert [e for e in again.events if e.reason == CONTROLLED_ELSEWHERE] == []
    # Gone: the condition goes with it.
    mine = job(job_name("migrate", UID, 1), 1, state="running")
    after = decide(rj(status=status), TEMPLATE, [mine], NOW, digest=DIGEST)
    assert after.status is not None
    assert ConditionType.FOREIGN_JOBS not in {c.type for c in after.status.conditions or []}


def test_a_go_operator_job_is_adopted_with_an_event_and_read_as_the_run() -> None:
    legacy = job("migrate-x7k2p", 1, controller=None, state="Complete")
    plan = decide(rj(), TEMPLATE, [legacy], NOW, digest=DIGEST)
    assert plan.adopt == ("migrate-x7k2p",)
    assert plan.create is None
    assert plan.status is not None and plan.status.current_job_name == "migrate-x7k2p"
    assert plan.status.state == "Ready"
    adopted = [e for e in plan.events if e.reason == ADOPTED]
    assert len(adopted) == 1 and "migrate-x7k2p" in adopted[0].message
    # Once it is ours (the controller reference set), there is nothing more to adopt or say.
    status = plan.status.model_dump(by_alias=True, exclude_none=True, mode="json")
    settled = decide(rj(status=status), TEMPLATE, [job("migrate-x7k2p", 1, state="Complete")],
                     NOW, digest=DIGEST)  # fmt: skip
    assert settled.adopt == () and [e for e in settled.events if e.reason == ADOPTED] == []

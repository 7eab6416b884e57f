"""Which Jobs are a ReactiveJob's to act on. The controller ownerReference decides, not the
labels: anyone who may create Jobs in the namespace can copy labels, but the API server lets a
Job have one controller only, and only ours names this ReactiveJob's uid.

The Go operator's Jobs carry our labels and no controller at all. Those are taken over by
setting our controller reference on them (an Event says so), so that a takeover keeps working
and, from then on, they are ours by the same rule as every other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reactivejob_api import API_VERSION, KIND, ReactiveJob
from reactivejob_api.models import Job, OwnerReference
from reactivejob_api.vocabulary import LABEL_CONTROLLER_UID

from .objects import meta, name_of


def owner_reference(reactive_job: ReactiveJob) -> dict[str, Any]:
    own = meta(reactive_job)
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": own.name,
        "uid": own.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controller_of(job: Job) -> OwnerReference | None:
    """The ownerReference with ``controller: true``, if any."""
    return next((r for r in meta(job).owner_references or [] if r.controller), None)


@dataclass(frozen=True)
class Claims:
    mine: tuple[Job, ...]  # controlled by this ReactiveJob
    adoptable: tuple[Job, ...]  # labelled ours, with no controller: the Go operator's
    foreign: tuple[Job, ...]  # labelled ours, controlled by something else

    @classmethod
    def of(cls, reactive_job: ReactiveJob, jobs: Sequence[Job]) -> Claims:
        """``jobs``: those labelled with this ReactiveJob's uid."""
        uid = meta(reactive_job).uid
        mine, adoptable, foreign = [], [], []
        for job in jobs:
            controller = controller_of(job)
            if controller is None:
                adoptable.append(job)
            elif controller.uid == uid:
                mine.append(job)
            else:
                foreign.append(job)
        return cls(tuple(mine), tuple(adoptable), tuple(foreign))

    @property
    def runs(self) -> list[Job]:
        """The Jobs that are runs of this ReactiveJob: its own, and those it adopts now."""
        return [*self.mine, *self.adoptable]

    def foreign_message(self) -> str | None:
        if not self.foreign:
            return None
        described = "; ".join(
            f"{name_of(job)} is controlled by {_described(controller_of(job))}"
            for job in self.foreign
        )
        return (
            f"Jobs labelled {LABEL_CONTROLLER_UID} with this ReactiveJob's uid belong to "
            f"another controller and are ignored (never adopted, deleted, resumed or read as a "
            f"run): {described}"
        )


def _described(reference: OwnerReference | None) -> str:
    assert reference is not None, "only foreign Jobs are described, and they have a controller"
    return f"{reference.kind} {reference.name} (uid {reference.uid})"

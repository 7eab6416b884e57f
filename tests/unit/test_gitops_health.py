"""GitOps tools' reading of a ReactiveJob: Argo CD's Lua health check, run as Argo CD runs it
(gopher-lua, set up as Argo CD's VM, built from its Go module: testbed's argocd-health), and
kstatus (Flux health checks, Helm 4's --wait), both over the same testdata objects, which the
operator's own decide() makes.

Regenerate the testdata after a change to what the operator writes:
    .venv/bin/python -m tests.unit.test_gitops_health
then review health_test.yaml's messages by hand: they are never generated.
"""

from __future__ import annotations

import datetime
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from reactivejob.core.config_refs import ConfigView, config_view, references
from reactivejob.core.decide import Plan, decide
from reactivejob.core.failure import diagnose
from reactivejob.core.kueue import NO_KUEUE, QUEUE_NAME, Admission, KueueView
from reactivejob.core.objects import stamp
from reactivejob.engine.config_cache import TRIGGERS_OFF
from reactivejob_api import ReactiveJob, ReactiveJobRunFailure
from reactivejob_api.models import Job
from reactivejob_api.vocabulary import FINALIZER
from testbed import binaries
from testbed.versions import ARGOCD_HEALTH
from tests.samples import API_VERSION

ROOT = Path(__file__).resolve().parents[2]
CUSTOMIZATION = ROOT / "gitops/argocd/resource_customizations/batch.cs.sap.com/ReactiveJob"
HEALTH_LUA = CUSTOMIZATION / "health.lua"
HEALTH_TEST = CUSTOMIZATION / "health_test.yaml"
TESTDATA = CUSTOMIZATION / "testdata"
ARGOCD_CM_PATCH = ROOT / "gitops/argocd/argocd-cm-patch.yaml"
ARGOCD_CM_KEY = "resource.customizations.health.batch.cs.sap.com_ReactiveJob"
LUA = "lua5.1"
# Argo CD's isValidHealthStatusCode; anything else becomes Unknown with this message.
VALID_HEALTH = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
INVALID_HEALTH = "Lua returned an invalid health status"

# ---------------------------------------------------------------------------------------------
# The testdata: what the API server serves after the operator's decide() has run on each story.

UID = "0b7c5b8e-4d1f-4a7e-9c3b-5e2f8a6d1c90"
T0 = datetime.datetime(2026, 11, 26, 12, 0, 0, tzinfo=datetime.UTC)
FOREIGN_FINALIZER = "example.com/backup"


def at(seconds: int) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def job_template(image: str = "registry.example.com/migrate:1.2.3") -> dict[str, Any]:
    return {
        "spec": {
            "backoffLimit": 2,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "migrate",
                            "image": image,
                            "args": ["--all"],
                            "envFrom": [{"configMapRef": {"name": "migrate-config"}}],
                        }
                    ],
                }
            },
        }
    }


class Cluster:
    """One ReactiveJob and its Jobs as the API server holds them, with the operator (decide)
    and the Job controller acting on them in turn."""

    def __init__(self, **spec: Any) -> None:
        self.body: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": "ReactiveJob",
            "metadata": {
                "name": "migrate",
                "namespace": "team-a",
                "uid": UID,
                "generation": 1,
                "creationTimestamp": stamp(T0),
            },
            "spec": {"jobTemplate": job_template(), **spec},
            "status": {"observedGeneration": -1},  # the CRD's status default
        }
        self.jobs: dict[str, dict[str, Any]] = {}
        self.kueue = NO_KUEUE
        self.pods: dict[str, list[dict[str, Any]]] = {}  # by Job name, as the API lists them

    def reconcile(self, now: datetime.datetime, config: ConfigView | None = None) -> Plan:
        def decided(failures: dict[str, ReactiveJobRunFailure] | None = None) -> Plan:
            return decide(
                ReactiveJob.model_validate(self.body),
                self.body["spec"]["jobTemplate"],
                [Job.model_validate(j) for j in self.jobs.values()],
                now,
                config=config,
                kueue=self.kueue,
                failures=failures,
            )

        plan = decided()
        if plan.diagnose:  # as the executor does: one LIST of each failed Job's Pods
            plan = decided({n: diagnose(self.pods.get(n, [])) for n in plan.diagnose})
        assert not plan.fetch_template and not plan.diagnose
        if plan.add_finalizer:
            self.body["metadata"].setdefault("finalizers", []).append(FINALIZER)
        if plan.create is not None:
            job = plan.create.model_dump(by_alias=True, exclude_none=True, mode="json")
            job["metadata"]["creationTimestamp"] = stamp(now)
            self.jobs[job["metadata"]["name"]] = job
        if plan.status is not None:  # as the operator writes it (controller._write_status)
            self.body["status"] = plan.status.model_dump(
                by_alias=True, exclude_none=True, mode="json"
            )
        return plan

    def newest_job(self) -> str:
        return list(self.jobs)[-1]

    def change_spec(self, **spec: Any) -> None:
        self.body["spec"].update(spec)
        self.body["metadata"]["generation"] += 1

    def delete(self, now: datetime.datetime) -> None:
        self.body["metadata"]["deletionTimestamp"] = stamp(now)
        self.body["metadata"]["deletionGracePeriodSeconds"] = 0

    def job_runs(self, name: str, now: datetime.datetime) -> None:
        self.jobs[name]["status"] = {"startTime": stamp(now), "active": 1, "ready": 0}

    def job_succeeds(self, name: str, now: datetime.datetime) -> None:
        started = self.jobs[name]["status"]["startTime"]
        self.jobs[name]["status"] = {
            "startTime": started,
            "completionTime": stamp(now),
            "succeeded": 1,
            "conditions": [
                _job_condition(now, "SuccessCriteriaMet", "CompletionsReached"),
                _job_condition(now, "Complete", "CompletionsReached"),
            ],
        }

    def job_fails(self, name: str, now: datetime.datetime) -> None:
        started = self.jobs[name]["status"]["startTime"]
        self.jobs[name]["status"] = {
            "startTime": started,
            "failed": 3,
            "conditions": [
                _job_condition(now, "FailureTarget", "BackoffLimitExceeded"),
                _job_condition(now, "Failed", "BackoffLimitExceeded"),
            ],
        }
        ended = {"exitCode": 3, "reason": "Error", "finishedAt": stamp(now),
                 "message": 'relation "accounts" does not exist\n'}  # fmt: skip
        self.pods[name] = [{
            "metadata": {"name": f"{name}-x7k2p"},
            "status": {"phase": "Failed", "containerStatuses": [
                {"name": "migrate", "state": {"terminated": ended}},
            ]},
        }]  # fmt: skip


WHY_IT_FAILED = (  # the Job controller's words, then its failed Pod's
    "Job has reached the specified backoff limit: container migrate of pod migrate-rn8xz-x7k2p "
    'exited with code 3 (Error): relation "accounts" does not exist'
)
_JOB_MESSAGES = {  # the Job controller's own (Kubernetes 1.31+)
    "CompletionsReached": "Reached expected number of succeeded pods",
    "BackoffLimitExceeded": "Job has reached the specified backoff limit",
}


def _job_condition(now: datetime.datetime, kind: str, reason: str) -> dict[str, str]:
    return {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": _JOB_MESSAGES[reason],
        "lastProbeTime": stamp(now),
        "lastTransitionTime": stamp(now),
    }


def _running(**spec: Any) -> Cluster:
    cluster = Cluster(**spec)
    cluster.reconcile(at(0))  # finalizer, Job created
    cluster.job_runs(cluster.newest_job(), at(2))
    cluster.reconcile(at(2))
    return cluster


def _succeeded(**spec: Any) -> Cluster:
    cluster = _running(**spec)
    cluster.job_succeeds(cluster.newest_job(), at(90))
    cluster.reconcile(at(90))
    return cluster


def _suspended_after_success() -> Cluster:
    cluster = _succeeded()
    cluster.change_spec(suspend=True)
    cluster.reconcile(at(600))
    return cluster


def _queued() -> Cluster:
    """Kueue's webhook made the Job suspended; no ClusterQueue has room for it yet."""
    cluster = Cluster()
    cluster.body["spec"]["jobTemplate"]["metadata"] = {"labels": {QUEUE_NAME: "team-a"}}
    cluster.reconcile(at(0))
    name = cluster.newest_job()
    cluster.jobs[name]["spec"]["suspend"] = True
    waiting = (
        "couldn't assign flavors to pod set main: insufficient unused quota for cpu in flavor "
        "default, 100m more needed"
    )
    cluster.kueue = KueueView(workloads={name: Admission(waiting=waiting)})
    cluster.reconcile(at(1))
    return cluster


def queued() -> dict[str, Any]:
    return _queued().body


def evicted() -> dict[str, Any]:
    """Admitted and running, then preempted by a Workload of higher priority."""
    cluster = _queued()
    name = cluster.newest_job()
    cluster.jobs[name]["spec"]["suspend"] = False
    cluster.job_runs(name, at(5))
    cluster.kueue = KueueView(workloads={name: Admission(admitted=True, cluster_queue="batch")})
    cluster.reconcile(at(5))
    cluster.jobs[name]["spec"]["suspend"] = True
    cluster.jobs[name]["status"] = {}
    preempted = (
        "Preempted to accommodate a workload (UID: 5d0b7f52-3c9f-4f6e-8a51-0c1d2e3f4a5b, "
        "JobUID: 9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a) due to prioritization in the ClusterQueue"
    )
    cluster.kueue = KueueView(workloads={name: Admission(evicted=("Preempted", preempted))})
    cluster.reconcile(at(40))
    return cluster.body


def healthy() -> dict[str, Any]:
    return _succeeded().body


def progressing() -> dict[str, Any]:
    return _running().body


def _failed() -> Cluster:
    cluster = _running()
    cluster.job_fails(cluster.newest_job(), at(120))
    cluster.reconcile(at(120))
    return cluster


def degraded() -> dict[str, Any]:
    return _failed().body


def suspended() -> dict[str, Any]:
    """A template change while suspended: held, not run."""
    cluster = _suspended_after_success()
    cluster.change_spec(jobTemplate=job_template("registry.example.com/migrate:1.3.0"))
    cluster.reconcile(at(700))
    return cluster.body


def suspended_no_held_change() -> dict[str, Any]:
    return _suspended_after_success().body


def suspended_after_failure() -> dict[str, Any]:
    """Paused after a failed run (during an incident): Suspended to Argo CD, Failed to kstatus."""
    cluster = _failed()
    cluster.change_spec(suspend=True)
    cluster.reconcile(at(600))
    return cluster.body


def waiting_for_previous_run() -> dict[str, Any]:
    cluster = _running(concurrencyPolicy="Forbid")
    cluster.change_spec(jobTemplate=job_template("registry.example.com/migrate:1.3.0"))
    cluster.reconcile(at(30))  # the new Job is created held
    cluster.reconcile(at(31))  # and waits, as it does on every reconcile until the old one ends
    return cluster.body


def waiting_for_config() -> dict[str, Any]:
    cluster = Cluster(rerunOnConfigChange=True)
    refs = references(cluster.body["spec"]["jobTemplate"])
    cluster.reconcile(at(0), config=config_view(refs, dict.fromkeys(refs)))  # none exists
    return cluster.body


def config_unavailable() -> dict[str, Any]:
    cluster = Cluster(rerunOnConfigChange=True)  # on an operator without --config-triggers
    cluster.reconcile(at(0), config=ConfigView(None, problem=TRIGGERS_OFF))
    return cluster.body


def never_reconciled() -> dict[str, Any]:
    return Cluster().body


def no_status() -> dict[str, Any]:
    """As served by a cluster whose CRD has no status default (the Go operator's)."""
    body = Cluster().body
    del body["status"]
    return body


def observed_generation_behind() -> dict[str, Any]:
    cluster = _succeeded()
    cluster.change_spec(jobTemplate=job_template("registry.example.com/migrate:1.3.0"))
    return cluster.body  # before the operator has seen the change


def deleting() -> dict[str, Any]:
    cluster = _succeeded()
    cluster.delete(at(900))
    cluster.reconcile(at(900))
    return cluster.body


def deletion_blocked() -> dict[str, Any]:
    cluster = _succeeded()
    cluster.body["metadata"]["finalizers"].append(FOREIGN_FINALIZER)
    cluster.delete(at(900))
    cluster.reconcile(at(900))
    return cluster.body


SCENARIOS: dict[str, Callable[[], dict[str, Any]]] = {
    "healthy.yaml": healthy,
    "progressing.yaml": progressing,
    "degraded.yaml": degraded,
    "suspended.yaml": suspended,
    "suspended-no-held-change.yaml": suspended_no_held_change,
    "suspended-after-failure.yaml": suspended_after_failure,
    "waiting-for-previous-run.yaml": waiting_for_previous_run,
    "waiting-for-config.yaml": waiting_for_config,
    "config-unavailable.yaml": config_unavailable,
    "never-reconciled.yaml": never_reconciled,
    "no-status.yaml": no_status,
    "observed-generation-behind.yaml": observed_generation_behind,
    "deleting.yaml": deleting,
    "deletion-blocked.yaml": deletion_blocked,
    "queued.yaml": queued,
    "evicted.yaml": evicted,
}

HEADER = (
    "# Made with the operator's own decide() by `python -m tests.unit.test_gitops_health`;\n"
    "# that test module checks that it is still what the operator writes.\n"
)


def render(obj: dict[str, Any]) -> str:
    return HEADER + yaml.safe_dump(obj, sort_keys=False, allow_unicode=True, width=100)


def render_argocd_cm_patch() -> str:
    """health.lua as argocd-cm takes it, for a cluster whose Argo CD lacks it built in."""
    body = "".join(f"    {line}" if line.strip() else "\n" for line in HEALTH_LUA.open())
    return (
        "# kubectl -n argocd patch configmap argocd-cm --patch-file "
        f"{ARGOCD_CM_PATCH.relative_to(ROOT)}\n"
        "# Made from resource_customizations/batch.cs.sap.com/ReactiveJob/health.lua by\n"
        "# `python -m tests.unit.test_gitops_health`; edit that file, not this one.\n"
        f"data:\n  {ARGOCD_CM_KEY}: |\n{body}"
    )


# ---------------------------------------------------------------------------------------------
# Reading YAML as Argo CD and kstatus do: sigs.k8s.io/yaml turns it into JSON, so a timestamp
# stays a string (PyYAML's SafeLoader would make it a datetime).


class JsonLikeLoader(yaml.SafeLoader):
    pass


JsonLikeLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load(path: Path) -> Any:
    return yaml.load(path.read_text(), Loader=JsonLikeLoader)


def health_tests() -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = load(HEALTH_TEST)["tests"]
    return tests


def case_id(case: dict[str, Any]) -> str:
    return str(case["inputPath"])


# ---------------------------------------------------------------------------------------------
# Argo CD's Lua run: argocd-health (testbed/testbed/gomod/argocd-health) builds Argo CD's VM
# from the pieces Argo CD pins (gopher-lua, gopher-json) and runs the script as
# VM.ExecuteHealthLua does: the object decoded into the global `obj`, the chunk's return value
# the health. By default it gets what an argocd-cm script gets with useOpenLibs unset (base,
# table, no string, math or io); --open-libs is what Argo CD's own TestLuaHealthScript gives.


@pytest.fixture(scope="session")
def argocd_health() -> Path:
    return binaries.ensure_built(ARGOCD_HEALTH)


def argo_health(binary: Path, obj: Any, script: Path = HEALTH_LUA, *flags: str) -> tuple[str, str]:
    """(status, message) as Argo CD's ExecuteHealthLua returns them for ``obj``."""
    done = subprocess.run(
        [str(binary), "run", *flags, str(script), "-"],
        input=json.dumps(obj).encode(),
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr.decode()
    result = json.loads(done.stdout)
    assert "error" not in result, result["error"]
    return result["status"], result["message"]


# ---------------------------------------------------------------------------------------------
# kstatus: no maintained Python port exists, so this follows sigs.k8s.io/cli-utils
# pkg/kstatus/status: Compute (status.go) runs checkGenericProperties (generic.go), then the
# built-in kinds' rules (none for a custom resource), then checkReadyCondition (status.go), and
# else says Current. Its messages are kstatus's own.


def kstatus(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    if meta.get("deletionTimestamp"):  # NestedString: found and not ""
        return "Terminating", "Resource scheduled for deletion"
    # checkGeneration: with no status.observedGeneration there is nothing to compare, and the
    # check is skipped (not InProgress).
    generation, observed = meta.get("generation"), status.get("observedGeneration")
    if generation is not None and observed is not None and observed != generation:
        return "InProgress", (
            f"{obj.get('kind')} generation is {generation}, "
            f"but latest observed generation is {observed}"
        )
    conditions = status.get("conditions") or []
    for condition in conditions:  # the first abnormal-true one in list order wins
        if condition.get("status") == "True" and condition.get("type") == "Reconciling":
            return "InProgress", condition.get("message", "")
        if condition.get("status") == "True" and condition.get("type") == "Stalled":
            return "Failed", condition.get("message", "")
    for condition in conditions:
        if condition.get("type") != "Ready":
            continue
        if condition.get("status") == "True":
            return "Current", "Resource is Ready"
        if condition.get("status") in ("False", "Unknown"):
            return "InProgress", condition.get("message", "")
    return "Current", "Resource is current"


KSTATUS_EXPECTED = {
    "healthy.yaml": ("Current", "Resource is Ready"),
    "progressing.yaml": ("InProgress", "waiting for job migrate-rn8xz to complete"),
    "degraded.yaml": ("Failed", WHY_IT_FAILED),
    "suspended.yaml": ("InProgress", "generation 3 is held: spec.suspend is true"),
    "suspended-no-held-change.yaml": ("Current", "Resource is Ready"),
    "suspended-after-failure.yaml": ("Failed", WHY_IT_FAILED),
    "waiting-for-previous-run.yaml": (
        "InProgress",
        "job migrate-d9rs9 waits for migrate-rn8xz to finish (concurrencyPolicy Forbid)",
    ),
    "waiting-for-config.yaml": (
        "InProgress",
        "waiting for ConfigMap migrate-config: not found, and not optional",
    ),
    "config-unavailable.yaml": ("Failed", TRIGGERS_OFF),
    "never-reconciled.yaml": (
        "InProgress",
        "ReactiveJob generation is 1, but latest observed generation is -1",
    ),
    "no-status.yaml": ("Current", "Resource is current"),
    "observed-generation-behind.yaml": (
        "InProgress",
        "ReactiveJob generation is 2, but latest observed generation is 1",
    ),
    "deleting.yaml": ("Terminating", "Resource scheduled for deletion"),
    "deletion-blocked.yaml": ("Terminating", "Resource scheduled for deletion"),
    "queued.yaml": (
        "InProgress",
        "job migrate-rn8xz waits in LocalQueue team-a for admission by Kueue: couldn't assign "
        "flavors to pod set main: insufficient unused quota for cpu in flavor default, 100m "
        "more needed",
    ),
    "evicted.yaml": (
        "InProgress",
        "job migrate-rn8xz was evicted by Kueue: Preempted to accommodate a workload (UID"
        ": 5d0b7f52-3c9f-4f6e-8a51-0c1d2e3f4a5b, JobUID: 9e8d7c6b-5a49-4382-9170-6f5e4d3c"
        "2b1a) due to prioritization in the ClusterQueue; it runs again once admitted",
    ),
}

# Argo CD health -> the kstatus statuses that mean the same to a person waiting on a sync.
AGREEING = {
    "Healthy": {"Current"},
    "Degraded": {"Failed"},
    "Progressing": {"InProgress", "Terminating"},
    "Suspended": {"InProgress"},
}
# kstatus cannot tell a custom resource that no controller has touched yet from a finished one
# (its README: "assume they are always reconciled"); the CRD's status default
# {observedGeneration: -1} is what makes never-reconciled.yaml read InProgress instead.
# Argo CD reads spec.suspend as Suspended whatever ran last (its CronJob check does the same);
# kstatus has no such state and reads the object as its last Job did.
DIVERGING = {
    "no-status.yaml": ("Progressing", "Current"),
    "suspended-no-held-change.yaml": ("Suspended", "Current"),
    "suspended-after-failure.yaml": ("Suspended", "Failed"),
}


# ---------------------------------------------------------------------------------------------
# The tests.


def test_every_testdata_object_has_one_case_everywhere() -> None:
    files = sorted(p.name for p in TESTDATA.glob("*.yaml"))
    inputs = [case["inputPath"] for case in health_tests()]
    assert sorted(inputs) == [f"testdata/{name}" for name in files]
    assert len(set(inputs)) == len(inputs)
    assert sorted(SCENARIOS) == files
    assert sorted(KSTATUS_EXPECTED) == files


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_testdata_is_what_the_operator_writes(name: str) -> None:
    assert load(TESTDATA / name) == SCENARIOS[name](), (
        f"testdata/{name} is stale: run `python -m tests.unit.test_gitops_health`, then check "
        "health_test.yaml's messages"
    )


@pytest.mark.parametrize("case", health_tests(), ids=case_id)
def test_argo_cd_health(argocd_health: Path, case: dict[str, Any]) -> None:
    expected = case["healthStatus"]
    obj = load(CUSTOMIZATION / case["inputPath"])
    assert argo_health(argocd_health, obj) == (expected["status"], expected.get("message", ""))


@pytest.mark.parametrize("flags", [(), ("-open-libs",)], ids=["argocd-cm", "built-in"])
def test_health_test_yaml_passes_as_argo_cd_runs_it(
    argocd_health: Path, flags: tuple[str, ...]
) -> None:
    """The whole folder as Argo CD's own TestLuaHealthScript runs it (its YAML loading
    included), and as an argocd-cm script with useOpenLibs unset."""
    done = subprocess.run(
        [str(argocd_health), "test", *flags, str(CUSTOMIZATION)],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    report = json.loads(done.stdout)
    failed = [c for c in report["cases"] if not c["pass"]]
    assert not failed, failed
    assert report["passed"] == len(health_tests()) and done.returncode == 0


@pytest.mark.parametrize("name", sorted(KSTATUS_EXPECTED))
def test_kstatus(name: str) -> None:
    assert kstatus(load(TESTDATA / name)) == KSTATUS_EXPECTED[name]


@pytest.mark.parametrize("case", health_tests(), ids=case_id)
def test_argo_cd_and_kstatus_agree(case: dict[str, Any]) -> None:
    name = Path(case["inputPath"]).name
    argo = case["healthStatus"]["status"]
    flux = kstatus(load(TESTDATA / name))[0]
    if name in DIVERGING:
        assert (argo, flux) == DIVERGING[name]
    else:
        assert flux in AGREEING[argo], f"Argo CD says {argo}, kstatus {flux}"


def test_lua_sees_what_argo_cd_hides(argocd_health: Path, tmp_path: Path) -> None:
    probe = tmp_path / "probe.lua"
    probe.write_text(
        'local method = pcall(function() return ("x"):len() end)\n'
        'return {status = "Healthy", message = type(string) .. " " .. type(math) .. " "'
        " .. type(io) .. ' ' .. tostring(method) .. ' ' .. obj.metadata.name}\n"
    )
    assert argo_health(argocd_health, {"metadata": {"name": "m"}}, probe) == (
        "Healthy",
        "nil nil nil false m",
    )


def test_an_invalid_status_reads_unknown(argocd_health: Path, tmp_path: Path) -> None:
    probe = tmp_path / "probe.lua"
    probe.write_text('return {status = "Fine", message = "x"}\n')
    assert argo_health(argocd_health, {}, probe) == ("Unknown", INVALID_HEALTH)


# A Lua-side canonical form, to see that an object reaches the script as Argo CD decodes it.
DUMP = """\
local function dump(v)
  local t = type(v)
  if t == "string" then return "s" .. #v .. ":" .. v end
  if t == "number" then return "n" .. string.format("%.17g", v) end
  if t == "boolean" then return v and "T" or "F" end
  local keys, n = {}, 0
  for k in pairs(v) do n = n + 1; keys[n] = k end
  if n == 0 then return "{}" end
  if n == #v then
    local out = {}
    for i = 1, n do out[i] = dump(v[i]) end
    return "[" .. table.concat(out) .. "]"
  end
  table.sort(keys)
  local out = {}
  for i, k in ipairs(keys) do out[i] = dump(k) .. dump(v[k]) end
  return "{" .. table.concat(out) .. "}"
end
return {status = "Healthy", message = dump(obj)}
"""


def canonical(value: Any) -> str:
    if isinstance(value, str):
        return f"s{len(value.encode())}:{value}"
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, int | float):
        return "n" + format(float(value), ".17g")
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if v is not None}  # nil fields are absent
    if not value:
        return "{}"  # Lua has one empty table for both
    if isinstance(value, list):
        return "[" + "".join(canonical(item) for item in value) + "]"
    keys = sorted(value, key=lambda k: k.encode())  # Lua's table.sort: strcmp, C locale
    return "{" + "".join(canonical(k) + canonical(value[k]) for k in keys) + "}"


TRICKY = {
    "quotes": "say \"hi\" and 'bye'",
    "backslash": "C:\\path\\n not a newline",
    "controls": "line\nbreak\ttab\r\n\x00nul\x7fdel",
    "escape then digit": "\n123\x01" + "9",
    "unicode": "naïve ✓ 日本 😀",
    "long brackets": "]] [[ ]=]",
    "": "empty key",
    "empty": "",
    "numbers": [0, -1, 2**53, 0.5, -1.25e-7, 1e300],
    "booleans": [True, False],
    "nested": [{"a": [{"b": {"c": []}}], "d": {}}, [[1], ["x"]]],
    "dropped": None,
}


@pytest.mark.parametrize(
    "value",
    [TRICKY, *(load(p) for p in sorted(TESTDATA.glob("*.yaml")))],
    ids=["tricky", *(p.name for p in sorted(TESTDATA.glob("*.yaml")))],
)
def test_objects_reach_the_script_intact(argocd_health: Path, value: Any, tmp_path: Path) -> None:
    dumper = tmp_path / "dump.lua"
    dumper.write_text(DUMP)
    # string.format needs the open libraries; the decoding of obj is the same either way.
    assert argo_health(argocd_health, value, dumper, "-open-libs") == (
        "Healthy",
        canonical(value),
    )


def test_the_argocd_cm_patch_carries_health_lua() -> None:
    assert load(ARGOCD_CM_PATCH) == {"data": {ARGOCD_CM_KEY: HEALTH_LUA.read_text()}}


def main() -> None:
    ARGOCD_CM_PATCH.write_text(render_argocd_cm_patch())
    print(f"wrote {ARGOCD_CM_PATCH.relative_to(ROOT)}")
    TESTDATA.mkdir(parents=True, exist_ok=True)
    for name, scenario in SCENARIOS.items():
        (TESTDATA / name).write_text(render(scenario()))
        print(f"wrote {(TESTDATA / name).relative_to(ROOT)}")


if __name__ == "__main__":
    main()

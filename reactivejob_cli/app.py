"""The commands, with kubectl's conventions: -n/--namespace, --context, --kubeconfig,
-o json|yaml, errors on stderr, and an exit code per outcome (see ``Exit``).

click parses (kubectl-like flags and help, and a usage error we can give its own exit code);
rich draws the spinner, and only on a terminal: piped, ``wait`` prints its one result line.
"""

from __future__ import annotations

import datetime
import enum
import functools
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import click
import yaml
from rich.console import Console

from reactivejob_api import (
    ApiError,
    ConfigError,
    Connection,
    NotFound,
    ReactiveJob,
    ReactiveJobClient,
    RunFailed,
    RunTimeout,
)
from reactivejob_api.vocabulary import ANNOTATION_RERUN
from typedkube.runs import ready_condition

from .logs import RunLogs, containers_of, prefixed, run_of


class Exit(enum.IntEnum):
    OK = 0
    RUN_FAILED = 1
    TIMEOUT = 2
    NOT_FOUND = 3
    API_ERROR = 4
    USAGE = 64  # sysexits' EX_USAGE: click's own 2 would read as a timeout


@dataclass(frozen=True)
class Target:
    client: ReactiveJobClient
    namespace: str


def _target(kubeconfig: str | None, context: str | None, namespace: str | None) -> Target:
    try:
        connection = Connection.from_kubeconfig(kubeconfig, context)
        namespace = namespace or _context_namespace(kubeconfig, context)
    except Exception as error:  # the kubernetes loader's ConfigException, a missing file
        raise ConfigError(f"no usable kubeconfig: {error}") from error
    return Target(ReactiveJobClient(connection), namespace)


def _context_namespace(kubeconfig: str | None, context: str | None) -> str:
    """The namespace of the kubeconfig context, as kubectl takes it, else "default"."""
    from kubernetes import config  # noqa: PLC0415 - slow to import; only the CLI needs it

    contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    chosen = next((c for c in contexts if c["name"] == context), active) if context else active
    return str(((chosen or {}).get("context") or {}).get("namespace") or "default")


def pass_target(command: Any) -> Any:
    """Hand the command its Target, made only now: a usage error or --help needs no cluster."""

    @functools.wraps(command)
    def with_target(*args: Any, **kwargs: Any) -> Any:
        options = click.get_current_context().find_root().params
        target = _target(options["kubeconfig"], options["context"], options["namespace"])
        try:
            return command(target, *args, **kwargs)
        finally:
            target.client.close()

    return with_target


output = click.option(
    "-o", "--output", type=click.Choice(["json", "yaml"]), help="Print as JSON or YAML."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-n", "--namespace", help="The namespace (default: the context's, else default).")
@click.option("--context", help="The kubeconfig context to use.")
@click.option("--kubeconfig", help="Path to the kubeconfig file (default: $KUBECONFIG).")
def cli(namespace: str | None, context: str | None, kubeconfig: str | None) -> None:
    """Re-run ReactiveJobs, wait for their runs, and read their history and status."""


@cli.command()
@click.argument("name")
@click.option("--token", help="The rerun token (default: the current time).")
@click.option("--wait/--no-wait", "wait_", default=False, help="Wait for the rerun to finish.")
@click.option("--timeout", type=float, default=600, show_default=True, help="Seconds to wait.")
@output
@pass_target
def rerun(  # click passes every parameter by name
    target: Target, *, name: str, token: str | None, wait_: bool, timeout: float, output: str | None
) -> int:
    """Run NAME again for its current template (sets the batch.cs.sap.com/rerun token)."""
    token = token or datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H.%M.%S.%fZ")
    patch = {"metadata": {"annotations": {ANNOTATION_RERUN: token}}}
    target.client.patch(name, target.namespace, patch)
    if not wait_:
        click.echo(f"reactivejob.batch.cs.sap.com/{name} rerun requested (token {token})")
        return Exit.OK
    return _wait(target, name, token, timeout, output)


@cli.command()
@click.argument("name")
@click.option("--for-run", "for_run", help="Wait for the run of this rerun token.")
@click.option("--timeout", type=float, default=600, show_default=True, help="Seconds to wait.")
@output
@pass_target
def wait(target: Target, name: str, for_run: str | None, timeout: float, output: str | None) -> int:
    """Wait until NAME's current run finishes: exit 0 succeeded, 1 failed, 2 timed out."""
    return _wait(target, name, for_run, timeout, output)


def _wait(
    target: Target, name: str, for_run: str | None, timeout: float, output: str | None
) -> int:
    console = Console(stderr=True)
    with (
        console.status(f"waiting for {name}", spinner="dots")
        if console.is_terminal
        else _quiet() as spinner
    ):

        def progress(obj: ReactiveJob) -> None:
            if spinner is not None:
                spinner.update(f"{name}: {_progress(_plain(obj))}")

        try:
            done = target.client.wait(
                name, target.namespace, for_run=for_run, timeout=timeout, on_change=progress
            )
        except RunFailed as failed:
            _print_result(
                failed.run.object,
                output,
                f"failed: job {failed.job_name}: {failed.reason}: {failed.message}",
                name,
            )
            return Exit.RUN_FAILED
        except RunTimeout as late:
            click.echo(f"error: {late}", err=True)
            return Exit.TIMEOUT
    job = done.status.current_job_name if done.status else None
    _print_result(_plain(done), output, f"succeeded: job {job}", name)
    return Exit.OK


def _plain(obj: ReactiveJob) -> dict[str, Any]:
    """The object as the server sent it (a model keeps every field it was given)."""
    plain: dict[str, Any] = obj.model_dump(by_alias=True, exclude_unset=True, mode="json")
    return plain


class _quiet:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


def _progress(obj: Mapping[str, Any]) -> str:
    status = obj.get("status") or {}
    ready = ready_condition(status)
    job = status.get("currentJobName") or "no job yet"
    why = f"{ready.get('reason', '')} {ready.get('message', '')}".strip()
    return f"{status.get('state', 'New')} ({job}: {why})"


def _print_result(obj: Mapping[str, Any], output: str | None, line: str, name: str) -> None:
    if output:
        _dump(obj, output)
    else:
        click.echo(f"reactivejob.batch.cs.sap.com/{name} {line}")


@cli.command()
@click.argument("name")
@output
@pass_target
def history(target: Target, name: str, output: str | None) -> int:
    """The last runs of NAME, newest first (status.history: it outlives the Jobs)."""
    runs = (target.client.get_json(name, target.namespace).get("status") or {}).get("history") or []
    if output:
        _dump(runs, output)
        return Exit.OK
    rows = [
        [r.get("jobName", ""), str(r.get("generation", "")), _cause(r), r.get("result", ""),
         r.get("startTime") or "-", r.get("completionTime") or "-"]
        for r in runs
    ]  # fmt: skip
    _table(["JOB", "GENERATION", "CAUSE", "RESULT", "STARTED", "FINISHED"], rows)
    return Exit.OK


@cli.command()
@click.argument("name")
@output
@pass_target
def status(target: Target, name: str, output: str | None) -> int:
    """NAME's state, current Job, and why."""
    obj = target.client.get_json(name, target.namespace)
    found = obj.get("status") or {}
    if output:
        _dump(found, output)
        return Exit.OK
    meta = obj["metadata"]
    conditions = {c["type"] for c in found.get("conditions") or []}
    ready = ready_condition(found)
    why = f"{ready.get('reason', '')}: {ready.get('message', '')}"
    observed = found.get("observedGeneration", "-")
    lines = [
        ("Name", meta["name"]), ("Namespace", meta["namespace"]),
        ("State", found.get("state", "New")), ("Job", found.get("currentJobName", "-")),
        ("Ready", f"{ready.get('status', 'Unknown')} ({why})"),
        ("Generation", f"{meta.get('generation')} (observed {observed})"),
        ("Suspended", "yes" if "Suspended" in conditions else "no"),
        ("Last rerun", found.get("lastHandledRerun", "-")),
    ]  # fmt: skip
    for label, value in lines:
        click.echo(f"{label + ':':<12}{value}")
    return Exit.OK


@cli.command()
@click.argument("name")
@click.option("--run", "job", help="The Job of a past run (see `history`); default: the current.")
@click.option("-f", "--follow", is_flag=True, help="Follow the log of the run's newest Pod.")
@click.option("--previous", is_flag=True, help="The log of each container's previous instance.")
@pass_target
def logs(target: Target, name: str, job: str | None, follow: bool, previous: bool) -> int:
    """The logs of NAME's current run (or of --run JOB), every Pod's, through the API server.
    They last as long as the Pods: the Job's TTL and the history limits remove them."""
    status = target.client.get_json(name, target.namespace).get("status") or {}
    run = run_of(status, job)
    if run is None:
        asked = f"no run with job {job}" if job else "no run yet"
        click.echo(f"error: reactivejob {name} has {asked}", err=True)
        return Exit.NOT_FOUND
    reader, code = RunLogs(target.client.connection), Exit.OK
    try:
        pods = reader.pods_of(target.namespace, run)
        if follow:
            pods = pods[-1:]  # kubectl logs job/... -f follows one Pod too
        if not pods:
            click.echo(f"error: job {run} has no pods (they go with the job)", err=True)
            return Exit.NOT_FOUND
        prefix = prefixed(pods)
        for pod in pods:
            pod_name = pod["metadata"]["name"]
            for container in containers_of(pod):
                label = f"[pod/{pod_name}/{container}] " if prefix else ""
                try:
                    for line in reader.lines(target.namespace, pod_name, container,
                                             follow=follow, previous=previous):  # fmt: skip
                        click.echo(f"{label}{line}")
                except ApiError as error:  # not started yet, or no previous instance
                    click.echo(f"error: {pod_name}/{container}: {error.message}", err=True)
                    code = Exit.API_ERROR
    finally:
        reader.close()
    return code


def _cause(run: Mapping[str, Any]) -> str:
    token = run.get("rerun")
    return f"{run.get('cause', '')} ({token})" if token else str(run.get("cause", ""))


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """kubectl's plain columns: three spaces apart, no borders, the same piped or not."""
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=False)]
    for row in (header, *rows):
        click.echo("   ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _dump(value: Any, output: str) -> None:
    if output == "json":
        click.echo(json.dumps(value, indent=2, ensure_ascii=False))
    else:
        click.echo(yaml.safe_dump(value, sort_keys=False, allow_unicode=True), nl=False)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = cli.main(args=argv, prog_name="kubectl-reactivejob", standalone_mode=False)
    except click.UsageError as error:
        error.show()
        return Exit.USAGE
    except click.exceptions.Exit as done:  # --help
        return int(done.exit_code)
    except click.Abort:
        return 130
    except NotFound as missing:
        click.echo(f"Error from server (NotFound): {missing.message}", err=True)
        return Exit.NOT_FOUND
    except (ApiError, OSError, ConfigError) as error:
        click.echo(f"error: {error}", err=True)
        return Exit.API_ERROR
    return int(code) if isinstance(code, int) else Exit.OK


if __name__ == "__main__":
    sys.exit(main())

"""What a Dockerfile says about its image, and the same facts read back from an OCI archive.

The operator image is built here from the facts of the repository's Dockerfile (its final
stage: ENV, USER, WORKDIR, ENTRYPOINT, CMD, EXPOSE, LABEL and what ``pip install`` asks for),
so the two descriptions cannot drift apart; ``image_facts`` reads the same facts out of an
archive so that tests can compare what was built with what the Dockerfile describes.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .oci import ImageConfig, image_config, layer_names

# What Docker and containerd give a process whose image sets no PATH; the Dockerfile's
# `PATH=/opt/venv/bin:$PATH` is expanded against it (our base sets none).
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class ImageFacts:
    """What a Dockerfile and an image archive can both be asked, to compare them.

    ``distributions`` maps normalized distribution names to versions. A Dockerfile only names
    what its ``pip install`` asks for (versions ""): what it gets is whatever the wheels
    ``pip wheel`` built hold. An archive lists every ``*.dist-info`` in its venv.
    """

    user: str
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    env: Mapping[str, str]
    working_dir: str
    exposed_ports: frozenset[str]
    labels: Mapping[str, str]
    distributions: Mapping[str, str]


def image_facts(archive: Path) -> ImageFacts:
    """The runtime settings of the image in ``archive`` and the distributions in its venv."""
    runtime: dict[str, Any] = image_config(archive).get("config") or {}
    env = dict(item.split("=", 1) for item in runtime.get("Env") or [])
    venv = env.get("VIRTUAL_ENV", "/opt/venv")
    return ImageFacts(
        user=runtime.get("User", ""),
        entrypoint=tuple(runtime.get("Entrypoint") or ()),
        cmd=tuple(runtime.get("Cmd") or ()),
        env=env,
        working_dir=runtime.get("WorkingDir", ""),
        exposed_ports=frozenset(runtime.get("ExposedPorts") or {}),
        labels=dict(runtime.get("Labels") or {}),
        distributions=_venv_distributions(layer_names(archive), venv),
    )


def _venv_distributions(names: Iterable[str], venv: str) -> dict[str, str]:
    site = re.escape(venv.strip("/")) + r"/lib/python[^/]+/site-packages/"
    pattern = re.compile(rf"^(?:\./)?{site}([^/]+)-([^/-]+)\.dist-info/?$")
    found: dict[str, str] = {}
    for name in names:
        match = pattern.match(name)
        if match:
            found[normalize(match.group(1))] = match.group(2)
    return found


def normalize(distribution: str) -> str:
    """A distribution name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


def dockerfile_facts(dockerfile: Path, *, base_env: Mapping[str, str] | None = None) -> ImageFacts:
    """The final stage's runtime settings and the distributions its ``pip install`` asks for.

    ``base_env`` stands for the base image's environment, which ``$VAR`` in ENV expands
    against (default: only Docker's default PATH, which is what our Debian base has).
    """
    env: dict[str, str] = dict(base_env if base_env is not None else {"PATH": DEFAULT_PATH})
    user, working_dir = "", ""
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    ports: set[str] = set()
    labels: dict[str, str] = {}
    wanted: dict[str, str] = {}
    for keyword, arguments in _final_stage(_instructions(dockerfile.read_text())):
        if keyword == "ENV":
            env.update(_pairs(arguments, env))
        elif keyword == "LABEL":
            labels.update(_pairs(arguments, env))
        elif keyword == "USER":
            user = _expand(arguments, env)
        elif keyword == "WORKDIR":
            working_dir = str(Path(working_dir or "/", _expand(arguments, env)))
        elif keyword == "ENTRYPOINT":
            entrypoint = _exec_form(arguments)
        elif keyword == "CMD":
            cmd = _exec_form(arguments)
        elif keyword == "EXPOSE":
            ports.update(_port(token) for token in shlex.split(_expand(arguments, env)))
        elif keyword == "RUN":
            for argv in _pip_commands(arguments, "install"):
                wanted.update({_requirement_name(arg): "" for arg in _positionals(argv)})
    return ImageFacts(
        user=user,
        entrypoint=entrypoint,
        cmd=cmd,
        env=env,
        working_dir=working_dir,
        exposed_ports=frozenset(ports),
        labels=labels,
        distributions=wanted,
    )


def dockerfile_wheel_sources(dockerfile: Path) -> tuple[str, ...]:
    """What the Dockerfile's ``pip wheel`` builds wheels of ("." for the build context)."""
    sources: list[str] = []
    for keyword, arguments in _instructions(dockerfile.read_text()):
        if keyword == "RUN":
            for argv in _pip_commands(arguments, "wheel"):
                sources.extend(_positionals(argv))
    return tuple(sources)


def _instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):  # Docker drops these even inside a continuation
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    if pending:
        keyword, _, arguments = pending.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def _final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    starts = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    if not starts:
        raise ValueError("the Dockerfile has no FROM")
    return instructions[starts[-1] + 1 :]


def _expand(value: str, env: Mapping[str, str]) -> str:
    # $VAR and ${VAR} only: the forms with defaults are not used here, and an unknown
    # variable is empty, as in Docker.
    return re.sub(r"\$(?:\{(\w+)\}|(\w+))", lambda m: env.get(m[1] or m[2], ""), value)


def _pairs(arguments: str, env: Mapping[str, str]) -> dict[str, str]:
    """KEY=value pairs of ENV or LABEL; values see the env as it was before the instruction."""
    tokens = shlex.split(arguments)
    if tokens and "=" not in tokens[0]:  # the old `ENV KEY value with spaces` form
        key, _, value = arguments.partition(" ")
        return {key: _expand(value.strip(), env)}
    pairs = (token.partition("=") for token in tokens)
    return {key: _expand(value, env) for key, _, value in pairs}


def _exec_form(arguments: str) -> tuple[str, ...]:
    if arguments.startswith("["):
        return tuple(json.loads(arguments))
    return ("/bin/sh", "-c", arguments)


def _port(token: str) -> str:
    number, _, protocol = token.partition("/")
    return f"{number}/{(protocol or 'tcp').lower()}"


# pip options that take a value as the next word; the rest are flags.
_PIP_VALUE_OPTIONS = frozenset({
    "--python", "--wheel-dir", "-w", "--find-links", "-f", "--index-url", "-i",
    "--extra-index-url", "--target", "-t", "--root", "--prefix", "--root-user-action",
    "--requirement", "-r", "--constraint", "-c", "--platform", "--python-version",
    "--implementation", "--abi", "--cache-dir", "--log", "--timeout", "--retries", "--proxy",
    "--trusted-host", "--cert", "--client-cert", "--exists-action", "--config-settings", "-C",
    "--no-binary", "--only-binary", "--progress-bar", "--upgrade-strategy", "--src", "--report",
    "--editable", "-e",
})  # fmt: skip
_SHELL_SEPARATORS = frozenset({"&&", "||", ";", "|", "&"})


def _pip_commands(run: str, subcommand: str) -> Iterator[list[str]]:
    """The arguments after ``pip SUBCOMMAND`` of each such command in a RUN line."""
    for command in _shell_commands(run):
        arguments = _pip_arguments(command)
        if arguments and arguments[0] == subcommand:
            yield arguments[1:]


def _shell_commands(run: str) -> Iterator[list[str]]:
    """The words of each simple command in a RUN line (RUN's own --flags dropped)."""
    lexer = shlex.shlex(run, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words = list(lexer)
    while words and words[0].startswith("--"):  # --mount=..., --network=...
        words.pop(0)
    command: list[str] = []
    for word in [*words, ";"]:
        if word not in _SHELL_SEPARATORS:
            command.append(word)
        elif command:
            yield command
            command = []


def _pip_arguments(command: list[str]) -> list[str] | None:
    """``command`` after pip and its global options, or None when it does not run pip."""
    if command and re.fullmatch(r"(.*/)?pip[\d.]*", command[0]):
        rest = command[1:]
    elif _runs_module(command, "pip"):
        rest = command[3:]
    else:
        return None
    while rest and rest[0].startswith("-"):
        option = rest.pop(0)
        if option in _PIP_VALUE_OPTIONS and rest:
            rest.pop(0)
    return rest


def _runs_module(command: list[str], module: str) -> bool:
    return (
        bool(command)
        and bool(re.fullmatch(r"(.*/)?python[\d.]*", command[0]))
        and (command[1:3] == ["-m", module])
    )


def _positionals(arguments: list[str]) -> list[str]:
    positionals: list[str] = []
    skip = False
    for word in arguments:
        if skip:
            skip = False
        elif word.startswith("-"):
            skip = word in _PIP_VALUE_OPTIONS
        elif word in (">", ">>", "<", "2>"):
            break  # a redirection: nothing after it is pip's
        else:
            positionals.append(word)
    return positionals


def _requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    if match is None:
        raise ValueError(f"cannot read a distribution name from {requirement!r}")
    return normalize(match.group(0))


def unmodelled_steps(dockerfile: Path) -> list[str]:
    """Final-stage steps that ``dockerfile_facts`` does not describe: COPY and ADD, and RUN
    commands other than making a venv, ``pip install`` and trying the entrypoint. Whoever
    rebuilds the image from the facts must refuse a Dockerfile that has any."""
    entrypoint = list(dockerfile_facts(dockerfile).entrypoint)
    steps: list[str] = []
    for keyword, arguments in _final_stage(_instructions(dockerfile.read_text())):
        if keyword in ("COPY", "ADD"):
            steps.append(f"{keyword} {arguments}")
        elif keyword == "RUN":
            for command in _shell_commands(arguments):
                modelled = (
                    _runs_module(command, "venv")
                    or (_pip_arguments(command) or [""])[0] == "install"
                    or (bool(entrypoint) and command[: len(entrypoint)] == entrypoint)
                )
                if not modelled:
                    steps.append(f"RUN {shlex.join(command)}")
    return steps


def config_from_facts(facts: ImageFacts) -> ImageConfig:
    return ImageConfig(
        entrypoint=facts.entrypoint,
        cmd=facts.cmd,
        env=dict(facts.env),
        user=facts.user,
        working_dir=facts.working_dir,
        exposed_ports=tuple(sorted(facts.exposed_ports)),
        labels=dict(facts.labels),
    )

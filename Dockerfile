# syntax=docker/dockerfile:1
#
# Image of the Python reactivejob-operator.
#   docker build -t registry.example.com/reactivejob-operator:0.1.0 .   (then push it; the
#   chart's image.repository has no default until an image is published)
# The Helm chart (chart/reactivejob-operator) runs it as
#   reactivejob-operator run --all-namespaces|--namespace NS ... (see templates/deployment.yaml)
#
# One pinned base for both stages, so the venv built against its Python runs unchanged.
# Pin a digest too for reproducible builds: python:3.11.15-slim-bookworm@sha256:<digest>.
ARG PYTHON_IMAGE=python:3.11.15-slim-bookworm

# ---- builder: wheels of the project and of every dependency ----------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /src
# Only what the wheel is built from (pyproject.toml: hatchling, packages reactivejob,
# generated/reactivejob_api and typedkube; README.md is the package's readme). Nothing of the
# testbed (control plane, stand-in kubelet, demo): it is a distribution of its own.
# Copying the metadata first does not help caching here: `pip wheel .` needs the sources anyway.
COPY pyproject.toml README.md ./
COPY reactivejob/ reactivejob/
COPY generated/ generated/
COPY typedkube/ typedkube/
COPY reactivejob_cli/ reactivejob_cli/
RUN pip wheel --wheel-dir /wheels .

# ---- runtime -------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}

LABEL org.opencontainers.image.title="reactivejob-operator" \
      org.opencontainers.image.description="Re-runs a Kubernetes Job whenever a ReactiveJob's template changes" \
      org.opencontainers.image.licenses="Apache-2.0"

# PYTHONUNBUFFERED: logs reach `kubectl logs` at once. PYTHONDONTWRITEBYTECODE: no .pyc writes
# on the read-only root filesystem (pip compiles the bytecode at install time instead).
# HOME: the numeric user has no home directory; /tmp is the pod's writable emptyDir.
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp

# A venv without pip (the base image's pip installs into it) and only wheels from the builder:
# no network, no compilers, nothing but what the operator imports. The wheels are bind-mounted,
# so they never become a layer of this image.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python -m venv --without-pip /opt/venv \
 && pip --python /opt/venv/bin/python install --no-index --no-cache-dir \
        --disable-pip-version-check --root-user-action=ignore \
        --find-links /wheels reactivejob-operator \
 && reactivejob-operator --help > /dev/null

# Numeric, so that Kubernetes can verify runAsNonRoot without a passwd entry.
USER 65532:65532

# metrics, health probes, admission webhook (documentation only; the chart sets the ports)
EXPOSE 8080 8081 9443

# Exec form: the operator is PID 1 and gets SIGTERM directly; no shell is involved.
ENTRYPOINT ["reactivejob-operator"]
CMD ["run", "--all-namespaces"]

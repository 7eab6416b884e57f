#!/usr/bin/env bash
# Generate the reference CRD for ReactiveJob the way the Go operator does
# (controller-gen over Go API types), using the versions pinned in go.mod.
#
# Usage: generate.sh OUTPUT_DIR
# Writes OUTPUT_DIR/batch.cs.sap.com_reactivejobs.yaml.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if ! command -v go >/dev/null 2>&1; then
    echo "generate.sh: 'go' not found in PATH. Go (see the go line in $here/go.mod) is needed to build and run controller-gen." >&2
    exit 1
fi
if [ $# -ne 1 ]; then
    echo "usage: $0 OUTPUT_DIR" >&2
    exit 2
fi
mkdir -p "$1"
out="$(cd "$1" && pwd)"

cd "$here"
# The tool directive in go.mod is the single source of the controller-gen version.
version="$(go list -m -f '{{.Version}}' sigs.k8s.io/controller-tools)"
cache="${REACTIVEJOB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/reactivejob-operator}"
bin="$cache/bin/controller-gen-$version/controller-gen"

if [ ! -x "$bin" ]; then
    echo "generate.sh: building controller-gen $version into $bin" >&2
    mkdir -p "$(dirname "$bin")"
    # Built inside this module, so the binary would report "(devel)" and that
    # would land in the CRD's controller-gen.kubebuilder.io/version annotation;
    # stamp the real version as upstream release builds do.
    # Build to a temporary name first so an interrupted build never leaves a
    # binary that the check above would trust.
    go build -o "$bin.tmp" \
        -ldflags "-X sigs.k8s.io/controller-tools/pkg/version.version=$version" \
        sigs.k8s.io/controller-tools/cmd/controller-gen
    mv "$bin.tmp" "$bin"
fi

# Same generator options as the Go operator's Makefile ("manifests" target).
# controller-gen runs `go list` itself, so it must run from this module.
"$bin" crd:generateEmbeddedObjectMeta=true paths=./api/... output:crd:artifacts:config="$out"

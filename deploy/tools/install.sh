#!/usr/bin/env bash
# Offline validation tools for deploy/helm (test/unit/helm-chart.test.ts): Helm built from its
# Go module into .tools/bin, and kubernetes-validate (Kubernetes JSON schemas bundled, no
# network at validation time) in a virtualenv under .tools. Each step is skipped when the
# pinned version is already there; Go's module and build caches stay in their default places.
set -euo pipefail
cd "$(dirname "$0")/../.."

HELM_MODULE=helm.sh/helm/v3
HELM_VERSION=v3.22.0
KUBERNETES_VALIDATE_VERSION=1.37.0

bin_dir="$PWD/.tools/bin"
venv_dir="$PWD/.tools/k8s-validate"

if [ -x "$bin_dir/helm" ] && go version -m "$bin_dir/helm" 2>/dev/null | grep -Eq "^[[:space:]]*mod[[:space:]]+$HELM_MODULE[[:space:]]+$HELM_VERSION([[:space:]]|$)"; then
  echo "helm $HELM_VERSION: present ($bin_dir/helm)"
else
  command -v go >/dev/null || { echo "error: Go is required to build helm (https://go.dev/dl/)" >&2; exit 1; }
  echo "helm $HELM_VERSION: building with go install (a few minutes cold)…"
  started=$(date +%s)
  mkdir -p "$bin_dir"
  CGO_ENABLED=0 GOBIN="$bin_dir" go install -trimpath "$HELM_MODULE/cmd/helm@$HELM_VERSION"
  echo "helm $HELM_VERSION: built in $(( $(date +%s) - started ))s"
fi

installed_validate=$("$venv_dir/bin/python" -c 'import importlib.metadata as m; print(m.version("kubernetes-validate"))' 2>/dev/null || true)
if [ "$installed_validate" = "$KUBERNETES_VALIDATE_VERSION" ]; then
  echo "kubernetes-validate $KUBERNETES_VALIDATE_VERSION: present ($venv_dir)"
else
  command -v python3 >/dev/null || { echo "error: python3 (with venv) is required for kubernetes-validate" >&2; exit 1; }
  echo "kubernetes-validate $KUBERNETES_VALIDATE_VERSION: installing into $venv_dir…"
  started=$(date +%s)
  rm -rf "$venv_dir"
  python3 -m venv "$venv_dir"
  "$venv_dir/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
  echo "kubernetes-validate $KUBERNETES_VALIDATE_VERSION: installed in $(( $(date +%s) - started ))s"
fi

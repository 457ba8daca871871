#!/usr/bin/env bash
# A pinned MLflow tracking server for the tracking tests (test/integration/mlflow-tracking.test.ts,
# test/helpers/mlflow-server.ts): `mlflow` from PyPI in a virtualenv under .tools/mlflow, skipped
# when that version is already there, so every CI step and a developer's later runs reuse it.
set -euo pipefail
cd "$(dirname "$0")/../.."

MLFLOW_VERSION=3.18.0

venv_dir="$PWD/.tools/mlflow"

installed=$("$venv_dir/bin/python" -c 'import importlib.metadata as m; print(m.version("mlflow"))' 2>/dev/null || true)
# The console script must also start: a venv's scripts name its interpreter by absolute path, so a
# moved or copied .tools folder has the right version but a dead `mlflow` (reinstalled then).
if [ "$installed" = "$MLFLOW_VERSION" ] && "$venv_dir/bin/mlflow" --version >/dev/null 2>&1; then
  echo "mlflow $MLFLOW_VERSION: present ($venv_dir)"
  exit 0
fi
command -v python3 >/dev/null || { echo "error: python3 (with venv) is required for the MLflow tracking tests" >&2; exit 1; }
echo "mlflow $MLFLOW_VERSION: installing into $venv_dir (about a minute)…"
started=$(date +%s)
rm -rf "$venv_dir"
python3 -m venv "$venv_dir"
"$venv_dir/bin/pip" install --quiet --disable-pip-version-check "mlflow==$MLFLOW_VERSION"
echo "mlflow $MLFLOW_VERSION: installed in $(( $(date +%s) - started ))s"

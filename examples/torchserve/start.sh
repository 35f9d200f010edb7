#!/usr/bin/env bash
# The TorchServe stack's one Procfile line: the model archive built when missing or older than
# its handler or ONNX file, config.properties rendered from the environment, then TorchServe in
# the foreground until it is stopped (the harness stops the whole process group).
#
#   API_PORT=8000 REPLICAS=2 examples/torchserve/start.sh
#
# Needs examples/torchserve/setup.sh first. TS_VENV: its virtualenv; TS_STATE_DIR: where the
# archive, the rendered configuration and TorchServe's logs go (default examples/torchserve/.state).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
VENV=${TS_VENV:-$HERE/.venv}
STATE=${TS_STATE_DIR:-$HERE/.state}
MODEL=efficientnet-lite0
: "${API_PORT:?set API_PORT, the port TorchServe answers inferences on}"

if [ ! -x "$VENV/bin/torchserve" ]; then
    echo "start.sh: no TorchServe in $VENV: run examples/torchserve/setup.sh first" >&2
    exit 1
fi
# TorchServe starts its Python workers with the interpreter that started it (this virtualenv's);
# they import the model's code (examples.model) from the repository.
export PATH="$VENV/bin:$PATH"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"

# One folder per instance: TorchServe's launcher refuses to start while the pid file in its
# TMPDIR names a running TorchServe, and the frontend keeps its worker sockets in java.io.tmpdir.
instance="$STATE/$API_PORT"
export TS_MODEL_STORE="$STATE/model-store" TS_TMPDIR="$instance/tmp" TMPDIR="$instance/tmp"
export LOG_LOCATION="$instance/logs" METRICS_LOCATION="$instance/logs"
mkdir -p "$TS_MODEL_STORE" "$TS_TMPDIR" "$LOG_LOCATION"

# The ONNX file every stack serves (exported into the cache when missing, as a worker would).
onnx=$(python -c 'from examples.model import onnx_file; print(onnx_file())')
mar="$TS_MODEL_STORE/$MODEL.mar"
if [ ! -f "$mar" ] || [ "$HERE/handler.py" -nt "$mar" ] || [ "$onnx" -nt "$mar" ]; then
    echo "start.sh: archiving $MODEL into $mar"
    building=$(mktemp -d "$TS_MODEL_STORE/.building.XXXXXX")
    torch-model-archiver --model-name "$MODEL" --version 1.0 --serialized-file "$onnx" \
        --handler "$HERE/handler.py" --export-path "$building"
    mv -f "$building/$MODEL.mar" "$mar"  # a rename: a concurrent start sees a whole archive
    rmdir "$building"
fi

python - "$HERE/config.properties" "$instance/config.properties" <<'PYTHON'
"""Substitute ${VAR} and ${VAR:-default} (not in comments); an unset port gets a free one."""
import os
import re
import socket
import sys

template, rendered = sys.argv[1:]
for name in ("TS_MANAGEMENT_PORT", "TS_GRPC_INFERENCE_PORT", "TS_GRPC_MANAGEMENT_PORT"):
    if not os.environ.get(name):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            os.environ[name] = str(probe.getsockname()[1])


def value(match: re.Match) -> str:
    name, default = match.group(1), match.group(2)
    if name in os.environ:
        return os.environ[name]
    if default is None:
        sys.exit(f"start.sh: {template} uses ${{{name}}}, which is not set")
    return default


variable = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
with open(template) as source, open(rendered, "w") as target:
    for line in source:
        target.write(line if line.startswith("#") else variable.sub(value, line))
PYTHON

# --ncs: no configuration snapshots (TorchServe would restore an earlier run's models from them).
exec torchserve --foreground --ncs --ts-config "$instance/config.properties"

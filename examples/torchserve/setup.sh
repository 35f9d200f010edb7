#!/usr/bin/env bash
# TorchServe's prerequisites: Java (installed with apt-get when missing, as root) and a virtualenv
# of its own (TS_VENV, default examples/torchserve/.venv) holding TorchServe, its model archiver
# and this project's model packages at the project's pins. Run again at will: it only adds what
# is missing.
#
#   examples/torchserve/setup.sh
#
# torch comes from wherever pip finds it: set PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
# where no local CPU wheel is configured (docs/stack.md, "Building without a registry"), as for make setup.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
VENV=${TS_VENV:-$HERE/.venv}
PYTHON=${PYTHON:-python3}
JAVA_MIN=11

java_major() {
    java -version 2>&1 | sed -n 's/.*version "\([0-9]*\)[."].*/\1/p' | head -n 1
}

if ! command -v java >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup.sh: TorchServe needs Java $JAVA_MIN or later; run this as root to install" \
            "Debian's default-jre-headless, or install a JRE yourself" >&2
        exit 1
    fi
    echo "setup.sh: installing Java (default-jre-headless)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        default-jre-headless >/dev/null
fi
major=$(java_major)
if [ -z "$major" ] || [ "$major" -lt "$JAVA_MIN" ]; then
    echo "setup.sh: TorchServe needs Java $JAVA_MIN or later; \`java -version\` says:" >&2
    java -version >&2
    exit 1
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup.sh: creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
echo "setup.sh: installing TorchServe into $VENV"
# The project itself, editable, for the model's code (services, examples.model) and its pins.
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    -c "$REPO/requirements.lock" -r "$HERE/requirements.txt" -e "$REPO[model,cpu]"
echo "setup.sh: ready (Java $major, $("$VENV/bin/python" -m pip show torchserve | sed -n 's/^Version: /TorchServe /p'))"

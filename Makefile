# The verbs a person types. Each recipe is one call into nox or invoke; `make help` lists them.
VENV := .venv
NOX := $(VENV)/bin/nox
INV := $(VENV)/bin/inv
# Every install takes the versions requirements.lock pins (`make lock` remakes it).
LOCK := requirements.lock

.PHONY: help  ## list the targets
help:
	@grep -E '^\.PHONY: [a-z-]+  ## ' $(MAKEFILE_LIST) | sed -E 's/^\.PHONY: ([a-z-]+)  ## /\1\t/' | awk -F'\t' '{ printf "  %-20s %s\n", $$1, $$2 }'

.PHONY: setup  ## the one set-up command: a virtualenv with everything, the model prepared
setup:
	python3 -m venv $(VENV) && $(VENV)/bin/pip install -c $(LOCK) -e ".[dev]" && $(INV) setup

.PHONY: lock  ## resolve every dependency again and pin it in requirements.lock (tools/lock.py)
lock:
	$(VENV)/bin/python -m tools.lock

.PHONY: bench  ## the main job: sweep the matrix on its default target (local backend without Docker)
bench:
	$(NOX) -s sweep

.PHONY: bench-cpu  ## sweep the matrix on the cpu target
bench-cpu:
	$(NOX) -s sweep -- --target cpu

.PHONY: bench-gpu  ## check what the GPU needs (inv doctor), then sweep the matrix on the gpu target
bench-gpu:
	$(INV) doctor && $(NOX) -s sweep -- --target gpu

.PHONY: capacity  ## the highest request rate within the SLO at each scale (open-loop search)
capacity:
	$(NOX) -s capacity

.PHONY: tune  ## which configuration to deploy: each of the matrix's tune block, its capacity (docs/tune.md)
tune:
	$(NOX) -s tune

.PHONY: compare  ## compare two sweeps' reports: make compare BASE=reports-before NEW=reports
compare:
	$(INV) compare $(BASE) $(NEW)

.PHONY: index  ## render reports/index.html from the reports there
index:
	$(INV) index

.PHONY: test  ## the test suite, but for the few tests of minutes each (make test-long)
test:
	$(NOX) -s tests -- -m "not long"

.PHONY: test-long  ## the tests of minutes each: capacity from nothing, the grid tune, the two-node swarm
test-long:
	$(NOX) -s tests -- -m long

.PHONY: lint  ## ruff check and format check
lint:
	$(NOX) -s lint

.PHONY: benchmark  ## figures of the stack, the load generator (requests and streams), the instrument's weight, the capacity search, the index page with 1,000 runs
benchmark:
	$(NOX) -s benchmark generator-benchmark stream-benchmark instrument-benchmark search-benchmark index-benchmark

.PHONY: benchmark-rivals  ## ours against LitServe and Ray Serve on the same cores (own virtualenv)
benchmark-rivals:
	$(NOX) -s rivals-benchmark

.PHONY: example-litserve  ## sweep LitServe serving the same model (examples/litserve) into reports-litserve/
example-litserve:
	MATRIX=examples/litserve/matrix.json REPORTS=reports-litserve $(NOX) -s sweep

.PHONY: example-llm  ## sweep LitServe's OpenAISpec streaming a small language model (examples/llm) into reports-llm/
example-llm:
	MATRIX=examples/llm/matrix.json REPORTS=reports-llm $(NOX) -s sweep

.PHONY: example-torchserve  ## Java and TorchServe set up, then its sweep (examples/torchserve) into reports-torchserve/
example-torchserve:
	examples/torchserve/setup.sh && MATRIX=examples/torchserve/matrix.json REPORTS=reports-torchserve $(NOX) -s sweep

.PHONY: images  ## build the stack's Docker images with no registry (root, Docker engine running)
images:
	$(INV) images

.PHONY: clean  ## take any stack down, remove .stack, .nox and caches (reports are kept)
clean:
	$(INV) clean

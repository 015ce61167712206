# flotilla — common tasks. `make help` lists them.
CARGO ?= cargo
FLEET ?= examples/fleet.yaml
OUT ?= out/fleet-gitops

.PHONY: help run test bench lint fmt build release crds

help:                 ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

build:                ## debug build of the flotilla binary
	$(CARGO) build --bin flotilla

run:                  ## bootstrap the bundled example fleet into $(OUT)
	$(CARGO) run --quiet --bin flotilla -- bootstrap --fleet $(FLEET) --out $(OUT)

test:                 ## the whole test suite (what CI runs)
	$(CARGO) test --workspace --no-fail-fast

bench:                ## benchmarks, printing figures (release build)
	$(CARGO) bench --workspace

lint:                 ## formatting and clippy, warnings are errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:                  ## format the code
	$(CARGO) fmt --all

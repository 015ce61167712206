# flotilla — common tasks. `make help` lists them.
CARGO ?= cargo
FLEET ?= examples/fleet.yaml
OUT ?= out/fleet-gitops

.PHONY: help run test bench lint fmt build release crds fuzz

help:                 ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

build:                ## debug build of the flotilla binary
	$(CARGO) build --bin flotilla

run:                  ## bootstrap the bundled example fleet into $(OUT)
	$(CARGO) run --quiet --bin flotilla -- bootstrap --fleet $(FLEET) --out $(OUT)

test:                 ## the whole test suite (what CI runs); the CLI tests run the built binary
	$(CARGO) build --bin flotilla
	$(CARGO) test --workspace --no-fail-fast

bench:                ## benchmarks, printing figures (release build)
	$(CARGO) bench --workspace

lint:                 ## formatting and clippy, warnings are errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:                  ## format the code
	$(CARGO) fmt --all

FUZZ_SECONDS ?= 60

# Each target starts from its seed corpus (fuzz/corpus/<target>, read only:
# new inputs go to a temporary folder) and its dictionary (fuzz/<target>.dict)
# if there is one; crashes are written to fuzz/artifacts/<target>/.
fuzz:                 ## run every fuzz target in fuzz/fuzz_targets for $(FUZZ_SECONDS) s each (needs cargo install cargo-fuzz --locked; not part of make test)
	@cd fuzz && for t in $$(ls fuzz_targets | sed -n 's/\.rs$$//p'); do \
	  work=$$(mktemp -d) || exit 2; \
	  dict=$$([ -f "$$t.dict" ] && echo "-dict=$$PWD/$$t.dict"); \
	  echo "fuzz $$t for $(FUZZ_SECONDS) s"; \
	  RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run --debug-assertions "$$t" "$$work" "$$PWD/corpus/$$t" -- \
	    -max_total_time=$(FUZZ_SECONDS) $$dict; \
	  status=$$?; rm -rf "$$work"; [ $$status -eq 0 ] || exit $$status; \
	done

CRDS ?= ../shared/crds
KOPIUM ?= kopium

# One generated module per CRD: module name, CRD name, version.
CRD_TYPES = \
	flux_source:gitrepositories.source.toolkit.fluxcd.io:v1 \
	flux_kustomize:kustomizations.kustomize.toolkit.fluxcd.io:v1 \
	secrets_store:secretproviderclasses.secrets-store.csi.x-k8s.io:v1 \
	gatekeeper:constrainttemplates.templates.gatekeeper.sh:v1

crds:                 ## regenerate bootstrap/src/crds/*.rs from $(CRDS) with kopium (cargo install kopium --locked)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	for f in $(CRDS)/*.yaml; do \
	  awk -v out="$$tmp/$$(basename $$f .yaml)" '/^---/{n++; next} {print > (out "-" n+0 ".yaml")}' "$$f"; \
	done && \
	for t in $(CRD_TYPES); do \
	  mod=$${t%%:*}; rest=$${t#*:}; crd=$${rest%%:*}; version=$${rest#*:}; \
	  file=$$(grep -l "^  name: $$crd$$" "$$tmp"/*.yaml) && \
	  { printf '// Regenerate with `make crds` (kopium %s, from %s in $(CRDS)).\n' "$$($(KOPIUM) --version | cut -d' ' -f2)" "$$crd"; \
	    $(KOPIUM) --hide-kube --derive Default --api-version "$$version" -f "$$file" | grep -v '^// kopium command:'; \
	  } > bootstrap/src/crds/$$mod.rs || exit 1; \
	done && rustfmt --edition 2024 bootstrap/src/crds/*.rs

IMAGE ?= ghcr.io/flotilla-dev/flotilla
VERSION ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)

.PHONY: image
image:                ## container image $(IMAGE):$(VERSION) from the Dockerfile (needs a docker engine)
	docker build -t $(IMAGE):$(VERSION) .

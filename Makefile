# keel's everyday commands. demo, test and bench need root (see README.md, "Set up").
CARGO ?= cargo
# .cargo/config.toml builds for the host triple (a static keel), so artifacts are under target/<triple>/.
TRIPLE := $(shell $(CARGO) -vV 2>/dev/null | sed -n 's/^host: //p')
ifeq ($(TRIPLE),)
$(error cannot tell the host triple from `$(CARGO) -vV`: is cargo on PATH?)
endif
KEEL := target/$(TRIPLE)/release/keel
PROBE := target/probe/$(TRIPLE)/release/keel-probe
PROBE_MANIFEST := integration/probe/Cargo.toml

.PHONY: build probe demo test test-binaries unit test-clients test-cgroupv2 test-hybrid-bfq lint bench conformance fuzz

# $(KEEL): one static executable
build:
	$(CARGO) build --release

# $(PROBE): the static program the integration tests run in containers
probe:
	integration/probe/build.sh

# Run a busybox container that prints its hostname, ids and mounts, then remove its cgroups.
demo: build
	scripts/mkbundle.sh build/demo-bundle
	@id=keel-demo-$$$$; \
	echo "$(KEEL) run --bundle build/demo-bundle $$id"; \
	$(KEEL) run --bundle build/demo-bundle $$id; rc=$$?; \
	if [ $$rc -ne 0 ]; then $(KEEL) delete --force $$id 2>/dev/null; fi; \
	scripts/rmcgroups.sh /keel-demo; \
	exit $$rc

# Unit and integration tests, the cgroup v2 checks in a VM (with and without BFQ), the cgroups:: tests
# in a hybrid VM with BFQ, the conformance
# suite, the real clients, then lint. keel is built once, in the release profile, and every stage
# uses that build. Each stage's time and every skip (with its reason, from $$KEEL_SKIP_LOG) are
# summed up at the end by scripts/test-summary.sh; a stage that fails stops the run.
STAGES := target/test-stages.tsv
export KEEL_SKIP_LOG := $(CURDIR)/target/test-skips.tsv
test:
	@mkdir -p target && : >$(STAGES) && : >$(KEEL_SKIP_LOG)
	scripts/stage.sh $(STAGES) "build (keel, probe, test binaries)" $(MAKE) build probe test-binaries
	scripts/stage.sh $(STAGES) "unit + integration" $(CARGO) test --release
	scripts/stage.sh $(STAGES) "cgroup v2 guest (without, with BFQ)" $(MAKE) test-cgroupv2
	scripts/stage.sh $(STAGES) "hybrid guest with BFQ (cgroups::)" $(MAKE) test-hybrid-bfq
	scripts/stage.sh $(STAGES) "conformance" $(MAKE) conformance
	scripts/stage.sh $(STAGES) "clients" $(MAKE) test-clients
	scripts/stage.sh $(STAGES) "lint" $(MAKE) lint
	@scripts/test-summary.sh $(STAGES) $(KEEL_SKIP_LOG)

# The release test binaries (unit, integration, conformance), built with keel's own release build.
test-binaries:
	$(CARGO) test --release --no-run
	$(CARGO) test --release --test conformance --no-run

# The tests that need no root: the plan functions' unit tests (debug build, for quick work).
unit:
	$(CARGO) test --lib --bins

# The cgroup checks on a pure cgroup v2 host, whatever this machine's layout: a qemu guest booted
# from Debian's kernel with cgroup_no_v1=all runs integration/cgroupv2/checks.sh and reports on
# its serial console (about 35 s with software emulation); a second boot loads the BFQ scheduler,
# so both io.weight branches run. Needs qemu-system-x86 and linux-image-amd64.
test-cgroupv2: build probe
	integration/cgroupv2/run.sh $(KEEL) $(PROBE)
	BFQ=1 integration/cgroupv2/run.sh $(KEEL) $(PROBE)

# The integration tests' cgroups:: suite on a hybrid layout with the BFQ scheduler loaded, in a
# qemu guest (integration/cgroupv2/run-hybrid.sh, about 2 min): machines of this kind may or may
# not have blkio weight files, and this host's kernel has no bfq module, so the "present" branch
# of those tests runs there.
test-hybrid-bfq: build probe
	bin=$$($(CARGO) test --release --test integration --no-run --message-format=json | scripts/test-binary.py integration) && \
	integration/cgroupv2/run-hybrid.sh "$$bin" $(KEEL) $(PROBE)

# The OCI runtime-spec requirement by requirement (conformance/requirements.tsv) against keel (release
# build, as everything else) and runc; prints `requirement | keel | runc | note` and fails when keel fails one that
# conformance/known-gaps.tsv does not list. Uses $$KEEL_PROBE if set, else builds the probe.
# `make test` runs it (the [[test]] has test = false, so `cargo test` does not). Select: CONFORMANCE_ARGS="RT-START hooks".
conformance:
	@if [ -z "$(KEEL_PROBE)" ]; then $(MAKE) probe; fi
	$(CARGO) test --release --test conformance -- $(CONFORMANCE_ARGS)

# containerd + ctr, podman and dockerd driving keel, each isolated in a temp dir; every step
# checked, nothing left behind (clients/run.sh; KEEP=1 keeps the logs). Needs the packages of .ci/run.
test-clients: build
	KEEL=$(KEEL) clients/run.sh

# keel must build for musl too (no glibc-only types or constants): `rustup target add
# x86_64-unknown-linux-musl`, which .ci/run does. No two modules of src/ may import each other.
lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --test conformance -- -D warnings
	$(CARGO) check --all-targets --target x86_64-unknown-linux-musl
	scripts/import-cycles.py src
ifneq ($(wildcard $(PROBE_MANIFEST)),)
	$(CARGO) fmt --check --manifest-path $(PROBE_MANIFEST)
	$(CARGO) clippy --manifest-path $(PROBE_MANIFEST) --target-dir target/probe-lint --all-targets -- -D warnings
endif

# keel against runc, crun and an unshare floor; writes build/bench.json. BENCH_N=30 by default.
bench: build
	KEEL=$(KEEL) python3 scripts/bench.py

# Fuzz config.json loading and validation for FUZZ_SECONDS (default 60) with cargo-fuzz (nightly
# toolchain; `cargo install cargo-fuzz`). A crash or a panic fails the target.
FUZZ_SECONDS ?= 60
fuzz:
	cd fuzz && $(CARGO) +nightly fuzz run config corpus/config -- -max_total_time=$(FUZZ_SECONDS)

#!/bin/sh
# Build the static probe into <repo>/target/probe/release/keel-probe.
set -eu
cd "$(dirname "$0")/../.."
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --manifest-path integration/probe/Cargo.toml --target-dir target/probe

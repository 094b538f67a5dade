//! keel's integration tests: each test builds a bundle from runc's default spec plus a one-line
//! patch, runs it under the runtime under test (`KEEL_RUNTIME`, default: the keel binary) and
//! observes the result from inside the container with the static probe (integration/probe/).
//! Where runc supports the feature the same bundle is also run under runc and compared.
//!
//!   integration/probe/build.sh                      # build the probe first
//!   cargo test --test integration                    # against keel
//!   KEEL_RUNTIME=/usr/bin/runc cargo test --test integration -- --test-threads=2

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

mod harness;

mod cgroups;
mod devices;
mod exec;
mod failures;
mod features;
mod hardening;
mod hooks;
mod lifecycle;
mod mounts;
mod namespaces;
mod process;
mod reliability;
mod seccomp;
mod selftest;
mod tty;

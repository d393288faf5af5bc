#!/usr/bin/env bash
# Packages every publishable crate of the workspace as `cargo publish` would upload it, then runs
# `cargo test` (unit, integration and doc tests) inside each unpacked `.crate` under
# target/package/, against the other crates as they were packaged too.
#
# This is what a user of crates.io builds: a file left out of the package, a test that reaches
# into the repository, or a dependency on an unpublished crate fails here.
#
# Services: the packaged integration tests need the same services as the repository's. With
# the services running, they are found through GREMLIN_URL and CLOUDWATCH_ENDPOINT_URL (the
# Kinesis emulator is embedded); `scripts/test-all.sh` sets both for the tests it runs.
#
# Usage: scripts/package-check.sh [--allow-dirty]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CRATES=(stream2neptune-common stream2neptune-local-services kinesis-source neptune-batch workload-gen metrics-sink kcl-multilang graph-ingest)
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

packages=()
for c in "${CRATES[@]}"; do packages+=(-p "$c"); done

# The packages, as `cargo publish` builds them (`--no-verify`: the tests below build each one,
# and more of it than the verification would).
echo "package-check: cargo package ${CRATES[*]}" >&2
cargo package --no-verify "${packages[@]}" "$@"

# Each crate finds its packaged siblings instead of crates.io, where they are not (yet).
patches=()
for c in "${CRATES[@]}"; do
  patches+=(--config "patch.crates-io.$c.path=\"$ROOT/target/package/$c-$VERSION\"")
done

# Every package is unpacked before any is tested: each test build loads all the patches.
for c in "${CRATES[@]}"; do
  dir="target/package/$c-$VERSION"
  rm -rf "$dir"
  tar -xzf "target/package/$c-$VERSION.crate" -C target/package
  # The workspace's lock file, so the packaged crate is tested with the same versions (cargo
  # drops the entries it does not need).
  cp Cargo.lock "$dir/Cargo.lock"
done

status=0
for c in "${CRATES[@]}"; do
  dir="target/package/$c-$VERSION"
  echo "package-check: cargo test in $dir" >&2
  # The workspace's target folder: dependencies built with the same features are reused.
  if ! (cd "$dir" && CARGO_TARGET_DIR="$ROOT/target" cargo test --no-fail-fast "${patches[@]}"); then
    echo "package-check: FAILED in $dir" >&2
    status=1
  fi
done
exit "$status"

#!/usr/bin/env bash
# Builds the AWS Lambda runtime interface emulator (the Lambda Runtime API implementation AWS
# ships in its base images) into .services/lambda-rie/, for running the `kinesis-lambda`
# bootstrap locally and for `examples/tests/lambda_runtime_api.rs`.
#
#   scripts/lambda-rie.sh install|path|version
#
# The emulator is a Go module, pinned below (the Go module proxy serves this pseudo-version of
# the repository; its release tags are not served). Building it needs Go; it takes about 40 s
# the first time and nothing after that. LAMBDA_RIE=/path/to/aws-lambda-rie makes the tests use
# another copy. Why this emulator and not cargo-lambda's: see deploy/README.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/.services/lambda-rie"
BIN="$STATE/bin/aws-lambda-rie"
MODULE="github.com/aws/aws-lambda-runtime-interface-emulator"
VERSION="v0.0.0-20261030222936-bef5c4ba774d"

say() { echo "lambda-rie: $*" >&2; }

install() {
  if [[ -x "$BIN" && -f "$STATE/.complete-$VERSION" ]]; then return 0; fi
  command -v go >/dev/null || { say "Go is required to build the emulator (https://go.dev/dl/)"; exit 1; }
  say "building $MODULE/cmd/aws-lambda-rie@$VERSION into $STATE/bin"
  mkdir -p "$STATE/bin"
  rm -f "$STATE"/.complete-*
  GOBIN="$STATE/bin" GOFLAGS="-mod=mod" CGO_ENABLED=0 \
    go install "$MODULE/cmd/aws-lambda-rie@$VERSION" >&2
  [[ -x "$BIN" ]] || { say "the build left no $BIN"; exit 1; }
  touch "$STATE/.complete-$VERSION"
  say "ready: $BIN"
}

case "${1:-}" in
  install) install ;;
  path) install; echo "$BIN" ;;
  version) echo "$VERSION" ;;
  *) echo "usage: $0 install|path|version" >&2; exit 2 ;;
esac

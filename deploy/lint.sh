#!/usr/bin/env bash
# Validates the CloudFormation templates under deploy/ with cfn-lint.
#
# cfn-lint is installed once, at a pinned version, into a virtual environment under
# .services/cfn-lint (ignored by git), so every machine and CI run checks with the same rules.
# Usage: bash deploy/lint.sh [template ...]   (default: every deploy/*.yaml)
set -euo pipefail

CFN_LINT_VERSION="1.58.0"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.services/cfn-lint"
python="${PYTHON:-python3}"

if ! "$venv/bin/cfn-lint" --version 2>/dev/null | grep -q "$CFN_LINT_VERSION"; then
    echo "installing cfn-lint $CFN_LINT_VERSION into $venv" >&2
    mkdir -p "$root/.services"
    # A lock keeps two concurrent runs (parallel tests) from building the same venv at once.
    exec 9>"$root/.services/cfn-lint.lock"
    flock 9
    if ! "$venv/bin/cfn-lint" --version 2>/dev/null | grep -q "$CFN_LINT_VERSION"; then
        rm -rf "$venv"
        "$python" -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check \
            --timeout 60 --retries 3 "cfn-lint==$CFN_LINT_VERSION"
    fi
    flock -u 9
fi

if [ "$#" -eq 0 ]; then
    set -- "$root"/deploy/*.yaml
fi
"$venv/bin/cfn-lint" --version
"$venv/bin/cfn-lint" -- "$@"
echo "cfn-lint: $# template(s) passed"

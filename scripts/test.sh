#!/usr/bin/env bash
# Every test from a fresh clone: install, build, then cargo tests, vitest suites (conformance
# included) and the packaging test. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib/pnpm.sh
pnpm install --frozen-lockfile
pnpm run build
pnpm run test

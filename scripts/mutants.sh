#!/usr/bin/env bash
# Mutation testing of the library with cargo-mutants (not part of CI: a full run
# takes hours on 2 cores; run it file by file, or on a diff).
#   bash scripts/mutants.sh                      # every file of src/
#   bash scripts/mutants.sh src/ess/measure.rs   # one or more files
#   bash scripts/mutants.sh --in-diff my.diff    # only code a diff touches
#   bash scripts/mutants.sh --shard 0/8          # every 8th mutant of src/ (round robin):
#                                                # an unbiased sample across modules
#   bash scripts/mutants.sh --in-place --out DIR FILE...
#                                                # mutate this tree itself (use a throwaway
#                                                # worktree: no copy, no fresh baseline
#                                                # build), results in DIR/mutants.out
#   python3 scripts/mutants_summary.py DIR...    # caught / viable per module
# Mutants are built with the `mutants` profile (opt-level 1, no debug info) and
# tested with the unit tests and the integration suite tests/suite (doctests, examples
# and benches are not rebuilt for each mutant). Results land in mutants.out/.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo-mutants >/dev/null 2>&1; then
  cargo install cargo-mutants --version 27.1.0 --locked
fi
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --in-diff) args+=(--in-diff "$2"); shift 2 ;;
    --shard) args+=(--shard "$2" --sharding round-robin --baseline skip); shift 2 ;;
    --in-place) args+=(--in-place --baseline skip); shift ;;
    --out) args+=(--output "$2"); shift 2 ;;
    *) args+=(--file "$1"); shift ;;
  esac
done
exec cargo mutants --package effective-state-size --profile mutants --timeout 120 \
  --exclude 'src/lib.rs' --cargo-arg=--lib --cargo-arg=--test=suite "${args[@]}"

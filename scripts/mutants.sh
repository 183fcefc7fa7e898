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
#   bash scripts/mutants.sh --fast --in-place --out DIR FILE...
#                                                # two stages: every mutant against the suite
#                                                # without its slowest tests (DIR/fast), then
#                                                # the missed and timed-out ones against the
#                                                # whole suite (DIR/full). A mutant caught by
#                                                # part of the suite is caught by all of it.
#   bash scripts/mutants.sh --rerun --in-place --out DIR FILE
#                                                # after new tests: the mutants a --fast run
#                                                # left missed, against the whole suite again
#                                                # (DIR/rerun; --iterate skips the caught ones)
#   bash scripts/mutants.sh --fast --in-place --shuffle --out DIR [--exclude GLOB]...
#                                                # every file in random order: stopped at any
#                                                # time, what was tested is a random sample
#   bash scripts/mutants.sh --re 'in certify' FILE...
#                                                # only the mutants whose name matches the
#                                                # regex (cargo-mutants' --re: file:line:col,
#                                                # the mutation and the function)
#   bash scripts/mutants.sh --timeout 60 ...     # seconds per test run (default 120); a
#                                                # mutant that loops forever costs this twice
#   python3 scripts/mutants_summary.py DIR...    # caught / viable per module (later
#                                                # directories override earlier ones)
# Mutants are built with the `mutants` profile (opt-level 1, no debug info, no
# LTO) and the serde feature, and tested with the unit tests, the integration
# suite tests/suite and tests/serde.rs (doctests, examples and benches are not
# rebuilt for each mutant).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo-mutants >/dev/null 2>&1; then
  cargo install cargo-mutants --version 27.1.0 --locked
fi
# The suite's slowest tests (about 60 % of its time at the mutants profile); the
# fast stage leaves them out, the full stage runs them on what it missed.
slow=(reduction::the_kernel_path_at_a_large_length reduction::kernel_path_certificate_holds_on_hyena
  lowrank::convolutions_take_the_kernel_path reduction::long_convolution_errors_are_measured
  workflows::the_initialization_table structured::results_do_not_depend_on_thread_count)
args=() fast=0 out= skip_baseline=0 timeout=120
while [ $# -gt 0 ]; do
  case "$1" in
    --in-diff) args+=(--in-diff "$2"); shift 2 ;;
    --shard) args+=(--shard "$2" --sharding round-robin); skip_baseline=1; shift 2 ;;
    --in-place) args+=(--in-place); skip_baseline=1; shift ;;
    --out) out=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --exclude) args+=(--exclude "$2"); shift 2 ;;
    --shuffle) args+=(--shuffle); shift ;;
    --re) args+=(--re "$2"); shift 2 ;;
    --fast) fast=1; shift ;;
    --rerun) fast=2; shift ;;
    *) args+=(--file "$1"); shift ;;
  esac
done
# A shard or an in-place run skips the baseline (once: the flag may not repeat).
[ "$skip_baseline" = 1 ] && args+=(--baseline skip)
# The serde feature and its test binary are included, so that the serde
# conversions are mutated and tested too.
run() {
  cargo mutants --package effective-state-size --profile mutants --timeout "$timeout" \
    --exclude 'src/lib.rs' --cargo-arg=--lib --cargo-arg=--test=suite \
    --cargo-arg=--features=serde --cargo-arg=--test=serde "$@"
}
if [ "$fast" = 0 ]; then
  run ${out:+--output "$out"} "${args[@]}"
  exit
fi
: "${out:?--fast and --rerun need --out DIR}"
if [ "$fast" = 2 ]; then
  last=$out/full
  [ -d "$out/rerun/mutants.out" ] && last=$out/rerun
  tmp=$(mktemp -d) && cp -r "$last/mutants.out" "$tmp/" && rm -rf "$out/rerun" && mkdir -p "$out/rerun"
  mv "$tmp/mutants.out" "$out/rerun/" && rmdir "$tmp"
  run --output "$out/rerun" --iterate "${args[@]}"
  exit
fi
skips=()
for t in "${slow[@]}"; do skips+=(--skip "$t"); done
# An interrupted fast stage resumes: --iterate skips what it already caught.
resume=()
if [ -f "$out/fast/mutants.out/caught.txt" ]; then
  resume=(--iterate)
  # cargo-mutants keeps one older run (mutants.out.old): archive the one it drops.
  if [ -f "$out/fast/mutants.out.old/outcomes.json" ]; then
    n=$(ls "$out/fast" | grep -c '^outcomes-' || true)
    cp "$out/fast/mutants.out.old/outcomes.json" "$out/fast/outcomes-$n.json"
  fi
fi
mkdir -p "$out/fast"
run --output "$out/fast" "${resume[@]}" "${args[@]}" -- -- "${skips[@]}" || true
mkdir -p "$out/full"
rm -rf "$out/full/mutants.out"
cp -r "$out/fast/mutants.out" "$out/full/"
if [ -s "$out/fast/mutants.out/missed.txt" ] || [ -s "$out/fast/mutants.out/timeout.txt" ]; then
  run --output "$out/full" --iterate "${args[@]}"
fi

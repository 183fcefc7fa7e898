#!/usr/bin/env bash
# Bounded fuzzing of the .npy/.safetensors readers and the dense constructor.
#   bash fuzz/run.sh [SECONDS_PER_TARGET]   (default 30)
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP=1 enables them on the stable
# toolchain this project uses. Runs are seeded (-seed=1) and start from the seed
# files in fuzz/seeds, so a run is reproducible.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-30}"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --version 0.13.2 --locked
fi
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O
for target in npy_reader safetensors_reader dense_constructor; do
  corpus="fuzz/corpus/$target"
  mkdir -p "$corpus"
  seeds=()
  [ -d "fuzz/seeds/$target" ] && seeds=("fuzz/seeds/$target")
  echo "== fuzz $target (${secs}s)"
  log="fuzz/$target.log"
  if ! cargo fuzz run -O "$target" "$corpus" "${seeds[@]}" -- \
      -max_total_time="$secs" -seed=1 -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz target $target failed; the input is in fuzz/artifacts/$target"
    exit 1
  fi
  grep -E "^Done" "$log" || true
done

#!/usr/bin/env bash
# Runs rillkv against RocksDB and fjall: every workload of rillkv-bench,
# engines alternating (rillkv, rocksdb, fjall) for 3 rounds, medians; writes
# BENCHMARKS.md (between its GENERATED markers), docs/bench-ratios.svg,
# docs/bench-timelines/ and compare/results/last-run.json.
#
#   compare/run.sh                       # NUM=500000: about 10-12 minutes on 2 cores
#   NUM=5000000 ROUNDS=1 compare/run.sh  # the issue's 5M-key scale (much longer)
#   compare/run.sh --memtable-mb 32      # extra arguments go to every rillkv-bench run
#
# The build is not counted in those minutes: RocksDB's bundled C++ takes
# 30+ minutes to compile on 2 cores. ROCKSDB_SOURCE=system links Debian's
# librocksdb-dev (7.8.3, `apt-get install librocksdb-dev`) instead and is
# the default when that library is installed; ROCKSDB_SOURCE=bundled builds
# RocksDB 11.8.1 from the crate (rocksdb 0.25).
set -euo pipefail
cd "$(dirname "$0")/.."
NUM=${NUM:-500000}
ROUNDS=${ROUNDS:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/compare/target}
syslib=/usr/lib/x86_64-linux-gnu
if [ -z "${ROCKSDB_SOURCE:-}" ]; then
  if [ -e "$syslib/librocksdb.so" ]; then ROCKSDB_SOURCE=system; else ROCKSDB_SOURCE=bundled; fi
fi
if [ "$ROCKSDB_SOURCE" = system ]; then
  export ROCKSDB_LIB_DIR=$syslib
  features=rocksdb-system,fjall
else
  features=rocksdb,fjall
fi
nice -n 10 cargo build --manifest-path compare/Cargo.toml --release --features "$features"
extra=()
if [ $# -gt 0 ]; then extra=(-- "$@"); fi
note="NUM=$NUM ROUNDS=$ROUNDS ROCKSDB_SOURCE=$ROCKSDB_SOURCE compare/run.sh $*"
mkdir -p compare/results docs
nice -n 10 "$CARGO_TARGET_DIR/release/compare" \
  --num "$NUM" --rounds "$ROUNDS" \
  --md BENCHMARKS.md --svg docs/bench-ratios.svg \
  --raw-json compare/results/last-run.json \
  --timeline-dir docs/bench-timelines \
  --command-note "${note% }" "${extra[@]}"

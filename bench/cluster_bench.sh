#!/bin/bash
# The cluster figures of BENCHMARKS.md, measured in one run: a 12-run sweep on the local pool
# with 1 and then 2 workers, and data-parallel training of the seed CNN (50 steps, global batch
# 64, f32 and f64) as 1 process and as 2 MPI ranks (loopback/shared memory only).
#   bench/cluster_bench.sh [build-mpi]      (scripts/dev cluster builds build-mpi)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
engine=$(cd "${1:-$root/build-mpi}" && pwd)/engine
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader OMPI_MCA_oob_tcp_if_include=lo OPENBLAS_NUM_THREADS=1
echo "machine: $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
for w in 1 2; do "$engine" "$root/bench/sweep_pool.lua" results=pool$w.h5 workers=$w; done
for dtype in f32 f64; do
  "$engine" "$root/scripts/train_dist.lua" dtype=$dtype | tail -2
  timeout 300 mpirun -np 2 "$engine" "$root/scripts/train_dist.lua" dtype=$dtype | tail -2
done

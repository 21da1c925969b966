#!/bin/bash
# The cluster tests (scripts/dev cluster; CI runs them): real Open MPI and a real single-node
# Slurm on this machine, every daemon and every MPI channel on 127.0.0.1 / loopback only.
#   1. the 6-run lr x eps sweep (tests/lua/sweep_lr_eps.lua: one run crashes with SIGSEGV in a
#      plugin, one diverges) through the local pool with 1 and 2 workers, a job array on Slurm,
#      2 MPI ranks, and killed + resumed: the same records, bit for bit (1 thread)
#   2. the seed CNN, 50 steps at global batch 64 (scripts/train_dist.lua): mpirun -np 2 and
#      -np 4 (oversubscribed) against one process, 1e-12 relative in f64 and 1e-5 in f32; a
#      checkpoint written by rank 0 at step 25 resumed by 2 ranks to the same step-50 parameters
# Usage: tests/cluster/run_cluster_tests.sh BUILD_DIR (an ENGINE_MPI=ON build with the tests)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$(cd "${1:?usage: run_cluster_tests.sh BUILD_DIR}" && pwd)
engine=$build/engine
here=$root/tests/cluster
work=$(mktemp -d)
cleanup() {
  bash "$here/slurm-down.sh" || true
  rm -rf "$work"
}
trap cleanup EXIT
bash "$here/slurm-up.sh"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader OMPI_MCA_oob_tcp_if_include=lo   # loopback and shared memory only
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_mpi_yield_when_idle=1
export OPENBLAS_NUM_THREADS=1 ENGINE_THREADS=1 SWEEP_QUIET=1
export PLUGIN_DIR=$build/tests/plugins
t0=$SECONDS
step() { echo "[cluster $((SECONDS - t0))s] $*"; }

# ---- 1. the sweep through every executor ----
cd "$work"
sweep=$root/tests/lua/sweep_lr_eps.lua
compare() {  # compare A.h5 B.h5 what
  "$engine" -e "local C = dofile('$root/tests/lua/sweep_compare.lua')
    C.assert_same(engine.sweep.read('$1'), engine.sweep.read('$2'), '$3')
    local r = engine.sweep.read('$2')['eps=0.0001,lr=0.1']
    assert(r.status == 'crashed' and r.signal_name == 'SIGSEGV', '$3: the crash: ' .. r.status)
    print('$3: the same 6 records as local, 1 worker (crashed: ' .. r.message .. ')')"
}
step "sweep: local, 1 worker"
"$engine" "$sweep" results=local1.h5 workers=1
step "sweep: local, 2 workers"
"$engine" "$sweep" results=local2.h5 workers=2
compare local1.h5 local2.h5 "local, 2 workers"
step "sweep: slurm job array (wait = true)"
timeout 300 "$engine" "$sweep" results=slurm.h5 executor=slurm wait=1
compare local1.h5 slurm.h5 "slurm"
step "sweep: slurm, collected by running the script again (wait = false)"
timeout 300 "$engine" "$sweep" results=slurm2.h5 executor=slurm wait=0 chunk=2
# until the queue is empty, up to 5 minutes: a guard only (a slow machine takes longer)
for _ in $(seq 1 600); do [ -z "$(squeue -h)" ] && break; sleep 0.5; done
timeout 300 "$engine" "$sweep" results=slurm2.h5 executor=slurm wait=0 chunk=2
compare local1.h5 slurm2.h5 "slurm, 3 tasks of 2 runs, collected later"
step "sweep: mpi, 2 ranks"
timeout 300 mpirun -np 2 "$engine" "$sweep" results=mpi.h5 executor=mpi
compare local1.h5 mpi.h5 "mpi, 2 ranks"
step "sweep: killed during its 4th run, then resumed"
"$engine" "$sweep" results=killed.h5 kill_parent_at='eps=0.0001,lr=0.001' && exit 1 || true
"$engine" "$sweep" results=killed.h5
compare local1.h5 killed.h5 "killed and resumed"

# ---- 2. data-parallel training ----
train=$root/scripts/train_dist.lua
params="$engine $here/compare_params.lua"
for dtype in f64 f32; do
  tol=$([ $dtype = f64 ] && echo 1e-12 || echo 1e-5)
  step "train $dtype: 1 process (no mpirun)"
  "$engine" "$train" dtype=$dtype out=one_$dtype.h5
  step "train $dtype: mpirun -np 2"
  timeout 300 mpirun -np 2 "$engine" "$train" dtype=$dtype out=np2_$dtype.h5
  $params np2_$dtype.h5 one_$dtype.h5 "$tol"
  step "train $dtype: mpirun -np 4 (oversubscribed)"
  timeout 300 mpirun -np 4 "$engine" "$train" dtype=$dtype out=np4_$dtype.h5
  $params np4_$dtype.h5 one_$dtype.h5 "$tol"
done
step "train f64: rank 0 checkpoints at step 25, 2 ranks resume to step 50"
timeout 300 mpirun -np 2 "$engine" "$train" steps=25 checkpoint=ck25.h5 checkpoint_at=25
timeout 300 mpirun -np 2 "$engine" "$train" resume=ck25.h5 out=resumed.h5
$params resumed.h5 np2_f64.h5 0
$params resumed.h5 one_f64.h5 1e-12
step "all cluster tests passed"

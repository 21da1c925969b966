#!/bin/bash
# The cluster figures of BENCHMARKS.md, measured in one run: `rounds` rounds (default 5), each
# running, one after the other (interleaved, so that the machine's load falls on all of them
# alike):
#   - the 12-run sweep of bench/sweep_pool.lua on the local pool with 1, then 2 workers;
#   - the same sweep with steps=0: what a run costs besides its training (a process started,
#     the script run again, the record written and merged), at 1 and 2 workers;
#   - data-parallel training of the seed CNN (scripts/train_dist.lua, `steps` steps, default
#     200, global batch 64, f32) as 1 process and as 2 MPI ranks (shared memory only).
# Each measurement records the 1-minute load average before it, its wall time and the CPU time
# of all its processes (user + system); the table at the end gives medians and ranges.
#   bench/cluster_bench.sh [build-mpi] [rounds] [steps]     (scripts/dev cluster builds build-mpi)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
engine=$(cd "${1:-$root/build-mpi}" && pwd)/engine
rounds=${2:-5}
steps=${3:-200}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader OMPI_MCA_oob_tcp_if_include=lo OPENBLAS_NUM_THREADS=1
echo "machine: $(nproc) cpus; $(uptime)"
: > log.tsv
# measure NAME COMMAND...: one line of log.tsv: name, load, wall s, cpu s, the command's last line
measure() {
  local name=$1
  shift
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  /usr/bin/time -f "%e %U %S" -o time.txt "$@" > out.txt 2> err.txt || {
    cat err.txt >&2
    return 1
  }
  read -r wall user sys < time.txt
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$load" "$wall" \
    "$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')" "$(tail -1 out.txt)" >> log.tsv
}
for r in $(seq 1 "$rounds"); do
  for w in 1 2; do
    rm -rf pool.h5 pool.h5.d
    measure "sweep, $w worker(s)" "$engine" "$root/bench/sweep_pool.lua" results=pool.h5 workers=$w
  done
  for w in 1 2; do
    rm -rf pool0.h5 pool0.h5.d
    measure "sweep of empty runs, $w worker(s)" "$engine" "$root/bench/sweep_pool.lua" \
      results=pool0.h5 workers=$w steps=0
  done
  measure "train f32, 1 process" "$engine" "$root/scripts/train_dist.lua" dtype=f32 steps=$steps
  measure "train f32, 2 ranks" timeout 300 mpirun -np 2 "$engine" "$root/scripts/train_dist.lua" \
    dtype=f32 steps=$steps
  echo "round $r of $rounds done; $(uptime)"
done
/usr/bin/python3 - log.tsv <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, load, wall, cpu, last = line.rstrip("\n").split("\t")
    r = rows.setdefault(name, {"load": [], "wall": [], "cpu": [], "ips": [], "ar": [], "bytes": []})
    r["load"].append(float(load)); r["wall"].append(float(wall)); r["cpu"].append(float(cpu))
    m = re.search(r"([\d.]+) images/s, [\d.]+ ms/step, allreduce ([\d.]+)% of a step, (\d+) bytes", last)
    if m:
        r["ips"].append(float(m.group(1))); r["ar"].append(float(m.group(2))); r["bytes"].append(int(m.group(3)))
def med(v, fmt): return (fmt % statistics.median(v)) + (" (%s-%s)" % (fmt % min(v), fmt % max(v)))
print("| what | runs | load (1 min) | wall s | CPU s | images/s | allreduce share | bytes/step/rank |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for name, r in rows.items():
    extra = [med(r["ips"], "%.0f"), med(r["ar"], "%.1f%%"), "%d" % r["bytes"][0]] if r["ips"] else ["", "", ""]
    print("| %s | %d | %s | %s | %s | %s |" % (name, len(r["wall"]), med(r["load"], "%.1f"),
          med(r["wall"], "%.2f"), med(r["cpu"], "%.2f"), " | ".join(extra)))
PY

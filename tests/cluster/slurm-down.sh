#!/bin/bash
# Stops what slurm-up.sh started, by the daemons' pid files, and waits until they are gone
# (munged last: the slurm daemons authenticate through it while they shut down).
wait_gone() {
  for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null
}
stopped=()
slurm=()
for f in /run/slurmctld.pid /run/slurmd.pid; do [ -s "$f" ] && slurm+=("$(cat "$f")"); done
scontrol shutdown >/dev/null 2>&1 || { [ ${#slurm[@]} -gt 0 ] && kill -TERM "${slurm[@]}" 2>/dev/null; }
for p in "${slurm[@]}"; do wait_gone "$p"; stopped+=("$p"); done
if [ -s /run/munge/munged.pid ]; then
  p=$(cat /run/munge/munged.pid)
  kill -TERM "$p" 2>/dev/null && wait_gone "$p" && stopped+=("$p")
fi
echo "slurm-down.sh: stopped ${stopped[*]:-nothing}"

#!/bin/bash
# A single-node Slurm (munge, slurmctld, slurmd) on this machine, for the cluster tests: as
# root, without systemd, every daemon on 127.0.0.1 only (the recipe in ../shared/CLUSTER.md).
# Stop it with slurm-down.sh (the tests do, from a trap). Packages: scripts/dev cluster.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "slurm-up.sh: needs root (it starts munged, slurmctld, slurmd)" >&2; exit 1; }
# munge: the postinst normally creates the key
[ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
install -d -o munge -g munge -m 0755 /run/munge
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
munge -n | unmunge >/dev/null

H=$(hostname -s)
NODE=$(slurmd -C | head -1 | sed "s/^NodeName=[^ ]*/NodeName=$H/")
rm -rf /var/spool/slurmctld   # a clean state: no jobs of an earlier run
mkdir -p /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=ci
SlurmctldHost=${H}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=pmix
ReturnToService=2
MailProg=/bin/true
SchedulerParameters=batch_sched_delay=0,sched_interval=5
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
${NODE} NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
/usr/sbin/slurmctld
/usr/sbin/slurmd
# up to 2 minutes (a guard against daemons that never come up; it goes on as soon as they do)
for _ in $(seq 1 480); do [ "$(sinfo -h -N -o %T 2>/dev/null)" = idle ] && break; sleep 0.25; done
if [ "$(sinfo -h -N -o %T)" != idle ]; then
  sinfo -N -l; tail -20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log; exit 1
fi
echo "slurm-up.sh: $(sinfo -h -N -o '%N %T, %c cpus')"

#!/usr/bin/env bash
# A real single-node SLURM on this machine, for the tests of the slurm profile (and CI).
#   cluster/local-slurm.sh install   Debian packages: slurmctld, slurmd, slurm-client, munge
#   cluster/local-slurm.sh start     write /etc/slurm config, start munged, slurmctld, slurmd;
#                                    returns once the node is idle (idempotent)
#   cluster/local-slurm.sh stop      stop the three daemons by their pid files
#   cluster/local-slurm.sh status    daemons and sinfo; exit 0 only if the node takes jobs
# Needs root. No accounting database: the profile polls job states with squeue.
set -euo pipefail

CONF_DIR=/etc/slurm          # the plugin's in-job srun drops SLURM_CONF: only the default path works
NODE=$(hostname -s)

die() { echo "local-slurm: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "run as root (it installs packages and starts system daemons)"

# Daemon name -> pid file. A daemon is alive if its pid file names a process of that name
# (a stale file whose pid was reused by another process does not count, and is never killed).
declare -A PIDFILE=([munged]=/run/munge/munged.pid [slurmctld]=/run/slurmctld.pid [slurmd]=/run/slurmd.pid)
pid_of() { [[ -s ${PIDFILE[$1]} ]] && cat "${PIDFILE[$1]}"; }
alive() { local pid; pid=$(pid_of "$1") && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$1" ]]; }

install() {
  local pkgs=(slurmctld slurmd slurm-client munge)
  if ! dpkg -s "${pkgs[@]}" >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null 2>&1 \
      || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null; }
  fi
  command -v slurmctld >/dev/null || die "slurmctld is missing after the install"
  echo "local-slurm: installed ($(slurmctld -V))"
}

write_config() {
  local cpus mem
  cpus=$(nproc)
  # Leave 1 GB to the system; slurmd drains a node that claims more memory than it has.
  mem=$(( $(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo) - 1024 ))
  mkdir -p "$CONF_DIR" /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
  cat > "$CONF_DIR/slurm.conf" <<CONF
# Written by cluster/local-slurm.sh: a one-node test cluster. Do not edit; rerun start.
ClusterName=robustrepro-test
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
# Track job processes by parent pid: needs no cgroups (containers and CI machines rarely
# delegate them).
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Jobs that do not ask for memory get an even share of the node's.
DefMemPerCPU=$(( mem / cpus ))
# No slurmdbd: finished jobs stay visible to squeue for MinJobAge seconds (the plugin
# needs at least 3x its first status-check interval).
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=300
ReturnToService=2
SlurmdTimeout=60
# One fake GPU (gres.conf points it at /dev/null), so GPU jobs are scheduled as such.
GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
  echo "NodeName=$NODE Name=gpu File=/dev/null" > "$CONF_DIR/gres.conf"
}

start_munge() {
  alive munged && return
  if [[ ! -s /etc/munge/munge.key ]]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  mkdir -p /run/munge /var/lib/munge /var/log/munge
  chown munge:munge /etc/munge /etc/munge/munge.key /run/munge /var/lib/munge /var/log/munge
  chmod 0700 /etc/munge; chmod 0400 /etc/munge/munge.key; chmod 0755 /run/munge
  runuser -u munge -- /usr/sbin/munged
}

node_state() { sinfo -h -N -n "$NODE" -o %T 2>/dev/null | head -1 || true; }

logs() { tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true; }

start() {
  command -v slurmctld >/dev/null || die "SLURM is not installed; run: $0 install"
  # Running daemons keep the config they started with: rewrite it only for a fresh start.
  alive slurmctld || alive slurmd || write_config
  start_munge
  alive slurmctld || slurmctld
  alive slurmd || slurmd
  local state
  for i in $(seq 120); do
    # The daemons write their pid files a moment after they fork.
    if (( i > 5 )) && ! { alive slurmctld && alive slurmd; }; then
      logs; die "a SLURM daemon exited; logs above"
    fi
    state=$(node_state)
    case $state in
      idle|mixed|allocated) echo "local-slurm: node $NODE is $state"; return 0 ;;
      # Left down or drained by an earlier unclean stop: the config is ours, so resume it.
      down*|drain*) scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true ;;
    esac
    sleep 1
  done
  logs
  die "node $NODE did not become idle within 2 minutes (state: ${state:-none}); logs above"
}

stop() {
  local daemon pid
  # slurmd and slurmctld first: they need munged to shut down cleanly.
  for daemon in slurmd slurmctld munged; do
    alive "$daemon" || continue
    pid=$(pid_of "$daemon")
    kill "$pid"
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    if kill -0 "$pid" 2>/dev/null; then die "$daemon (pid $pid) did not stop within 30 s"; fi
  done
  echo "local-slurm: stopped"
}

status() {
  local daemon ok=0
  for daemon in munged slurmctld slurmd; do
    if alive "$daemon"; then echo "$daemon: running (pid $(pid_of "$daemon"))"
    else echo "$daemon: not running"; ok=1; fi
  done
  [[ $ok == 0 ]] && sinfo -N -o "%N %T %c %m %G" || true
  [[ $ok == 0 && $(node_state) =~ ^(idle|mixed|allocated)$ ]]
}

case "${1:-}" in
  install|start|stop|status) "$1" ;;
  *) die "usage: $0 {install|start|stop|status}" ;;
esac

#!/bin/bash
# slurm_cluster.sh - a private one-node Slurm cluster for the tests (munged +
# slurmctld + slurmd on this host, no systemd), with everything it writes in
# one directory: configuration, munge key and socket, state, spool, logs and
# the PIDs of the daemons it started. Derived from shared/slurm-dev-cluster.sh.
#
#   slurm_cluster.sh up DIR       start the cluster in DIR (created if needed)
#   slurm_cluster.sh down DIR     cancel its jobs, stop exactly the PIDs recorded in DIR
#   slurm_cluster.sh status DIR   recorded PIDs and sinfo
#
# Clients find the cluster through SLURM_CONF=DIR/slurm.conf (`up` prints it);
# /etc/slurm and the system's munged are not touched, and the ports are picked
# free at start-up, so the cluster does not collide with a real one.
#
# Environment:
#   SLURM_CPUS=N          CPUs the node advertises (default: what `slurmd -C`
#                         detects); more than the hardware sets
#                         SlurmdParameters=config_overrides (tasks oversubscribe
#                         and are not bound: TaskPlugin=task/none; otherwise
#                         task/affinity binds them)
#   SLURM_CPUS_MIN=N      advertise at least N CPUs
#   SLURM_CRED_EXPIRE=S   AuthInfo cred_expire, which is also how long a requeued
#                         job waits before it may start again (Slurm's default
#                         is 120 s, the least it accepts 5 s)
#   SLURM_UP_TIMEOUT=S    seconds to wait for each daemon (default 30)
#
# Exit codes: 0 done; 77 Slurm cannot run here (not root, packages missing:
# tools/setup.sh --test installs them); 1 a daemon did not come up (its log is
# printed).
#
# PID discipline: each daemon runs in the foreground of a background job, its
# PID is written to DIR/<daemon>.pid, and `down` signals only those PIDs, after
# checking that /proc/PID/exe is still the expected binary. Nothing is ever
# stopped by name.
set -euo pipefail

TIMEOUT=${SLURM_UP_TIMEOUT:-30}

log() { printf '[slurm_cluster %(%T)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
skip() { log "SKIP: $*"; exit 77; }

usage() { echo "usage: $0 up|down|status DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
DIR=$2
CONF=$DIR/slurm.conf
export SLURM_CONF=$CONF

# --- PID bookkeeping (pid_alive, wait_for, wait_gone, stop_pid) ---------------
PID_DIR=$DIR
# shellcheck source=tests/e2e/daemon_pids.sh
. "$(dirname "$0")/daemon_pids.sh"

show_log() {  # file
    [ -s "$1" ] && { log "last lines of $1:"; tail -20 "$1" >&2; }
    return 0
}

free_port() {  # a TCP port nobody listens on right now
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- up ----------------------------------------------------------------------
do_up() {
    [ "$(id -u)" = 0 ] || skip "not root: the test cluster runs its daemons as root"
    local b
    for b in /usr/sbin/munged /usr/bin/munge /usr/bin/unmunge /usr/sbin/mungekey \
             /usr/sbin/slurmctld /usr/sbin/slurmd /usr/bin/sinfo /usr/bin/scontrol \
             /usr/bin/sbatch /usr/bin/srun /usr/bin/setpriv /usr/bin/python3; do
        [ -x "$b" ] || skip "$b missing (tools/setup.sh --test installs slurmctld slurmd slurm-client munge)"
    done
    getent passwd munge >/dev/null || skip "no munge user (the munge package creates it)"
    mkdir -p "$DIR"
    chmod 0755 "$DIR"
    local host; host=$(hostname -s)
    getent hosts "$host" >/dev/null || skip "host name '$host' does not resolve (add it to /etc/hosts)"

    # --- munge: own key, socket, log, seed and pid file, all in DIR/munge ---
    local M=$DIR/munge
    install -d -o munge -g munge -m 0755 "$M"   # munged wants x for all on the socket's directory
    if [ ! -s "$M/munge.key" ]; then
        mungekey --create --keyfile="$M/munge.key" 2>/dev/null || die "mungekey failed"
        chown munge:munge "$M/munge.key"
        chmod 0400 "$M/munge.key"
    fi
    local pid
    if ! pid=$(pid_alive munged /usr/sbin/munged); then
        # -F: stay in the foreground so that $! is munged itself; as the munge user.
        setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F \
            --socket="$M/munge.socket" --key-file="$M/munge.key" --log-file="$M/munged.log" \
            --pid-file="$M/munged.pid" --seed-file="$M/munged.seed" \
            </dev/null >>"$DIR/munged.out" 2>&1 &
        echo $! >"$DIR/munged.pid"
        if ! wait_for munged "$(<"$DIR/munged.pid")" sh -c "munge -n -S '$M/munge.socket' | unmunge -S '$M/munge.socket'"; then
            show_log "$DIR/munged.out"; show_log "$M/munged.log"; die "munged did not come up"
        fi
        log "munged started (pid $(<"$DIR/munged.pid"))"
    fi

    # --- slurm.conf ---
    if [ ! -s "$CONF" ]; then
        local detected hw_cpus cpus node_line extra=""
        detected=$(slurmd -C | head -1)   # NodeName=vm CPUs=2 Boards=1 ... RealMemory=24105
        hw_cpus=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$detected")
        cpus=${SLURM_CPUS:-$hw_cpus}
        [ "$cpus" -ge "${SLURM_CPUS_MIN:-1}" ] || cpus=$SLURM_CPUS_MIN
        # Tasks are bound to their cores (task/affinity) when the node is
        # what it says; CPUs that do not exist cannot be bound (task/none).
        local task_plugin=task/affinity
        if [ "$cpus" = "$hw_cpus" ]; then
            node_line="$(sed "s/^NodeName=[^ ]*/NodeName=$host/" <<<"$detected") NodeAddr=127.0.0.1 State=UNKNOWN"
        else
            local mem; mem=$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<<"$detected")
            node_line="NodeName=$host CPUs=$cpus RealMemory=$mem NodeAddr=127.0.0.1 State=UNKNOWN"
            extra="SlurmdParameters=config_overrides"
            task_plugin=task/none
        fi
        mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
        cat >"$CONF" <<EOF
# generated by tests/e2e/slurm_cluster.sh: a private single-node test cluster
ClusterName=polysweeptest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$M/munge.socket,cred_expire=${SLURM_CRED_EXPIRE:-120}
MpiDefault=pmix
ProctrackType=proctrack/linuxproc
TaskPlugin=$task_plugin
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# the default sched_interval is 60 s: back-to-back jobs would wait seconds each
SchedulerParameters=batch_sched_delay=0,sched_interval=1
ReturnToService=2
KillWait=5
MinJobAge=600
MailProg=/bin/true
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.daemon.pid
SlurmdPidFile=$DIR/slurmd.daemon.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
$extra
$node_line
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
        sed -i '/^$/d' "$CONF"
        log "wrote $CONF"
    fi

    # --- slurmctld (-i: no state from an earlier cluster in DIR matters) ---
    if ! pid=$(pid_alive slurmctld /usr/sbin/slurmctld); then
        /usr/sbin/slurmctld -D -i -f "$CONF" </dev/null >>"$DIR/slurmctld.out" 2>&1 &
        echo $! >"$DIR/slurmctld.pid"
        if ! wait_for slurmctld "$(<"$DIR/slurmctld.pid")" sh -c 'scontrol ping | grep -q "is UP"'; then
            show_log "$DIR/slurmctld.out"; show_log "$DIR/log/slurmctld.log"; die "slurmctld not responding"
        fi
        log "slurmctld started (pid $(<"$DIR/slurmctld.pid"))"
    fi

    # --- slurmd ---
    if ! pid=$(pid_alive slurmd /usr/sbin/slurmd); then
        /usr/sbin/slurmd -D -f "$CONF" </dev/null >>"$DIR/slurmd.out" 2>&1 &
        echo $! >"$DIR/slurmd.pid"
        log "slurmd started (pid $(<"$DIR/slurmd.pid"))"
    fi
    if ! wait_for "node $host" "$(<"$DIR/slurmd.pid")" sh -c "sinfo -h -n $host -o %T | grep -Eq '^(idle|mixed|allocated)\$'"; then
        log "node state: $(sinfo -h -n "$host" -o '%T %E' 2>&1)"
        show_log "$DIR/slurmd.out"; show_log "$DIR/log/slurmd.log"; die "node $host not usable"
    fi
    echo "export SLURM_CONF=$CONF"
}

do_status() {
    local n pid
    for n in munged slurmctld slurmd; do
        if pid=$(pid_alive $n /usr/sbin/$n); then echo "$n pid $pid"; else echo "$n not running"; fi
    done
    sinfo 2>/dev/null || true
}

# --- down ----------------------------------------------------------------------
do_down() {
    [ -d "$DIR" ] || return 0
    # Cancel every job of this private cluster first: with proctrack/linuxproc,
    # stopping slurmd alone would leave slurmstepd and job processes behind.
    if pid_alive slurmctld /usr/sbin/slurmctld >/dev/null && pid_alive slurmd /usr/sbin/slurmd >/dev/null; then
        local jobs; jobs=$(squeue -h -o %i 2>/dev/null || true)
        if [ -n "$jobs" ]; then
            log "cancelling jobs: $(echo $jobs)"
            scancel $jobs 2>/dev/null || true
            local deadline=$((SECONDS + 30))
            while [ -n "$(squeue -h -t all -o '%i %T' 2>/dev/null | grep -Ev ' (COMPLETED|CANCELLED|FAILED|TIMEOUT|NODE_FAIL|BOOT_FAIL|DEADLINE|OUT_OF_MEMORY|PREEMPTED)$')" ] &&
                  [ $SECONDS -lt $deadline ]; do
                sleep 0.2
            done
        fi
    fi
    stop_pid slurmd /usr/sbin/slurmd
    stop_pid slurmctld /usr/sbin/slurmctld
    stop_pid munged /usr/sbin/munged
}

case $cmd in
    up) do_up ;;
    down) do_down ;;
    status) do_status ;;
    *) usage ;;
esac

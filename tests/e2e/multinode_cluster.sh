#!/bin/bash
# multinode_cluster.sh - a real multi-node Slurm cluster on this one machine,
# for the tests (derived from shared/multinode-cluster.sh). Every "host" is a
# network namespace with its own address, its own host name (UTS namespace)
# and its own /tmp and /dev/shm (mount namespace), cabled by a veth pair to a
# bridge inside the head's namespace; slurmctld runs on the head, one slurmd
# per node, one munged serves them all (its socket file crosses network
# namespaces). The rest of the file system is common to all hosts and plays
# the cluster's shared file system: put job directories under /var/tmp, not
# /tmp.
#
#   multinode_cluster.sh up DIR            create the cluster; everything it writes is in DIR
#   multinode_cluster.sh down DIR          cancel its jobs, stop every PID it recorded, remove
#                                          every namespace it made (and with them their links)
#   multinode_cluster.sh status DIR        daemons, namespaces, sinfo, squeue
#   multinode_cluster.sh on DIR HOST CMD   run CMD "on" HOST (head, psn1, ...): its network,
#                                          host name, /tmp and hosts file, with SLURM_CONF set
#   multinode_cluster.sh crash DIR NODE    a node crash: unplug its cable (both ends of the
#                                          link down: its peers hear nothing, as when a node
#                                          loses power), then SIGKILL every process in its
#                                          namespace, by PID (listed in DIR/crash-NODE.pids)
#   multinode_cluster.sh start-node DIR NODE   plug it back in, start its slurmd, wait until usable
#   multinode_cluster.sh link DIR NODE     "RX_BYTES TX_BYTES" of the node's end of its cable
#
# Per run, nothing is shared with another run of this script on the machine:
# a random cluster id names the namespaces (pmn<id>-head, pmn<id>-psn1, ...),
# a random private /24 (10.200-249.x.0, which exists only inside these
# namespaces: nothing is attached to the root namespace, no namespace has a
# default route) addresses them, and DIR holds the configuration, munge key
# and socket, state, spools, logs, the nodes' /tmp and every PID. The id and
# the net are kept in DIR/cluster.env for the later commands.
#
# Nodes: psn1..psnN (MN_NODES, default 3) in partition `debug` (the default),
# as many CPUs as this machine (the nodes share its cores: task/affinity
# binds each node's tasks to them); with MN_SMT_NODE=1 (default) also smt1, in
# partition `smt`: a node Slurm believes has one core of two hardware threads
# (SlurmdParameters=config_overrides), to test the sbatch script's SMT rules.
#
# Environment: MN_NODES=3, MN_SMT_NODE=1, MN_SLURMD_TIMEOUT=10 (SlurmdTimeout:
# how soon a dead node is marked DOWN), MN_CRED_EXPIRE=5 (AuthInfo
# cred_expire, also how long a requeued job waits before it starts again;
# 5 is the least Slurm accepts), MN_UP_TIMEOUT=30 (seconds per daemon).
#
# Pitfalls this avoids (shared/multinode-cluster.sh lists them): only `srun
# --mpi=pmix` works with Debian's Open MPI; a shared /tmp breaks PMIx steps on
# two nodes or more; `ip netns exec` remounts /sys, hiding the cgroup mounts
# slurmd wants (nsenter --net + unshare --mount instead); killing processes
# is not a crash (the kernel resets their TCP connections at once): take the
# link down first. Open MPI must be told to use TCP between hosts
# (OMPI_MCA_btl=self,tcp): its shared memory would silently cross namespaces.
#
# Exit codes: 0 done; 77 the cluster cannot be made here (not root, no
# network namespaces, packages missing: tools/setup.sh --test installs
# them); 1 a daemon did not come up (its log is printed); 2 usage.
#
# PID discipline: every daemon runs in the foreground of a background job
# (nsenter, unshare, setpriv and nice all exec, so $! is the daemon); its PID
# goes to DIR/pids/NAME.pid and only those PIDs are signalled, after checking
# /proc/PID/exe. Processes left inside our own namespaces (a crashed node's
# slurmstepd, job tasks) are listed with `ip netns pids` into a file and
# signalled by those PIDs. Nothing is ever killed by name.
set -euo pipefail

log() { printf '[multinode %(%T)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
skip() { log "SKIP: $*"; exit 77; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

[ $# -ge 2 ] || usage
cmd=$1
DIR=$2
shift 2
CONF=$DIR/slurm.conf
export SLURM_CONF=$CONF
TIMEOUT=${MN_UP_TIMEOUT:-30}
BR=mnbr0   # the bridge, inside the head's namespace (interface names are per namespace)

# --- this cluster's identity -------------------------------------------------------
load_env() {
    [ -s "$DIR/cluster.env" ] || die "$DIR/cluster.env missing: no cluster was made in $DIR"
    # shellcheck source=/dev/null
    . "$DIR/cluster.env"
}

node_names() {
    local i
    for ((i = 1; i <= NODES; i++)); do echo "psn$i"; done
    [ "$SMT" = 1 ] && echo smt1
    return 0
}
ns_of() { echo "$PREFIX-$1"; }
addr_of() {
    case $1 in
        head) echo "$NET.1" ;;
        smt1) echo "$NET.100" ;;
        *) echo "$NET.$((10 + ${1#psn}))" ;;
    esac
}

# --- PID bookkeeping (pid_alive, wait_for, wait_gone, stop_pid) -----------------------
PID_DIR=$DIR/pids
# shellcheck source=tests/e2e/daemon_pids.sh
. "$(dirname "$0")/daemon_pids.sh"

ns_exists() { [ -e "/run/netns/$1" ]; }

# Every process inside one of OUR namespaces (they can only descend from the
# daemons we started there), written to a file first, then signalled by PID.
kill_ns_pids() {  # netns signal file
    ns_exists "$1" || return 0
    ip netns pids "$1" >"$3" 2>/dev/null || true
    [ -s "$3" ] || return 0
    log "$1: SIG$2 to $(tr '\n' ' ' <"$3")(listed in $3)"
    local p
    while read -r p; do kill "-$2" "$p" 2>/dev/null || true; done <"$3"
}

show_log() {  # file
    [ -s "$1" ] && { log "last lines of $1:"; tail -20 "$1" >&2; }
    return 0
}

# Enter the namespaces (net, uts, mount) of the daemon recorded for a host, so
# that CMD sees that host's address, name, /tmp and hosts file.
on_host() {  # host cmd...
    local h=$1 pid; shift
    if [ "$h" = head ]; then pid=$(pid_alive slurmctld /usr/sbin/slurmctld) || die "slurmctld not running"
    else pid=$(pid_alive "slurmd-$h" /usr/sbin/slurmd) || die "slurmd of $h not running"; fi
    # --wd: entering a mount namespace would otherwise leave the caller's directory
    exec nsenter -t "$pid" --net --uts --mount --wd="$PWD" env SLURM_CONF="$CONF" "$@"
}

# A Slurm client from the root namespace through the head's network.
ctl() { nsenter --net="/run/netns/$(ns_of head)" "$@"; }

# --- network -----------------------------------------------------------------------------
net_up() {
    local h ns v head
    head=$(ns_of head)
    ip netns add "$head"
    ip -n "$head" link set lo up
    ip -n "$head" link add "$BR" type bridge
    ip -n "$head" addr add "$(addr_of head)/24" dev "$BR"
    ip -n "$head" link set "$BR" up
    for h in $(node_names); do
        ns=$(ns_of "$h"); v="v-$h"   # v-psn1: the head's end of psn1's cable
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        # both ends are made inside our namespaces: nothing appears in the root namespace
        ip -n "$ns" link add eth0 type veth peer name "$v" netns "$head"
        ip -n "$ns" addr add "$(addr_of "$h")/24" dev eth0
        ip -n "$ns" link set eth0 up
        ip -n "$head" link set "$v" master "$BR" up
    done
    # The cluster's /etc/hosts, bind-mounted by every host in its own mount
    # namespace: the machine's /etc/hosts is never edited.
    {
        echo "127.0.0.1 localhost"
        echo "$(addr_of head) pshead"
        for h in $(node_names); do echo "$(addr_of "$h") $h"; done
    } >"$DIR/hosts"
}

net_down() {
    local ns
    # deleting a namespace deletes the veth ends in it, and with them their peers
    for ns in $(cat "$DIR/namespaces" 2>/dev/null); do
        if ns_exists "$ns"; then ip netns del "$ns" && log "removed netns $ns"; fi
    done
}

# --- slurm.conf ------------------------------------------------------------------------------
write_conf() {
    local detected h
    detected=$(slurmd -C | head -1 | sed 's/^NodeName=[^ ]* //')
    mkdir -p "$DIR/ctl/state"
    cat >"$CONF" <<EOF
# generated by tests/e2e/multinode_cluster.sh: a multi-node test cluster of network namespaces
ClusterName=pmn$ID
SlurmctldHost=pshead($(addr_of head))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket,cred_expire=${MN_CRED_EXPIRE:-5}
MpiDefault=pmix
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_interval=1
ReturnToService=2
SlurmdTimeout=${MN_SLURMD_TIMEOUT:-10}
KillWait=5
MinJobAge=600
MailProg=/bin/true
SlurmdParameters=config_overrides
StateSaveLocation=$DIR/ctl/state
SlurmctldPidFile=$DIR/ctl/slurmctld.daemon.pid
SlurmctldLogFile=$DIR/ctl/slurmctld.log
# per-node paths: %n is the node name
SlurmdSpoolDir=$DIR/nodes/%n/spool
SlurmdPidFile=$DIR/nodes/%n/slurmd.daemon.pid
SlurmdLogFile=$DIR/nodes/%n/slurmd.log
# ports are per network namespace: the defaults collide with nothing
SlurmctldPort=6817
SlurmdPort=6818
EOF
    local i nodes=""
    for ((i = 1; i <= NODES; i++)); do
        h=psn$i
        echo "NodeName=$h NodeAddr=$(addr_of $h) NodeHostname=$h $detected State=UNKNOWN" >>"$CONF"
        nodes+=${nodes:+,}$h
    done
    echo "PartitionName=debug Nodes=$nodes Default=YES MaxTime=INFINITE State=UP" >>"$CONF"
    if [ "$SMT" = 1 ]; then
        # One core, two hardware threads: this machine's CPUs 0 and 1 as siblings.
        local mem; mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$detected")
        echo "NodeName=smt1 NodeAddr=$(addr_of smt1) NodeHostname=smt1 CPUs=2 Boards=1" \
             "SocketsPerBoard=1 CoresPerSocket=1 ThreadsPerCore=2 RealMemory=$mem State=UNKNOWN" >>"$CONF"
        echo "PartitionName=smt Nodes=smt1 MaxTime=INFINITE State=UP" >>"$CONF"
    fi
}

# --- daemons ----------------------------------------------------------------------------------
start_munged() {
    local M=$DIR/munge
    install -d -o munge -g munge -m 0755 "$M"
    if [ ! -s "$M/munge.key" ]; then
        mungekey --create --keyfile="$M/munge.key" 2>/dev/null || die "mungekey failed"
        chown munge:munge "$M/munge.key"; chmod 0400 "$M/munge.key"
    fi
    pid_alive munged /usr/sbin/munged >/dev/null && return 0
    nice -n 19 setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F \
        --socket="$M/munge.socket" --key-file="$M/munge.key" --log-file="$M/munged.log" \
        --pid-file="$M/munged.pid" --seed-file="$M/munged.seed" \
        </dev/null >>"$DIR/munged.out" 2>&1 &
    echo $! >"$DIR/pids/munged.pid"
    wait_for munged "$!" sh -c "munge -n -S '$M/munge.socket' | unmunge -S '$M/munge.socket'" ||
        { show_log "$M/munged.log"; die "munged did not come up"; }
}

start_slurmctld() {
    pid_alive slurmctld /usr/sbin/slurmctld >/dev/null && return 0
    # nsenter --net: the head's network (not `ip netns exec`, see the header);
    # unshare --uts --mount: its own host name and hosts file. -i: no old state.
    nsenter --net="/run/netns/$(ns_of head)" unshare --uts --mount --propagation private sh -c \
        'mount --bind "$1" /etc/hosts && hostname pshead && exec nice -n 19 /usr/sbin/slurmctld -D -i -f "$0"' \
        "$CONF" "$DIR/hosts" </dev/null >>"$DIR/ctl/slurmctld.out" 2>&1 &
    echo $! >"$DIR/pids/slurmctld.pid"
    wait_for slurmctld "$!" ctl sh -c 'scontrol ping | grep -q "is UP"' ||
        { show_log "$DIR/ctl/slurmctld.out"; show_log "$DIR/ctl/slurmctld.log"; die "slurmctld not responding"; }
}

start_slurmd() {  # node
    local h=$1 d=$DIR/nodes/$1
    pid_alive "slurmd-$h" /usr/sbin/slurmd >/dev/null && return 0
    mkdir -p "$d/spool" "$d/tmp"
    chmod 0755 "$d/spool"; chmod 1777 "$d/tmp"
    # a private /tmp and /dev/shm for this host, like a real node
    nsenter --net="/run/netns/$(ns_of "$h")" unshare --uts --mount --propagation private sh -c \
        "mount --bind $DIR/hosts /etc/hosts && hostname $h && mount --bind $d/tmp /tmp &&
         mount -t tmpfs -o mode=1777,size=512m pmn-shm /dev/shm &&
         exec nice -n 19 /usr/sbin/slurmd -D -N $h -f \"\$0\"" "$CONF" \
        </dev/null >>"$d/slurmd.out" 2>&1 &
    echo $! >"$DIR/pids/slurmd-$h.pid"
}

wait_nodes_idle() {  # nodes...
    local h
    for h in "$@"; do
        wait_for "node $h" "$(<"$DIR/pids/slurmd-$h.pid")" \
            ctl sh -c "sinfo -h -n $h -o %T | grep -Eq '^(idle|mixed|allocated)\$'" ||
            { show_log "$DIR/nodes/$h/slurmd.out"; show_log "$DIR/nodes/$h/slurmd.log"
              die "node $h not usable: $(ctl sinfo -h -n "$h" -o '%T %E' 2>&1)"; }
    done
}

check_can_run() {
    [ "$(id -u)" = 0 ] || skip "not root: the cluster needs network namespaces and runs its daemons as root"
    local b
    for b in /usr/sbin/munged /usr/sbin/mungekey /usr/bin/munge /usr/bin/unmunge /usr/sbin/slurmctld \
             /usr/sbin/slurmd /usr/bin/sinfo /usr/bin/sbatch /usr/bin/srun /usr/bin/ip /usr/bin/unshare \
             /usr/bin/nsenter /usr/bin/setpriv; do
        [ -x "$b" ] || skip "$b missing (tools/setup.sh --test installs slurmctld slurmd slurm-client munge iproute2)"
    done
    getent passwd munge >/dev/null || skip "no munge user (the munge package creates it)"
    case $DIR in /tmp|/tmp/*) die "DIR must not be under /tmp: the nodes get a private /tmp" ;; esac
    # Can we make namespaces at all (CAP_SYS_ADMIN, CAP_NET_ADMIN; a container needs --privileged)?
    local probe=pmnprobe$$
    if ! ip netns add "$probe" 2>"$DIR/probe.err"; then
        skip "cannot create a network namespace: $(head -1 "$DIR/probe.err")"
    fi
    local ok=1
    nsenter --net="/run/netns/$probe" unshare --uts --mount --propagation private true 2>"$DIR/probe.err" || ok=0
    ip netns del "$probe"
    [ $ok = 1 ] || skip "cannot enter a network namespace with its own mounts: $(head -1 "$DIR/probe.err")"
}

do_up() {
    mkdir -p "$DIR/pids"
    chmod 0755 "$DIR"
    check_can_run
    [ ! -s "$DIR/cluster.env" ] || die "$DIR already holds a cluster (down it first)"
    local r t0=$SECONDS
    r=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
    ID=$(printf '%06x' $((r & 0xffffff)))
    NET=10.$((200 + (r >> 24) % 50)).$(((r >> 8) & 255))
    NODES=${MN_NODES:-3}
    SMT=${MN_SMT_NODE:-1}
    PREFIX=pmn$ID
    printf 'ID=%s\nNET=%s\nNODES=%s\nSMT=%s\nPREFIX=%s\n' "$ID" "$NET" "$NODES" "$SMT" "$PREFIX" >"$DIR/cluster.env"
    # recorded before they exist, so that `down` removes whatever was made
    { ns_of head; for h in $(node_names); do ns_of "$h"; done; } >"$DIR/namespaces"
    net_up
    start_munged
    write_conf
    start_slurmctld
    local h
    for h in $(node_names); do start_slurmd "$h"; done
    # shellcheck disable=SC2046 # one argument per node
    wait_nodes_idle $(node_names)
    log "cluster $PREFIX up in $((SECONDS - t0)) s: head pshead $(addr_of head), nodes $(node_names | tr '\n' ' ')"
}

do_down() {
    [ -s "$DIR/cluster.env" ] || return 0
    load_env
    local h t0=$SECONDS
    mkdir -p "$DIR/pids"
    # cancel every job first: with proctrack/linuxproc, stopping slurmd alone
    # leaves slurmstepd and the tasks behind
    if pid_alive slurmctld /usr/sbin/slurmctld >/dev/null; then
        local jobs; jobs=$(ctl squeue -h -o %A 2>/dev/null | tr '\n' ' ' || true)
        if [ -n "${jobs// /}" ]; then
            log "cancelling jobs: $jobs"
            # shellcheck disable=SC2086 # a list of ids
            ctl scancel $jobs 2>/dev/null || true
            local deadline=$((SECONDS + 20))
            while [ -n "$(ctl squeue -h -t running,completing,suspended -o %A 2>/dev/null)" ] &&
                  [ $SECONDS -lt $deadline ]; do
                sleep 0.2
            done
        fi
    fi
    for h in $(node_names); do stop_pid "slurmd-$h" /usr/sbin/slurmd; done
    stop_pid slurmctld /usr/sbin/slurmctld
    stop_pid munged /usr/sbin/munged
    # leftovers in our namespaces (a crashed node's stepd, a stuck task): by PID
    for h in $(node_names) head; do kill_ns_pids "$(ns_of "$h")" TERM "$DIR/pids/leftover-$h.pids"; done
    sleep 0.5
    for h in $(node_names) head; do kill_ns_pids "$(ns_of "$h")" KILL "$DIR/pids/leftover-$h.pids"; done
    net_down
    rm -f "$DIR/cluster.env"
    log "cluster $PREFIX down in $((SECONDS - t0)) s"
}

do_status() {
    load_env
    local n pid
    for n in munged:/usr/sbin/munged slurmctld:/usr/sbin/slurmctld \
             $(for h in $(node_names); do echo "slurmd-$h:/usr/sbin/slurmd"; done); do
        if pid=$(pid_alive "${n%%:*}" "${n#*:}"); then echo "${n%%:*} pid $pid"; else echo "${n%%:*} not running"; fi
    done
    ip netns list | grep "^$PREFIX-" || true
    if pid_alive slurmctld /usr/sbin/slurmctld >/dev/null; then
        ctl sinfo -N -o '%N %P %T %E' || true
        ctl squeue || true
    fi
}

do_crash() {  # node
    load_env
    local h=$1 ns; ns=$(ns_of "$1")
    ns_exists "$ns" || die "no namespace $ns"
    # Unplug first: a node that loses power sends nothing, but processes killed
    # on a live kernel would close their connections and tell the peers at once.
    ip -n "$(ns_of head)" link set "v-$h" down
    ip -n "$ns" link set eth0 down
    log "$h: link down"
    kill_ns_pids "$ns" KILL "$DIR/crash-$h.pids"
    rm -f "$DIR/pids/slurmd-$h.pid"
}

do_start_node() {  # node
    load_env
    local h=$1
    ip -n "$(ns_of "$h")" link set eth0 up
    ip -n "$(ns_of head)" link set "v-$h" up
    start_slurmd "$h"
    wait_nodes_idle "$h"
    log "$h: back"
}

do_link() {  # node: the byte counters of its eth0 (/proc/net/dev is per network namespace)
    load_env
    nsenter --net="/run/netns/$(ns_of "$1")" cat /proc/net/dev | awk '$1 == "eth0:" { print $2, $10 }'
}

case $cmd in
    up) [ $# -eq 0 ] || usage; do_up ;;
    down) [ $# -eq 0 ] || usage; do_down ;;
    status) do_status ;;
    on) [ $# -ge 2 ] || usage; load_env; on_host "$@" ;;
    crash) [ $# -eq 1 ] || usage; do_crash "$1" ;;
    start-node) [ $# -eq 1 ] || usage; do_start_node "$1" ;;
    link) [ $# -eq 1 ] || usage; do_link "$1" ;;
    *) usage ;;
esac

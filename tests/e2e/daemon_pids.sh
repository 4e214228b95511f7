# daemon_pids.sh - PID bookkeeping of the test clusters' daemons, sourced by
# slurm_cluster.sh and multinode_cluster.sh. Every daemon runs in the
# foreground of a background job and its PID is written to PID_DIR/NAME.pid;
# a PID counts as "ours and alive" only if it is recorded there and
# /proc/PID/exe is the expected binary (guards against PID reuse), and only
# such PIDs are ever signalled. Nothing is stopped by name.
#
# The sourcing script sets PID_DIR and TIMEOUT (seconds) and defines log().

pid_alive() {  # name binary: print the PID of a live daemon we started
    local f="$PID_DIR/$1.pid" pid exe
    [ -s "$f" ] || return 1
    pid=$(<"$f")
    [ -d "/proc/$pid" ] || return 1
    exe=$(readlink -f "/proc/$pid/exe" 2>/dev/null) || return 1
    [ "$exe" = "$(readlink -f "$2")" ] || return 1
    grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null && return 1
    echo "$pid"
}

wait_for() {  # description, pid to watch (or ""), command...: until the command succeeds
    local what=$1 pid=$2; shift 2
    local deadline=$((SECONDS + TIMEOUT))
    until "$@" >/dev/null 2>&1; do
        [ -z "$pid" ] || [ -d "/proc/$pid" ] || { log "$what exited"; return 1; }
        [ $SECONDS -lt $deadline ] || { log "timed out after ${TIMEOUT}s waiting for $what"; return 1; }
        sleep 0.2
    done
}

wait_gone() {  # pid seconds
    local deadline=$((SECONDS + $2))
    while [ -d "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.1
    done
}

stop_pid() {  # name binary: SIGTERM, then SIGKILL after 20 s
    local pid
    if pid=$(pid_alive "$1" "$2"); then
        kill -TERM "$pid" 2>/dev/null || true
        if ! wait_gone "$pid" 20; then
            log "$1 (pid $pid) ignored SIGTERM for 20 s, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            wait_gone "$pid" 5 || true
        fi
        log "stopped $1 (pid $pid)"
    fi
    rm -f "$PID_DIR/$1.pid"
}

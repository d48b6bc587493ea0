#!/usr/bin/env bash
# galera-start.sh - start one MariaDB Galera member only when told how.
#
# The same script runs as the Galera StatefulSet's container command (Kubernetes) and, on
# hosts and in the test suite, as a small daemon driven by the galera_bootstrap module's
# host transport. It never decides to bootstrap on its own: a member waits until the
# module (which sees every member) writes a command, so a second Primary Component cannot
# appear because two members each thought they were first.
#
# Usage: galera-start.sh run | info | recover | command bootstrap|join | stop
#   run      wait in state "waiting" until a command arrives (or, with GALERA_PEERS, until
#            a peer answers: joining is always safe), then exec mariadbd:
#              bootstrap -> safe_to_bootstrap: 1 in grastate.dat, --wsrep-new-cluster
#              join      -> a normal start; Galera refuses to form a new component
#            with seqno -1 in grastate.dat the recovered position is passed as
#            --wsrep_start_position. mariadbd replaces this process (same pid).
#   info     print this member's state, one "section<TAB>data" line each:
#              control   pid=, alive=0|1, state=, mode=, since=
#              mariadbd  pid=, running=0|1
#              grastate  the lines of grastate.dat (section absent when there is no file)
#              status    <wsrep status variable><TAB><value> (only when mariadbd answers)
#   recover  run mariadbd --wsrep-recover (mariadbd must be stopped) and print
#              recovered<TAB><uuid>:<seqno>            exit 3 when no position was logged
#   command  hand a verb to the waiting "run" process (exit 4 when none is waiting)
#   stop     graceful shutdown (SIGTERM to mariadbd), waits until it has exited
#
# Environment (all optional; the defaults suit the container image):
#   GALERA_DEFAULTS_FILE    my.cnf given to mariadbd as --defaults-file  [/etc/mysql/my.cnf]
#                           datadir, socket and pid-file are read from its [mysqld] group
#   GALERA_CONTROL_DIR      protocol directory: pid, state, command, start.log
#                           (per pod: an emptyDir such as /run/mysqld survives container
#                           restarts, not pod deletion)         [/run/mysqld/galera-control]
#   GALERA_MARIADBD         server binary                                        [mariadbd]
#   GALERA_MARIADBD_ARGS    extra server arguments (word-split)                          []
#   GALERA_CLUSTER_ADDRESS  passed as --wsrep_cluster_address (e.g. gcomm://galera-0.svc,...)
#   GALERA_NODE_ADDRESS     passed as --wsrep_node_address (e.g. the pod IP)             []
#   GALERA_NODE_NAME        passed as --wsrep_node_name (e.g. the pod name)               []
#   GALERA_CLIENT           client binary used by "info"                          [mariadb]
#   GALERA_CLIENT_USER      client user over the unix socket (unix_socket auth) [id -un]
#   GALERA_CLIENT_DEFAULTS  a client option file (credentials) used instead of the above []
#   MARIADB_ROOT_PASSWORD   when set (and no GALERA_CLIENT_DEFAULTS), "info" logs in as root
#                           with it over the socket (passed in MYSQL_PWD, never on argv)
#   MARIADB_ROOT_PASSWORD_FILE  the same, read from this file (a Secret volume) when
#                           MARIADB_ROOT_PASSWORD is not set; unreadable: a status_error line
#   GALERA_MY_PRINT_DEFAULTS  option file reader                     [my_print_defaults]
#   GALERA_RUN_AS           user mariadbd drops to when started as root            [mysql]
#   GALERA_PEERS            host:port list (comma separated) of the peers' Galera
#                           replication ports; "run" joins by itself once one answers  []
#   GALERA_POLL_INTERVAL    seconds between checks while waiting                      [1]
#   GALERA_WAIT_TIMEOUT     give up waiting after this many seconds (0 = never)       [0]
#   GALERA_STOP_TIMEOUT     seconds "stop" waits for mariadbd to exit                [300]
#   GALERA_DAEMONIZE        1: "run" detaches (setsid, output to start.log) and returns
#                           at once - how a host transport starts a member without
#                           keeping the caller's stdout open                           [0]
#
# Exit codes: 0 ok, 2 usage/config error, 3 no recovered position, 4 no waiting run
# process, 5 refused (mariadbd running, or a run process already active), 6 timeout.
set -u -o pipefail

DEFAULTS_FILE=${GALERA_DEFAULTS_FILE:-/etc/mysql/my.cnf}
CONTROL_DIR=${GALERA_CONTROL_DIR:-/run/mysqld/galera-control}
MARIADBD=${GALERA_MARIADBD:-mariadbd}
CLIENT=${GALERA_CLIENT:-mariadb}
MY_PRINT_DEFAULTS=${GALERA_MY_PRINT_DEFAULTS:-my_print_defaults}
RUN_AS=${GALERA_RUN_AS:-mysql}
POLL_INTERVAL=${GALERA_POLL_INTERVAL:-1}
WAIT_TIMEOUT=${GALERA_WAIT_TIMEOUT:-0}
STOP_TIMEOUT=${GALERA_STOP_TIMEOUT:-300}
export LANG=C LC_ALL=C

log() { printf '%s galera-start[%s]: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$$" "$*" >&2; }
die() { log "ERROR: $2"; exit "$1"; }

server_option() {
    # last value of --$1 in the [mysqld]/[server]/[mariadbd]/[galera] groups of the defaults file
    "$MY_PRINT_DEFAULTS" --defaults-file="$DEFAULTS_FILE" mysqld server mariadbd galera 2>/dev/null |
        sed -n "s/^--$1=//p" | tail -n 1
}

load_paths() {
    [ -r "$DEFAULTS_FILE" ] || die 2 "GALERA_DEFAULTS_FILE $DEFAULTS_FILE is not readable"
    DATADIR=$(server_option datadir)
    DATADIR=${DATADIR:-/var/lib/mysql}
    DATADIR=${DATADIR%/}
    SOCKET=$(server_option socket)
    SOCKET=${SOCKET:-/run/mysqld/mysqld.sock}
    PID_FILE=$(server_option pid-file)
    [ -n "$PID_FILE" ] || PID_FILE=$(server_option pid_file)
    PID_FILE=${PID_FILE:-$(hostname).pid}
    case $PID_FILE in /*) ;; *) PID_FILE=$DATADIR/$PID_FILE ;; esac
    GRASTATE=$DATADIR/grastate.dat
}

pid_alive() {
    # a zombie (exited, not yet reaped - PID 1 of a container may never reap) is not alive
    local stat
    [ -n "${1:-}" ] || return 1
    if [ -d /proc/self ]; then
        stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
        stat=${stat##*) }
        [ "${stat%% *}" != Z ]
    else
        kill -0 "$1" 2>/dev/null
    fi
}

mariadbd_pid() {
    local pid
    pid=$(cat "$PID_FILE" 2>/dev/null) || return 1
    pid_alive "$pid" || return 1
    # a stale pid file may name an unrelated process that reused the pid
    if [ -r "/proc/$pid/comm" ]; then
        case $(cat "/proc/$pid/comm") in mariadbd | mysqld) ;; *) return 1 ;; esac
    fi
    printf '%s\n' "$pid"
}

control_pid() {
    local pid
    pid=$(cat "$CONTROL_DIR/pid" 2>/dev/null) || return 1
    pid_alive "$pid" || return 1
    printf '%s\n' "$pid"
}

write_state() {
    # state file is replaced atomically so a reader never sees half of it
    printf 'state=%s\nmode=%s\nsince=%s\npid=%s\n' "$1" "${2:-}" "$(date -u +%s)" "$$" >"$CONTROL_DIR/state.tmp.$$" &&
        mv -f "$CONTROL_DIR/state.tmp.$$" "$CONTROL_DIR/state"
}

state_value() { sed -n "s/^$1=//p" "$CONTROL_DIR/state" 2>/dev/null | tail -n 1; }

grastate_value() { sed -n "s/^$1:[[:space:]]*//p" "$GRASTATE" 2>/dev/null | tail -n 1; }

run_as_args() { if [ "$(id -u)" = 0 ]; then printf -- '--user=%s\n' "$RUN_AS"; fi; }

recover_position() {
    # prints uuid:seqno recovered from the storage engine; returns 3 when none was logged
    local logfile position rc
    logfile=$(mktemp "${TMPDIR:-/tmp}/galera-recover.XXXXXX") || die 2 "cannot create a temporary file"
    if [ "$(id -u)" = 0 ]; then chown "$RUN_AS" "$logfile"; fi
    # shellcheck disable=SC2046,SC2086
    "$MARIADBD" --defaults-file="$DEFAULTS_FILE" $(run_as_args) --wsrep-recover \
        --log-error="$logfile" ${GALERA_MARIADBD_ARGS:-} </dev/null >/dev/null 2>&1
    rc=$?
    position=$(sed -n 's/.*WSREP: Recovered position:[[:space:]]*\([0-9a-f-]\{36\}:-\{0,1\}[0-9]\{1,\}\).*/\1/p' "$logfile" | tail -n 1)
    if [ -z "$position" ]; then
        log "no recovered position (mariadbd --wsrep-recover exit $rc); its log:"
        tail -n 20 "$logfile" >&2
        rm -f "$logfile"
        return 3
    fi
    rm -f "$logfile"
    printf '%s\n' "$position"
}

set_safe_to_bootstrap() {
    # rewrite in place (not sed -i): the file keeps its owner, mariadbd must still write it
    local content
    [ -f "$GRASTATE" ] || return 0
    content=$(sed 's/^safe_to_bootstrap:.*/safe_to_bootstrap: 1/' "$GRASTATE") || return 1
    printf '%s\n' "$content" >"$GRASTATE"
}

peer_answers() {
    local peer host port
    [ -n "${GALERA_PEERS:-}" ] || return 1
    for peer in ${GALERA_PEERS//,/ }; do
        host=${peer%:*}
        port=${peer##*:}
        if timeout 2 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null; then
            log "peer $peer answers"
            return 0
        fi
    done
    return 1
}

cmd_run() {
    local verb="" started line pid position extra=()
    if [ "${GALERA_DAEMONIZE:-0}" = 1 ] && [ -z "${_GALERA_DETACHED:-}" ]; then
        mkdir -p "$CONTROL_DIR" || die 2 "cannot create GALERA_CONTROL_DIR $CONTROL_DIR"
        _GALERA_DETACHED=1 setsid "$BASH" "$0" run </dev/null >>"$CONTROL_DIR/start.log" 2>&1 &
        printf 'started\t%s\n' "$!"
        exit 0
    fi
    load_paths
    mkdir -p "$CONTROL_DIR" || die 2 "cannot create GALERA_CONTROL_DIR $CONTROL_DIR"
    if pid=$(control_pid) && [ "$pid" != "$$" ]; then die 5 "another run process ($pid) owns $CONTROL_DIR"; fi
    if pid=$(mariadbd_pid); then die 5 "mariadbd ($pid) is already running"; fi
    printf '%s\n' "$$" >"$CONTROL_DIR/pid"
    if [ -e "$CONTROL_DIR/command" ]; then
        log "discarding a stale command: $(cat "$CONTROL_DIR/command")"
        rm -f "$CONTROL_DIR/command"
    fi
    write_state waiting
    log "waiting for a command in $CONTROL_DIR/command (datadir $DATADIR)"
    started=$(date +%s)
    while [ -z "$verb" ]; do
        if [ -e "$CONTROL_DIR/command" ]; then
            read -r line pid <"$CONTROL_DIR/command" || true
            rm -f "$CONTROL_DIR/command"
            if [ "${pid:-}" != "$$" ]; then
                log "ignoring command '$line' addressed to run process ${pid:-?}"
            elif [ "$line" = bootstrap ] || [ "$line" = join ]; then
                verb=$line
                log "command: $verb"
                break
            else
                log "ignoring unknown command '$line'"
            fi
        fi
        if peer_answers; then
            verb="join"
            break
        fi
        if [ "$WAIT_TIMEOUT" != 0 ] && [ $(( $(date +%s) - started )) -ge "$WAIT_TIMEOUT" ]; then
            write_state timeout
            rm -f "$CONTROL_DIR/pid"
            die 6 "no command within ${WAIT_TIMEOUT}s"
        fi
        sleep "$POLL_INTERVAL"
    done
    write_state starting "$verb"
    if [ -f "$GRASTATE" ] && [ "$(grastate_value seqno)" = -1 ] &&
        [ "$(grastate_value uuid)" != 00000000-0000-0000-0000-000000000000 ]; then
        if position=$(recover_position); then
            log "recovered position $position"
            extra+=("--wsrep_start_position=$position")
        fi
    fi
    if [ "$verb" = bootstrap ]; then
        set_safe_to_bootstrap || die 2 "cannot write $GRASTATE"
        extra+=(--wsrep-new-cluster)
        log "starting mariadbd as a NEW CLUSTER (bootstrap command) ${extra[*]}"
    else
        log "starting mariadbd to join the cluster ${extra[*]}"
    fi
    if [ -n "${GALERA_CLUSTER_ADDRESS:-}" ]; then extra+=("--wsrep_cluster_address=$GALERA_CLUSTER_ADDRESS"); fi
    if [ -n "${GALERA_NODE_ADDRESS:-}" ]; then extra+=("--wsrep_node_address=$GALERA_NODE_ADDRESS"); fi
    if [ -n "${GALERA_NODE_NAME:-}" ]; then extra+=("--wsrep_node_name=$GALERA_NODE_NAME"); fi
    # shellcheck disable=SC2046,SC2086
    exec "$MARIADBD" --defaults-file="$DEFAULTS_FILE" $(run_as_args) "${extra[@]}" ${GALERA_MARIADBD_ARGS:-}
}

cmd_info() {
    local pid alive=0 running=0 cpid="" mpid="" sql_status
    load_paths
    if cpid=$(control_pid); then alive=1; else cpid=$(cat "$CONTROL_DIR/pid" 2>/dev/null || true); fi
    if mpid=$(mariadbd_pid); then running=1; else mpid=""; fi
    printf 'control\tpid=%s\n' "$cpid"
    printf 'control\talive=%s\n' "$alive"
    printf 'control\tstate=%s\n' "$(state_value state)"
    printf 'control\tmode=%s\n' "$(state_value mode)"
    printf 'control\tsince=%s\n' "$(state_value since)"
    printf 'mariadbd\tpid=%s\n' "$mpid"
    printf 'mariadbd\trunning=%s\n' "$running"
    printf 'mariadbd\tdatadir=%s\n' "$DATADIR"
    if [ -f "$GRASTATE" ]; then
        [ -r "$GRASTATE" ] || die 2 "$GRASTATE is not readable"
        sed 's/^/grastate\t/' "$GRASTATE"
    fi
    if [ "$running" = 1 ] && [ -S "$SOCKET" ]; then
        if [ -n "${GALERA_CLIENT_DEFAULTS:-}" ]; then
            set -- --defaults-file="$GALERA_CLIENT_DEFAULTS"
        elif [ -n "${MARIADB_ROOT_PASSWORD:-}" ]; then
            export MYSQL_PWD="$MARIADB_ROOT_PASSWORD"
            set -- --no-defaults --user=root
        elif [ -n "${MARIADB_ROOT_PASSWORD_FILE:-}" ]; then
            if ! MYSQL_PWD=$(cat "$MARIADB_ROOT_PASSWORD_FILE" 2>/dev/null); then
                printf 'status_error\tMARIADB_ROOT_PASSWORD_FILE %s is not readable\n' "$MARIADB_ROOT_PASSWORD_FILE"
                return 0
            fi
            export MYSQL_PWD
            set -- --no-defaults --user=root
        else
            set -- --no-defaults --user="${GALERA_CLIENT_USER:-$(id -un)}"
        fi
        if sql_status=$(timeout 10 "$CLIENT" "$@" --socket="$SOCKET" --batch --skip-column-names \
            --connect-timeout=5 -e "SHOW GLOBAL STATUS LIKE 'wsrep%'" 2>&1); then
            printf '%s\n' "$sql_status" | sed 's/^/status\t/'
        else
            printf 'status_error\t%s\n' "$(printf '%s' "$sql_status" | tr '\n\t' '  ')"
        fi
    fi
}

cmd_recover() {
    local pid position
    load_paths
    if pid=$(mariadbd_pid); then die 5 "mariadbd ($pid) is running; --wsrep-recover needs it stopped"; fi
    if [ "$(state_value state)" = starting ] && control_pid >/dev/null; then die 5 "the member is starting"; fi
    position=$(recover_position) || exit 3
    printf '%s\n' "$position" >"$CONTROL_DIR/recovered" 2>/dev/null || true
    printf 'recovered\t%s\n' "$position"
}

cmd_command() {
    local verb=${1:-} pid
    case $verb in bootstrap | join) ;; *) die 2 "usage: $0 command bootstrap|join" ;; esac
    load_paths
    pid=$(control_pid) || die 4 "no run process is waiting in $CONTROL_DIR"
    [ "$(state_value state)" = waiting ] || die 4 "run process $pid is in state '$(state_value state)', not waiting"
    printf '%s %s\n' "$verb" "$pid" >"$CONTROL_DIR/command.tmp.$$" && mv -f "$CONTROL_DIR/command.tmp.$$" "$CONTROL_DIR/command"
    printf 'command\t%s %s\n' "$verb" "$pid"
}

cmd_stop() {
    local pid waited=0
    load_paths
    pid=$(mariadbd_pid) || { printf 'stopped\tnot running\n'; return 0; }
    kill -TERM "$pid"
    while pid_alive "$pid"; do
        [ "$waited" -ge $((STOP_TIMEOUT * 5)) ] && die 6 "mariadbd ($pid) still running after ${STOP_TIMEOUT}s"
        sleep 0.2
        waited=$((waited + 1))
    done
    printf 'stopped\t%s\n' "$pid"
}

case ${1:-run} in
    run) cmd_run ;;
    info) cmd_info ;;
    recover) cmd_recover ;;
    command) shift; cmd_command "$@" ;;
    stop) cmd_stop ;;
    *) die 2 "usage: $0 run|info|recover|command bootstrap|join|stop" ;;
esac

#!/usr/bin/env bash
# openstack-backup.sh - logical backup and restore of the OpenStack databases.
#
# The same script runs as the command of a Kubernetes Job (MariaDB client image, the backup
# volume mounted, the password from the credentials Secret through secretKeyRef) and on a
# host or in the test suite (the openstack_backup/openstack_restore modules run it with
# run_command). Everything it needs comes from the environment; the password is only read
# from DB_PASSWORD and handed to the client tools in a private option file, never on a
# command line, never printed.
#
# Usage: openstack-backup.sh backup | restore | inspect | verify | list | prune [--dry-run]
#   backup   refuse unless the server is healthy (Galera: Primary, Synced, cluster size
#            >= BACKUP_MIN_CLUSTER_SIZE); checksum every table (CHECKSUM TABLE + COUNT(*)),
#            dump every database with mariadb-dump --single-transaction (gzip), checksum
#            again; a table whose checksum did not move is "verified" (the dump holds exactly
#            that content), one written to meanwhile is "changed". Files of BACKUP_EXTRA_DIR
#            (etcd tree, encrypted credentials) are copied in. Writes SHA256SUMS,
#            checksums.tsv and manifest.json, then renames .<run>.partial to <run>: a run
#            directory without a leading dot is complete. Then applies retention (prune).
#   restore  verify the run's SHA256SUMS, refuse a database that exists with tables unless
#            RESTORE_FORCE=1, load each dump, then compare every table with checksums.tsv
#            (verified tables: rows and checksum; all: the set of tables) - exit 7 on a mismatch.
#   inspect  print the server's health and the rows and checksum of every table of the
#            BACKUP_DATABASES the server has (default every non-system database).
#   verify   check a run's files against SHA256SUMS.
#   list     print every run under BACKUP_ROOT with its state and the retention decision.
#   prune    delete the runs retention does not keep (--dry-run: only print the decision).
#
# Output (stdout, one record per line, tab separated; logs go to stderr):
#   run       <name> <directory>
#   server    <version>
#   wsrep     <on|off> <state comment> <cluster status> <cluster size>
#   database  <name> <tables> [<file> <sha256>]
#   table     <database> <table> <rows> <checksum> [verified|changed]
#   mismatch  <database> <table> <expected rows>/<checksum> <found rows>/<checksum>
#   refused   <database> <tables>
#   health    ok | refused <reason>   (inspect)
#   retention <run> <complete|incomplete> <keep|delete> <reason>
#   deleted   <run>
#   result    ok
#
# Environment:
#   BACKUP_ROOT              directory with one subdirectory per run              [/backup]
#   BACKUP_RUN               run name, [A-Za-z0-9._-]; backup: default the UTC time
#                            YYYYmmddTHHMMSSZ; restore/verify: required
#   BACKUP_DATABASES         databases (comma or space separated); empty: every database
#                            except mysql, information_schema, performance_schema, sys
#   BACKUP_RELEASE           OpenStack release recorded in the manifest               []
#   BACKUP_EXTRA_DIR         directory whose regular files are copied into the run   []
#   BACKUP_EXTRA_MANIFEST    a JSON object file embedded as "extra" in manifest.json  []
#   BACKUP_SKIP_DATABASES    1: no database part (a run of the extra files only)       [0]
#   BACKUP_REQUIRE_GALERA    1: refuse a server without wsrep; 0: allow a plain server [1]
#   BACKUP_MIN_CLUSTER_SIZE  refuse when wsrep_cluster_size is lower                  [1]
#   BACKUP_KEEP              retention: keep the newest N complete runs (0: no limit)   [7]
#   BACKUP_MAX_AGE_DAYS      retention: delete complete runs older than this (0: never),
#                            the newest complete run is always kept                    [0]
#   BACKUP_PENDING_RUNS      retention: count this many newer runs (check mode)      [0]
#   BACKUP_NOW               retention: "now" as epoch seconds (tests)          [date +%s]
#   RESTORE_DATABASES        restore only these (default every database of the run)   []
#   RESTORE_FORCE            1: replace databases that already have tables            [0]
#   DB_HOST DB_PORT DB_USER  connection (TCP); DB_SOCKET instead of host/port  [-, 3306, root]
#   DB_PASSWORD              the password (from a secretKeyRef); never on a command line
#   BACKUP_CLIENT            client binary                                        [mariadb]
#   BACKUP_DUMP              dump binary                                     [mariadb-dump]
#
# Exit codes: 0 ok, 2 usage/configuration error, 3 server unhealthy (refused), 4 run not
# found or incomplete, 5 target not empty (refused), 6 a file does not match SHA256SUMS,
# 7 verification after restore failed, 8 a database command failed.
set -u -o pipefail
umask 077
export LANG=C LC_ALL=C

SCRIPT_VERSION=1
BACKUP_ROOT=${BACKUP_ROOT:-/backup}
CLIENT=${BACKUP_CLIENT:-mariadb}
DUMP=${BACKUP_DUMP:-mariadb-dump}
SYSTEM_DATABASES=" mysql information_schema performance_schema sys "
NAME_RE='^[A-Za-z0-9_$-]+$'
RUN_RE='^[A-Za-z0-9][A-Za-z0-9._-]*$'

log() { printf '%s openstack-backup[%s]: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$$" "$*" >&2; }
die() { log "ERROR: $2"; exit "$1"; }
emit() { local IFS=$'\t'; printf '%s\n' "$*"; }

PRIVATE_DIR=
PARTIAL_DIR=
cleanup() {
    [ -z "$PRIVATE_DIR" ] || rm -rf "$PRIVATE_DIR"
    # a failed backup leaves nothing half-written behind (a killed one is pruned later)
    [ -z "$PARTIAL_DIR" ] || rm -rf -- "$PARTIAL_DIR"
}
trap cleanup EXIT

client_options() {
    # a private option file, so the password is never in argv or in the environment of children
    PRIVATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/openstack-backup.XXXXXX") || die 2 "cannot create a private temporary directory"
    chmod 700 "$PRIVATE_DIR"
    OPTIONS_FILE=$PRIVATE_DIR/client.cnf
    {
        printf '[client]\n'
        printf 'user=%s\n' "${DB_USER:-root}"
        if [ -n "${DB_SOCKET:-}" ]; then
            printf 'socket=%s\nprotocol=SOCKET\n' "$DB_SOCKET"
        else
            [ -n "${DB_HOST:-}" ] || die 2 "set DB_HOST (and DB_PORT) or DB_SOCKET"
            printf 'host=%s\nport=%s\nprotocol=TCP\n' "$DB_HOST" "${DB_PORT:-3306}"
        fi
        if [ -n "${DB_PASSWORD:-}" ]; then
            # option files treat a quoted value literally except for backslash escapes
            printf 'password="%s"\n' "$(printf '%s' "$DB_PASSWORD" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"
        fi
    } >"$OPTIONS_FILE"
    chmod 600 "$OPTIONS_FILE"
    unset DB_PASSWORD MYSQL_PWD
}

sql() {
    # run SQL from stdin or $1, batch output without column names
    if [ $# -gt 0 ]; then
        "$CLIENT" --defaults-extra-file="$OPTIONS_FILE" --batch --skip-column-names --raw -e "$1"
    else
        "$CLIENT" --defaults-extra-file="$OPTIONS_FILE" --batch --skip-column-names --raw
    fi
}

check_name() { [[ $2 =~ $NAME_RE ]] || die 2 "$1 name '$2' has characters other than A-Z a-z 0-9 _ \$ -; rename it or exclude it"; }

json_string() {
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\t'/\\t}
    s=${s//$'\n'/\\n}
    s=${s//$'\r'/\\r}
    printf '"%s"' "$s"
}

require_run_name() {
    [ -n "${BACKUP_RUN:-}" ] || die 2 "BACKUP_RUN is required (a run directory under $BACKUP_ROOT)"
    [[ $BACKUP_RUN =~ $RUN_RE ]] || die 2 "BACKUP_RUN '$BACKUP_RUN' must match $RUN_RE"
}

server_state() {
    # sets SERVER_VERSION WSREP_ON WSREP_STATE WSREP_STATUS WSREP_SIZE
    local line key value
    SERVER_VERSION=$(sql "SELECT VERSION()") || die 8 "cannot connect to the database server (check DB_HOST/DB_PORT/DB_SOCKET, DB_USER and DB_PASSWORD)"
    WSREP_ON=off WSREP_STATE='' WSREP_STATUS='' WSREP_SIZE=0
    while IFS=$'\t' read -r key value; do
        case ${key,,} in
            wsrep_on) [ "${value^^}" = ON ] && WSREP_ON=on ;;
            wsrep_local_state_comment) WSREP_STATE=$value ;;
            wsrep_cluster_status) WSREP_STATUS=$value ;;
            wsrep_cluster_size) WSREP_SIZE=$value ;;
        esac
    done < <(sql "SHOW GLOBAL VARIABLES LIKE 'wsrep_on'; SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state_comment','wsrep_cluster_status','wsrep_cluster_size')")
    emit server "$SERVER_VERSION"
    emit wsrep "$WSREP_ON" "${WSREP_STATE:--}" "${WSREP_STATUS:--}" "$WSREP_SIZE"
}

health_problem() {
    # prints why the server must not be backed up or restored into; nothing when it is healthy
    local min=${BACKUP_MIN_CLUSTER_SIZE:-1}
    if [ "$WSREP_ON" != on ]; then
        [ "${BACKUP_REQUIRE_GALERA:-1}" = 0 ] || echo "the server is not a Galera member (wsrep_on is OFF); set BACKUP_REQUIRE_GALERA=0 (require_galera: false) for a plain MariaDB server"
    elif [ "$WSREP_STATUS" != Primary ]; then
        echo "this Galera member is not in a Primary Component (wsrep_cluster_status=$WSREP_STATUS); recover the cluster first (playbooks/galera_recover.yml)"
    elif [ "$WSREP_STATE" != Synced ]; then
        echo "this Galera member is $WSREP_STATE, not Synced; wait until it is Synced or use another member"
    elif [ "$WSREP_SIZE" -lt "$min" ]; then
        echo "the Galera cluster has $WSREP_SIZE members, fewer than the required $min; bring every member back first (playbooks/galera_recover.yml)"
    fi
}

require_healthy() {
    local problem
    problem=$(health_problem)
    [ -z "$problem" ] || die 3 "refusing: $problem"
}

list_databases() {
    # the requested databases, or every non-system database; each checked for a safe name.
    # With "present" (inspect), requested databases the server does not have are skipped.
    local db all mode=${1:-}
    all=$(sql "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME") || die 8 "cannot list databases"
    if [ -n "${BACKUP_DATABASES:-}" ]; then
        for db in ${BACKUP_DATABASES//,/ }; do
            check_name database "$db"
            if ! grep -qxF -- "$db" <<<"$all"; then
                [ "$mode" = present ] && continue
                die 2 "database '$db' (BACKUP_DATABASES) does not exist on the server"
            fi
            printf '%s\n' "$db"
        done | sort -u
        return
    fi
    while read -r db; do
        [ -n "$db" ] || continue
        case $SYSTEM_DATABASES in *" $db "*) continue ;; esac
        check_name database "$db"
        printf '%s\n' "$db"
    done <<<"$all"
}

table_checksums() {
    # "db<TAB>table<TAB>rows<TAB>checksum" for every base table of the given databases
    local db table tables query='' result
    for db in "$@"; do
        tables=$(sql "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA='$db' AND TABLE_TYPE='BASE TABLE' ORDER BY TABLE_NAME") || return 8
        while read -r table; do
            [ -n "$table" ] || continue
            check_name table "$table"
            query+="SELECT '$db', '$table', COUNT(*) FROM \`$db\`.\`$table\`; CHECKSUM TABLE \`$db\`.\`$table\` EXTENDED;"$'\n'
        done <<<"$tables"
    done
    [ -n "$query" ] || return 0
    # output alternates: db table rows / db.table checksum
    result=$(sql <<<"$query") || return 8
    awk -F'\t' 'NR % 2 == 1 { key = $1 "\t" $2; rows = $3; next } { print key "\t" rows "\t" ($2 == "" ? "NULL" : $2) }' <<<"$result"
}

# -- retention -------------------------------------------------------------------------
run_epoch() {
    # epoch seconds of a run named YYYYmmddTHHMMSSZ..., or of its manifest's mtime
    local name=$1 stamp
    if [[ ${name#.} =~ ^([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z ]]; then
        stamp="${BASH_REMATCH[1]}-${BASH_REMATCH[2]}-${BASH_REMATCH[3]} ${BASH_REMATCH[4]}:${BASH_REMATCH[5]}:${BASH_REMATCH[6]} UTC"
        date -u -d "$stamp" +%s 2>/dev/null && return
    fi
    stat -c %Y "$BACKUP_ROOT/$name/manifest.json" 2>/dev/null || stat -c %Y "$BACKUP_ROOT/$name"
}

retention() {
    # one "retention" record per run directory, newest first; sets TO_DELETE
    local keep=${BACKUP_KEEP:-7} max_age=${BACKUP_MAX_AGE_DAYS:-0} now=${BACKUP_NOW:-$(date +%s)}
    local entry name epoch complete=${BACKUP_PENDING_RUNS:-0} newest_complete='' runs=() sorted
    # BACKUP_PENDING_RUNS (check mode): that many newer complete runs are about to exist
    [ "$complete" -eq 0 ] || newest_complete=pending
    [[ $keep =~ ^[0-9]+$ ]] || die 2 "BACKUP_KEEP must be a non-negative integer, got '$keep'"
    [[ $max_age =~ ^[0-9]+$ ]] || die 2 "BACKUP_MAX_AGE_DAYS must be a non-negative integer, got '$max_age'"
    [ "$keep" -gt 0 ] || [ "$max_age" -gt 0 ] || log "retention disabled (BACKUP_KEEP=0 and BACKUP_MAX_AGE_DAYS=0): every run is kept"
    TO_DELETE=()
    [ -d "$BACKUP_ROOT" ] || return 0
    for entry in "$BACKUP_ROOT"/* "$BACKUP_ROOT"/.*.partial; do
        [ -d "$entry" ] || continue
        name=${entry##*/}
        runs+=("$(run_epoch "$name")"$'\t'"$name")
    done
    sorted=$(printf '%s\n' "${runs[@]+"${runs[@]}"}" | sort -t $'\t' -k1,1nr -k2,2r)
    while IFS=$'\t' read -r epoch name; do
        [ -n "$name" ] || continue
        if [[ $name == .*.partial ]]; then
            # an interrupted run (its process is gone when a newer run exists or it is older than a day)
            if [ -n "$newest_complete" ] || [ $((now - epoch)) -gt 86400 ]; then
                emit retention "$name" incomplete delete "interrupted run"
                TO_DELETE+=("$name")
            else
                emit retention "$name" incomplete keep "may still be running"
            fi
            continue
        fi
        if [ ! -f "$BACKUP_ROOT/$name/manifest.json" ]; then
            emit retention "$name" incomplete keep "no manifest.json: not a run of this script, left alone"
            continue
        fi
        complete=$((complete + 1))
        if [ -z "$newest_complete" ]; then
            newest_complete=$name
            emit retention "$name" complete keep "newest complete run"
        elif [ "$keep" -gt 0 ] && [ "$complete" -gt "$keep" ]; then
            emit retention "$name" complete delete "beyond the newest $keep"
            TO_DELETE+=("$name")
        elif [ "$max_age" -gt 0 ] && [ $((now - epoch)) -gt $((max_age * 86400)) ]; then
            emit retention "$name" complete delete "older than $max_age days"
            TO_DELETE+=("$name")
        else
            emit retention "$name" complete keep "within retention"
        fi
    done <<<"$sorted"
}

cmd_prune() {
    local name
    retention
    [ "${1:-}" = --dry-run ] && { emit result ok; return 0; }
    for name in "${TO_DELETE[@]+"${TO_DELETE[@]}"}"; do
        rm -rf -- "${BACKUP_ROOT:?}/$name" || die 2 "cannot delete $BACKUP_ROOT/$name"
        emit deleted "$name"
        log "deleted $BACKUP_ROOT/$name"
    done
    emit result ok
}

# -- backup ----------------------------------------------------------------------------
cmd_backup() {
    local run=${BACKUP_RUN:-$(date -u +%Y%m%dT%H%M%SZ)} dir partial db file sum before after line
    local dump_version client_version created databases=() first listed
    BACKUP_RUN=$run
    require_run_name
    [ -d "$BACKUP_ROOT" ] || mkdir -p "$BACKUP_ROOT" || die 2 "cannot create BACKUP_ROOT $BACKUP_ROOT"
    dir=$BACKUP_ROOT/$run
    partial=$BACKUP_ROOT/.$run.partial
    [ ! -e "$dir" ] || die 5 "run $run already exists in $BACKUP_ROOT; choose another BACKUP_RUN"
    if [ -n "${BACKUP_EXTRA_MANIFEST:-}" ] && [ ! -r "$BACKUP_EXTRA_MANIFEST" ]; then
        die 2 "BACKUP_EXTRA_MANIFEST $BACKUP_EXTRA_MANIFEST is not readable"
    fi
    if [ "${BACKUP_SKIP_DATABASES:-0}" = 1 ]; then
        SERVER_VERSION='' WSREP_ON=off WSREP_STATE='' WSREP_STATUS='' WSREP_SIZE=0
    else
        client_options
        server_state
        require_healthy
        listed=$(list_databases) || exit $?
        [ -z "$listed" ] || mapfile -t databases <<<"$listed"
        [ "${#databases[@]}" -gt 0 ] || log "no database to back up"
    fi
    rm -rf -- "$partial"
    PARTIAL_DIR=$partial
    mkdir -p "$partial/databases" || die 2 "cannot create $partial"
    created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    emit run "$run" "$dir"
    before=''
    [ "${#databases[@]}" -eq 0 ] || before=$(table_checksums "${databases[@]}") || die 8 "CHECKSUM TABLE failed before the dump"
    for db in "${databases[@]+"${databases[@]}"}"; do
        file=databases/$db.sql.gz
        log "dumping $db"
        "$DUMP" --defaults-extra-file="$OPTIONS_FILE" --single-transaction --quick --routines --triggers --events \
            --hex-blob --skip-dump-date --skip-add-locks --add-drop-database --default-character-set=utf8mb4 --databases "$db" |
            gzip -6 >"$partial/$file" || die 8 "mariadb-dump of $db failed"
    done
    after=''
    [ "${#databases[@]}" -eq 0 ] || after=$(table_checksums "${databases[@]}") || die 8 "CHECKSUM TABLE failed after the dump"
    # verified: the table did not change while it was dumped, so the dump holds exactly this checksum
    while IFS=$'\t' read -r db table rows sum; do
        [ -n "$db" ] || continue
        if grep -qxF -- "$db"$'\t'"$table"$'\t'"$rows"$'\t'"$sum" <<<"$before"; then state=verified; else state=changed; fi
        printf '%s\t%s\t%s\t%s\t%s\n' "$db" "$table" "$rows" "$sum" "$state"
    done <<<"$after" >"$partial/checksums.tsv"
    if [ -n "${BACKUP_EXTRA_DIR:-}" ]; then
        [ -d "$BACKUP_EXTRA_DIR" ] || die 2 "BACKUP_EXTRA_DIR $BACKUP_EXTRA_DIR is not a directory"
        for file in "$BACKUP_EXTRA_DIR"/*; do
            [ -f "$file" ] || continue
            case ${file##*/} in manifest.json | SHA256SUMS | checksums.tsv | databases) die 2 "BACKUP_EXTRA_DIR holds ${file##*/}, a name the run uses itself" ;; esac
            cp -- "$file" "$partial/" || die 2 "cannot copy $file"
        done
    fi
    (cd "$partial" && find . -type f ! -name SHA256SUMS ! -name manifest.json -printf '%P\n' | sort | xargs -r -d '\n' sha256sum) \
        >"$partial/SHA256SUMS" || die 2 "sha256sum failed"
    dump_version=$("$DUMP" --version 2>/dev/null | head -n 1)
    client_version=$("$CLIENT" --version 2>/dev/null | head -n 1)
    {
        printf '{\n  "format": "openstack_k8s.deploy/backup",\n  "format_version": 1,\n'
        printf '  "run": %s,\n  "created": %s,\n  "release": %s,\n' "$(json_string "$run")" "$(json_string "$created")" "$(json_string "${BACKUP_RELEASE:-}")"
        printf '  "method": "mariadb-dump --single-transaction",\n'
        printf '  "server": {"version": %s, "wsrep_on": %s, "wsrep_state": %s, "wsrep_cluster_status": %s, "wsrep_cluster_size": %s},\n' \
            "$(json_string "$SERVER_VERSION")" "$([ "$WSREP_ON" = on ] && echo true || echo false)" "$(json_string "$WSREP_STATE")" \
            "$(json_string "$WSREP_STATUS")" "$((WSREP_SIZE + 0))"
        printf '  "tools": {"mariadb-dump": %s, "mariadb": %s, "openstack-backup.sh": %s},\n' \
            "$(json_string "$dump_version")" "$(json_string "$client_version")" "$(json_string "$SCRIPT_VERSION")"
        printf '  "databases": {'
        first=1
        for db in "${databases[@]+"${databases[@]}"}"; do
            [ $first = 1 ] || printf ','
            first=0
            printf '\n    %s: {"file": %s, "tables": {' "$(json_string "$db")" "$(json_string "databases/$db.sql.gz")"
            awk -F'\t' -v db="$db" '$1 == db { printf "%s\n      \"%s\": {\"rows\": %s, \"checksum\": %s, \"verified\": %s}", (n++ ? "," : ""), $2, $3, ($4 == "NULL" ? "null" : "\"" $4 "\""), ($5 == "verified" ? "true" : "false") }' \
                "$partial/checksums.tsv"
            printf '}}'
        done
        printf '\n  },\n  "files": {'
        awk '{ printf "%s\n    \"%s\": \"%s\"", (n++ ? "," : ""), substr($0, 67), $1 }' "$partial/SHA256SUMS"
        printf '\n  },\n  "extra": '
        if [ -n "${BACKUP_EXTRA_MANIFEST:-}" ]; then cat -- "$BACKUP_EXTRA_MANIFEST"; else printf '{}'; fi
        printf '\n}\n'
    } >"$partial/manifest.json.tmp" || die 2 "cannot write manifest.json"
    mv -f "$partial/manifest.json.tmp" "$partial/manifest.json"
    sync -f "$partial/manifest.json" 2>/dev/null || sync
    mv -- "$partial" "$dir" || die 2 "cannot rename $partial to $dir"
    PARTIAL_DIR=
    for db in "${databases[@]+"${databases[@]}"}"; do
        line=$(grep -F -- "  databases/$db.sql.gz" "$dir/SHA256SUMS")
        emit database "$db" "$(awk -F'\t' -v db="$db" '$1 == db' "$dir/checksums.tsv" | wc -l)" "databases/$db.sql.gz" "${line%% *}"
    done
    while IFS=$'\t' read -r db table rows sum state; do emit table "$db" "$table" "$rows" "$sum" "$state"; done <"$dir/checksums.tsv"
    log "backup $run complete in $dir"
    cmd_prune
}

# -- restore ---------------------------------------------------------------------------
run_databases() { awk -F'\t' '{ print $1 }' "$1/checksums.tsv"; find "$1/databases" -name '*.sql.gz' -printf '%f\n' | sed 's/\.sql\.gz$//'; }

cmd_verify() {
    local dir
    require_run_name
    dir=$BACKUP_ROOT/$BACKUP_RUN
    [ -f "$dir/manifest.json" ] || die 4 "run $BACKUP_RUN in $BACKUP_ROOT is missing or incomplete (no manifest.json)"
    [ -f "$dir/SHA256SUMS" ] ||
        die 4 "run $BACKUP_RUN in $BACKUP_ROOT is missing or incomplete (no manifest.json/SHA256SUMS)"
    (cd "$dir" && sha256sum --quiet --strict -c SHA256SUMS >&2) || die 6 "files of run $BACKUP_RUN do not match SHA256SUMS; the backup is damaged"
    emit run "$BACKUP_RUN" "$dir"
}

cmd_restore() {
    local dir db tables refused=0 wanted=() expected found mismatches=0 db_list
    cmd_verify
    dir=$BACKUP_ROOT/$BACKUP_RUN
    client_options
    server_state
    require_healthy
    db_list=$(run_databases "$dir" | sort -u)
    if [ -n "${RESTORE_DATABASES:-}" ]; then
        for db in ${RESTORE_DATABASES//,/ }; do
            check_name database "$db"
            grep -qxF -- "$db" <<<"$db_list" || die 2 "database '$db' (RESTORE_DATABASES) is not in run $BACKUP_RUN"
            wanted+=("$db")
        done
    else
        mapfile -t wanted <<<"$db_list"
    fi
    for db in "${wanted[@]}"; do
        [ -n "$db" ] || continue
        check_name database "$db"
        [ -f "$dir/databases/$db.sql.gz" ] || die 4 "run $BACKUP_RUN has no dump of $db"
        tables=$(sql "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='$db'") || die 8 "cannot inspect $db"
        if [ "$tables" -gt 0 ] && [ "${RESTORE_FORCE:-0}" != 1 ]; then
            emit refused "$db" "$tables"
            refused=1
        fi
    done
    [ $refused = 0 ] || die 5 "refusing: databases listed as 'refused' already hold tables; restore into an empty server or set RESTORE_FORCE=1 to replace them"
    for db in "${wanted[@]}"; do
        [ -n "$db" ] || continue
        log "restoring $db"
        gzip -dc "$dir/databases/$db.sql.gz" | sql || die 8 "loading the dump of $db failed"
    done
    found=$(table_checksums "${wanted[@]}") || die 8 "CHECKSUM TABLE failed after the restore"
    expected=$(awk -F'\t' 'NR == FNR { want[$1] = 1; next } want[$1]' <(printf '%s\n' "${wanted[@]}") "$dir/checksums.tsv")
    while IFS=$'\t' read -r db table rows sum state; do
        [ -n "$db" ] || continue
        line=$(awk -F'\t' -v db="$db" -v t="$table" '$1 == db && $2 == t { print $3 "/" $4 }' <<<"$found")
        if [ -z "$line" ]; then
            emit mismatch "$db" "$table" "$rows/$sum" "missing"
            mismatches=$((mismatches + 1))
        elif [ "$state" = verified ] && [ "$line" != "$rows/$sum" ]; then
            emit mismatch "$db" "$table" "$rows/$sum" "$line"
            mismatches=$((mismatches + 1))
        fi
    done <<<"$expected"
    while IFS=$'\t' read -r db table rows sum; do
        [ -n "$db" ] || continue
        if ! awk -F'\t' -v db="$db" -v t="$table" '$1 == db && $2 == t { hit = 1 } END { exit !hit }' <<<"$expected"; then
            emit mismatch "$db" "$table" "absent" "$rows/$sum"
            mismatches=$((mismatches + 1))
        fi
        state=$(awk -F'\t' -v db="$db" -v t="$table" '$1 == db && $2 == t { print $5 }' <<<"$expected")
        emit table "$db" "$table" "$rows" "$sum" "${state:-unexpected}"
    done <<<"$found"
    [ $mismatches = 0 ] || die 7 "verification failed: $mismatches table(s) differ from the manifest of run $BACKUP_RUN (see the mismatch records)"
    for db in "${wanted[@]}"; do [ -z "$db" ] || emit database "$db" "$(awk -F'\t' -v db="$db" '$1 == db' <<<"$found" | wc -l)"; done
    emit result ok
}

cmd_inspect() {
    local databases=() db found problem listed
    client_options
    server_state
    problem=$(health_problem)
    if [ -n "$problem" ]; then emit health refused "$problem"; else emit health ok; fi
    listed=$(list_databases present) || exit $?
    [ -z "$listed" ] || mapfile -t databases <<<"$listed"
    for db in "${databases[@]+"${databases[@]}"}"; do
        emit database "$db" "$(sql "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='$db'")"
    done
    found=$(table_checksums "${databases[@]+"${databases[@]}"}") || die 8 "CHECKSUM TABLE failed"
    while IFS=$'\t' read -r db table rows sum; do
        [ -z "$db" ] || emit table "$db" "$table" "$rows" "$sum"
    done <<<"$found"
    emit result ok
}

case ${1:-} in
    backup) cmd_backup ;;
    restore) cmd_restore ;;
    inspect) cmd_inspect ;;
    verify) cmd_verify && emit result ok ;;
    list) cmd_prune --dry-run ;;
    prune) shift; cmd_prune "$@" ;;
    *) die 2 "usage: $0 backup | restore | inspect | verify | list | prune [--dry-run]" ;;
esac

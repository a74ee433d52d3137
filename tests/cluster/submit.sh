#!/usr/bin/env bash
# A batch scheduler's submit command, on one machine, for snakemake-executor-plugin-cluster-generic:
#   --cluster-generic-submit-cmd tests/cluster/submit.sh
# Starts the job script (the last argument) in the background in a session of its own and prints
# its id, the process id. The job's output goes to $GDBASINS_CLUSTER_DIR/<id>.log and, when it
# ends, its exit code to <id>.exit (read by status.sh).
set -euo pipefail
jobscript="${!#}"
dir="${GDBASINS_CLUSTER_DIR:?set GDBASINS_CLUSTER_DIR to a folder for job logs and exit codes}"
mkdir -p "$dir"
# With GDBASINS_NODE_ROOT set, each job starts in a new empty folder under it, like a node that
# shares no file system with the submitting machine: it sees only what Snakemake's storage and
# source deployment bring (--shared-fs-usage none --job-deploy-sources).
if [[ -n "${GDBASINS_NODE_ROOT:-}" ]]; then
    mkdir -p "$GDBASINS_NODE_ROOT"
    cd "$(mktemp -d "$GDBASINS_NODE_ROOT/node.XXXXXX")"
fi
# Not a process-group leader here, so setsid keeps the pid that $! reports.
setsid bash -c '"$1" > "$2/$$.log" 2>&1; echo $? > "$2/$$.exit"' job "$jobscript" "$dir" \
    < /dev/null > /dev/null 2>&1 &
echo "$!"

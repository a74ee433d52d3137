#!/usr/bin/env bash
# Status of a job started by submit.sh: prints running, success or failed.
#   --cluster-generic-status-cmd tests/cluster/status.sh
set -euo pipefail
id="$1"
exit_file="${GDBASINS_CLUSTER_DIR:?}/$id.exit"
if [[ ! -s "$exit_file" ]] && kill -0 "$id" 2> /dev/null; then
    echo running
elif [[ -s "$exit_file" && "$(cat "$exit_file")" == 0 ]]; then
    echo success
else
    echo failed  # a non-zero exit code, or the job vanished without one (killed)
fi

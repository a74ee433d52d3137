#!/usr/bin/env bash
# Cancel jobs started by submit.sh (Snakemake calls this on Ctrl-C): stop each job's session.
#   --cluster-generic-cancel-cmd tests/cluster/cancel.sh
for id in "$@"; do
    kill -TERM -- "-$id" 2> /dev/null || true
done

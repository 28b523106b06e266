#!/bin/sh
# Debugging aid, never used by the tests unless asked: logs every call podman/containerd make to
# the OCI runtime, then runs bin/hull-oci with the same arguments.
#   HULL_INTEROP_RUNTIME=$PWD/test/interop/trace-runtime.sh npx vitest run test/interop
#   cat /tmp/hull-oci-calls.log
log=${HULL_TRACE_LOG:-/tmp/hull-oci-calls.log}
echo "$(date +%T.%N) [$$] $*" >> "$log"
"$(dirname "$(readlink -f "$0")")/../../bin/hull-oci" "$@"
rc=$?
echo "$(date +%T.%N) [$$] exit $rc" >> "$log"
exit $rc

#!/bin/bash
# submit.sh - size a sweep for a Slurm partition and submit it with
# slurm/polysweep.sbatch: the partition's node shape and time limit come from
# sinfo, `polysweep plan --nodes --cores-per-node --max-time` times a few steps
# of the sweep's tasks here and chooses ranks, threads and a time limit, and
# the sbatch line it suggests is run.
#
#   slurm/submit.sh [options] JOB [polysweep run options]
#
#   -N, --nodes N        nodes at most (default 1; fewer when the sweep cannot use them)
#   -p, --partition P    the partition (default: SBATCH_PARTITION, else Slurm's default)
#   -t, --max-time TIME  cap the time limit below the partition's
#   --threads T          BLAS threads per worker (default: chosen by plan)
#   -n, --dry-run        print the sizing and the sbatch command; submit nothing
#   --sbatch "OPTS"      more sbatch options, e.g. "--account=abc --qos=long"
#
# The executable is $POLYSWEEP, else `polysweep` on PATH, else build/polysweep
# next to this script's directory. The timing is this machine's: on a login
# node that differs from the compute nodes, the time limit is a guess (a limit
# that is too short costs a requeue, not results). Example:
#   slurm/submit.sh -N 4 -p compute jobs/tms_phase.yaml -o /scratch/me/phase.nc
set -euo pipefail

me=submit.sh
die() { echo "$me: $*" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)

nodes=1 partition=${SBATCH_PARTITION:-} max_time="" threads="" dry=0 extra=""
while [ $# -gt 0 ]; do
    case $1 in
        -N|--nodes) nodes=${2:?}; shift 2 ;;
        -p|--partition) partition=${2:?}; shift 2 ;;
        -t|--max-time) max_time=${2:?}; shift 2 ;;
        --threads) threads=${2:?}; shift 2 ;;
        -n|--dry-run) dry=1; shift ;;
        --sbatch) extra=${2:?}; shift 2 ;;
        -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) break ;;
    esac
done
[ $# -ge 1 ] || die "usage: slurm/submit.sh [options] JOB [polysweep run options]"
job=$1
shift

exe=${POLYSWEEP:-}
[ -n "$exe" ] || exe=$(command -v polysweep 2>/dev/null) || exe=$here/../build/polysweep
[ -x "$exe" ] || die "cannot find the polysweep executable ($exe): set POLYSWEEP=/path/to/polysweep"
command -v sinfo >/dev/null || die "sinfo not found: run this on a Slurm login node"

# The partition's shape: the default partition is the one sinfo marks with '*'.
if [ -z "$partition" ]; then
    partition=$(sinfo -h -o '%P' | sed -n 's/\*$//p' | head -1)
    [ -n "$partition" ] || die "no default partition: give one with -p"
fi
# Sockets:cores:threads of its nodes (the smallest, if they differ) and its time limit.
shape=$(sinfo -h -p "$partition" -o '%z' | tr -d + |
        awk -F: '{ c = $1 * $2; if (!m || c < m) { m = c; s = $0 } } END { print s }')
limit=$(sinfo -h -p "$partition" -o '%l' | head -1)
[ -n "$shape" ] || die "partition '$partition' not found (sinfo -p $partition)"
IFS=: read -r sockets cores _ <<<"$shape"
cores_per_node=$((sockets * cores))
plan_args=(--nodes "$nodes" --cores-per-node "$cores_per_node")
[ -n "$threads" ] && plan_args+=(--threads "$threads")
if [ -n "$max_time" ]; then
    plan_args+=(--max-time "$max_time")
elif [ -n "$limit" ] && [ "$limit" != infinite ] && [ "$limit" != UNLIMITED ]; then
    plan_args+=(--max-time "$limit")
fi

echo "$me: partition $partition: nodes of $cores_per_node cores ($shape), time limit $limit" >&2
plan=$("$exe" plan "$job" "${plan_args[@]}") || exit $?
sed -n '/^calibrate/,$p' <<<"$plan" | grep -v '^submit' >&2
line=$(sed -n 's/^submit *sbatch \(.*\) slurm\/polysweep\.sbatch .*$/\1/p' <<<"$plan")
[ -n "$line" ] || die "polysweep plan suggested no sbatch line"
# shellcheck disable=SC2206 # option lists, split on purpose
cmd=(sbatch --partition="$partition" $line $extra "$here/polysweep.sbatch" "$job" "$@")
echo "$me: ${cmd[*]}" >&2
[ $dry = 1 ] && exit 0
export POLYSWEEP=$exe
"${cmd[@]}"

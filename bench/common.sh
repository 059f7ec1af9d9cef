# Sourced by the benchmarks: the repository's environment, and how they count.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"

# Seconds between two `date +%s.%N` readings.
seconds() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.4f\n", b - a}'; }

# The median of the numbers on stdin (one per line).
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

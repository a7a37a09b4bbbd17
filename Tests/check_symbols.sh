#!/usr/bin/env bash
# Checks that the library exports exactly the sf_ functions that the header declares.
set -euo pipefail
header=$1 lib=$2
declared=$(grep -oE '\bsf_[a-z0-9_]+[[:space:]]*\(' "$header" | tr -d ' (' | sort -u)
exported=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep '^sf_' | sort -u)
missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
extra=$(comm -13 <(echo "$declared") <(echo "$exported"))
status=0
if [ -n "$missing" ]; then echo "declared in $header but not exported:"; echo "$missing" | sed 's/^/  /'; status=1; fi
if [ -n "$extra" ]; then echo "exported but not declared in $header:"; echo "$extra" | sed 's/^/  /'; status=1; fi
if readelf -d "$lib" | grep NEEDED | grep -q 'libswift'; then echo "$lib needs a Swift runtime library"; status=1; fi
readelf -d "$lib" | grep -q 'SONAME' || { echo "$lib has no SONAME"; status=1; }
n=$(echo "$declared" | wc -l)
[ $status -eq 0 ] && echo "symbols: all $n declared functions exported, no others; static runtime; SONAME set"
exit $status

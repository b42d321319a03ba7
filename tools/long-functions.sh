#!/bin/sh
# Lists the Lua functions longer than LIMIT lines (default 80) in the library, the
# CLI, the examples and the bench: "lines file:first-last", longest first.
#   sh tools/long-functions.sh [LIMIT]
limit=${1:-80}
cd "$(dirname "$0")/.." || exit 1
for f in kiva $(find lua examples bench -name '*.lua' | sort); do
  luac5.4 -p -l "$f" | sed -n 's/^function <\([^:]*\):\([0-9]*\),\([0-9]*\)>.*/\1 \2 \3/p'
done | awk -v limit="$limit" '{ n = $3 - $2 + 1; if (n > limit) printf "%5d %s:%d-%d\n", n, $1, $2, $3 }' | sort -rn

#!/bin/bash
# Re-import the shipped raw kernel traces into their op traces with the
# current importer (after an importer change). Usage: data/reimport.sh [EPTFLUSH]
set -eu
E=$(realpath "${1:-${EPTFLUSH:-build/eptflush}}")
cd "$(dirname "$0")"
for raw in capture-*.raw.txt.gz; do
	name=${raw%.raw.txt.gz}
	# the op trace's header names the input file, so import it under its own name
	gunzip -c "$raw" >"$name.raw.txt"
	"$E" import "$name.raw.txt" -o "$name.trace" -q || { rm -f "$name.raw.txt"; exit 1; }
	rm -f "$name.raw.txt"
	echo "$name.trace"
done

#!/bin/sh
# ProcCopy: copy INPUT to OUTPUT unchanged.
# Called by MagickBox as: work.sh <INPUT> <OUTPUT>  (absolute paths; also in $MB_INPUT, $MB_OUTPUT)
set -eu
if [ "$#" -lt 2 ]; then
    echo "usage: $0 INPUT OUTPUT" >&2
    exit 2
fi
input=$1
output=$2
echo "ProcCopy: copying $input to $output"
cp -R -- "$input/." "$output/"
echo "ProcCopy: $(find "$output" -type f | wc -l) file(s) copied"

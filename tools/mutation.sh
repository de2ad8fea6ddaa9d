#!/bin/sh
# Mutation testing with cosmic-ray (`make mutation`): every mutant of MUTATE is tested with the fast
# lane and then MUTATION_SLOW; prints the survival rate and each survivor. Not part of CI: over every
# module it takes hours.
#
# It runs in a scratch copy of HEAD (git archive), never in this checkout: cosmic-ray mutates files in
# place, and PYTHONPATH puts the copy ahead of the checkout that the venv's .pth file points at (child
# processes inherit it; the sandbox is sent its sources from the copy's files).
# MUTATION_MINUTES bounds the run: cosmic-ray takes its mutants in the order of their random ids,
# so what it reached is a random sample, and the rate is printed with its 95% bounds.
# Usage: tools/mutation.sh VENV_BIN "MUTATE paths" "fast-lane pytest arguments" "slow test paths"
set -eu
bin=$1 mutate=$2 fast=$3 slow=$4
scratch=${MUTATION_DIR:-/tmp/gankit-mutation-$(id -u)}
commit=$(git rev-parse --short HEAD)
rm -rf "$scratch" && mkdir -p "$scratch"
git archive HEAD | tar -x -C "$scratch"
cd "$scratch"
modules=$(printf '"%s", ' $mutate)
tests="$bin/python -m pytest -x -q -p no:cacheprovider $fast"
[ -z "$slow" ] || tests="$tests && $bin/python -m pytest -x -q -p no:cacheprovider $slow"
cat > mutation.toml <<EOF
[cosmic-ray]
module-path = [${modules%, }]
timeout = 900.0
excluded-modules = []
test-command = '''sh -c '$tests' '''

[cosmic-ray.distributor]
name = "local"
EOF
export PYTHONPATH="$scratch" PATH="$bin:$PATH"
"$bin/cosmic-ray" init mutation.toml session.sqlite
if [ -n "${MUTATION_MINUTES:-}" ]; then
	timeout -s INT "${MUTATION_MINUTES}m" "$bin/cosmic-ray" exec mutation.toml session.sqlite || [ $? -eq 124 ]
else
	"$bin/cosmic-ray" exec mutation.toml session.sqlite
fi
echo "Mutation testing of $mutate at $commit ($(date -u +%Y-%m-%d)), session in $scratch/session.sqlite:"
"$bin/cr-report" session.sqlite --surviving-only
"$bin/cr-report" session.sqlite --show-pending | tail -n 3
echo "survival rate in percent (lower bound, estimate, upper bound at 95%): $("$bin/cr-rate" --estimate session.sqlite)"

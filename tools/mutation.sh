#!/bin/sh
# Mutation testing with cosmic-ray (`make mutation`): every mutant of each module in MUTATE is tested
# with the tests that cover that module (the table below; MUTATION_FAST="lane" takes the whole fast
# lane instead, and MUTATION_SLOW's slow tests are added either way); prints, per module and in
# total, how many mutants were killed, then each survivor. Not part of CI: over every module, hours.
#
# Narrowing the tests to those of the module is sound for the score: a mutant a subset of the suite
# kills, the whole suite kills, so the rate is a lower bound of the whole suite's.
#
# Each module runs in a scratch copy of HEAD of its own (git archive), never in this checkout:
# cosmic-ray mutates files in place, and PYTHONPATH puts the copy ahead of the checkout that the
# venv's .pth file points at (child processes inherit it; the sandbox is sent its sources from the
# copy's files). A mutant that only changes a type annotation of a module with
# `from __future__ import annotations` (all but codec, runner and launcher) is skipped, never
# tested: those annotations are never evaluated (tools/mutation.py checks it per module). The timeout of each mutant's tests is five times
# the unmutated tests' time plus 30 s (a mutant that hangs them is killed).
# MUTATION_RETEST=DIR tests again, with this commit's tests, only the survivors of an earlier run
# whose scratch folder was DIR (its MUTATION_DIR), and sums up that run with their new results.
# MUTATION_MINUTES bounds each module's run: cosmic-ray takes the pending mutants in random order,
# so what it reached is a random sample, and the rate is printed with its 95% bounds.
# Mutants of the sandbox run the attack tests' code unconfined, as whoever runs this: run it as an
# ordinary account in a clone of its own, never beside another test or grading run. Seen on
# 2026-12-03 as root: under a mutant of gankit/sandbox/, the descriptor attack of
# tests/test_hidden_checks.py reached this shell through /proc and wrote its marker over this
# script's first bytes (the mutant was killed; git restored it). A cgroups.py mutant that takes
# living graders for dead ones ends every sandbox on the machine (cgroups.py is only run as root).
# Usage: tools/mutation.sh VENV_BIN "MUTATE paths" "fast-lane pytest arguments, or covering, or lane" "slow test paths"
set -eu
bin=$1 mutate=$2 fast=$3 slow=$4
here=$(cd "$(dirname "$0")/.." && pwd)
scratch=${MUTATION_DIR:-/tmp/gankit-mutation-$(id -u)}
commit=$(git rev-parse --short HEAD)
# The fast lane and the tests marked `seconds` (the fast lane's kind, out of make test-fast for their time).
lane='-m "(not slow or seconds) and not root and not browser and not postgres"'

# The fast tests that cover each module: those that import it or run what it builds. Those that use
# none of conftest.py's fixtures run without it (--noconftest: its imports cost seconds a mutant).
covering() {
	bare="--noconftest $lane"
	sandbox="unprivileged or hang_a_crash or outlives or bubblewrap or seccomp or process_count or supervisor_ends"
	sandbox="$sandbox or memory_outside or descriptor_of_the_graders or grader_died or grader_dies or cgroup or stale or scratch_folder or docs_security_states"
	sandbox="$sandbox or fails_before_the_sandbox or cannot_join or 128_and_the_signal or just_ended or report_file_planted or unsandboxed_command"
	# The scratch copy holds no .venv, which this test expects to find in the course directory.
	course="--deselect tests/test_hidden_checks.py::test_students_code_cannot_read_the_course_the_checks_or_the_solutions"
	case $1 in
	gankit/judging/checking.py) echo "$bare tests/test_checking.py tests/test_grading_policy.py" ;;
	gankit/judging/codec.py) echo "$bare tests/test_codec.py tests/test_checking.py" ;;
	gankit/judging/outcome.py) echo "$bare tests/test_codec.py tests/test_checking.py tests/test_grading_policy.py" ;;
	# test_hidden_checks grades whole notebooks in the sandbox (minutes a mutant): a sample's survivors
	# are tested again with it (MUTATION_RETEST, MUTATION_FAST="$lane $course tests/test_hidden_checks.py").
	gankit/judging/grader.py) echo "$bare tests/test_grading_policy.py tests/test_checking.py" ;;
	gankit/sandbox/settings.py) echo "$bare tests/test_configuration_docs.py" ;;
	gankit/sandbox/availability.py) echo "$bare tests/test_availability.py" ;;
	gankit/sandbox/seccomp.py) echo "$lane -k \"$sandbox\" tests/test_hidden_checks.py tests/test_configuration_docs.py tests/test_availability.py" ;;
	# -k selects in every file: "test_execute" (its module's name) keeps all of test_execute.
	# test_execute's slow tests too (its timing cases: 12 s of waiting in all).
	gankit/sandbox/kernel.py) echo "-m \"not root and not browser and not postgres\" -k \"test_execute or grading_kernel or $sandbox\" tests/test_hidden_checks.py tests/test_configuration_docs.py tests/test_execute.py" ;;
	# The tests of the sandbox itself (test_hidden_checks' others grade notebooks through it: minutes a mutant).
	gankit/sandbox/*.py) echo "$lane -k \"$sandbox\" tests/test_hidden_checks.py tests/test_configuration_docs.py" ;;
	gankit/judging/*.py) echo "$lane $course tests/test_codec.py tests/test_hidden_checks.py tests/test_server_protocol.py" ;;
	gankit/nbgrader_adapter/hidden_checks.py) echo "$lane -k \"autograde_step or unreadable_notebook or budget_starts or documented or from_the_configuration\" tests/test_hidden_checks.py tests/test_configuration_docs.py" ;;
	# All of test_intake: its three slowest (a two-million-object notebook, a folder 1500 deep, an
	# unreadable folder's time) take about 11 s together on an otherwise idle machine.
	gankit/nbgrader_adapter/intake.py) echo "$bare tests/test_intake.py tests/test_configuration_docs.py" ;;
	gankit/nbgrader_adapter/repair.py) echo "$bare tests/test_repair.py" ;;
	gankit/nbgrader_adapter/exchange.py) echo "$lane tests/test_exchange_root.py tests/test_private_apis.py" ;;
	# test_execute's one slow test (a failed replay, 6 s of waiting) included.
	gankit/nbgrader_adapter/execute.py) echo "-m \"not root and not browser and not postgres\" tests/test_execute.py tests/test_configuration_docs.py tests/test_private_apis.py" ;;
	source/gan_exercises/gan_checks.py) echo "$bare tests/test_gan_checks.py" ;;
	gankit/cluster/writes.py) echo "$bare tests/test_cluster_writes.py" ;;
	*) echo "$lane" ;;
	esac
}

files=$(cd "$here" && find $mutate -name '*.py' ! -name __init__.py | sort)
rm -rf "$scratch" && mkdir -p "$scratch"
sessions=
for module in $files; do
	name=$(echo "$module" | tr / _)
	copy="$scratch/$name"
	mkdir -p "$copy" && (cd "$here" && git archive HEAD) | tar -x -C "$copy"
	case $fast in
	covering) tests=$(covering "$module") ;;
	lane) tests=$lane ;;
	*) tests=$fast ;;
	esac
	command="$bin/python -m pytest -x -q -p no:cacheprovider $tests"
	[ -z "$slow" ] || command="$command && $bin/python -m pytest -x -q -p no:cacheprovider $slow"
	# An earlier retest's results are in its merged.sqlite.
	earlier=${MUTATION_RETEST:-}/$name/session.sqlite
	[ ! -f "${MUTATION_RETEST:-}/$name/merged.sqlite" ] || earlier=$MUTATION_RETEST/$name/merged.sqlite
	started=$(date +%s)
	if ! (cd "$copy" && PYTHONPATH="$copy" PATH="$bin:$PATH" sh -c "$command" >"$copy/baseline.log" 2>&1); then
		echo "$module: its tests fail unmutated (see $copy/baseline.log): skipped" >&2
		continue
	fi
	timeout=$((5 * ($(date +%s) - started) + 30))
	cat >"$copy/mutation.toml" <<EOF
[cosmic-ray]
module-path = ["$module"]
timeout = $timeout.0
excluded-modules = []
test-command = '''sh -c '$command' '''

[cosmic-ray.distributor]
name = "local"
EOF
	(
		cd "$copy"
		export PYTHONPATH="$copy" PATH="$bin:$PATH"
		if [ -n "${MUTATION_RETEST:-}" ]; then
			"$bin/python" "$here/tools/mutation.py" survivors "$earlier" session.sqlite
		else
			"$bin/cosmic-ray" init mutation.toml session.sqlite
			"$bin/python" "$here/tools/mutation.py" skip-annotations session.sqlite "$module"
		fi
		echo "$module: tests: $tests${slow:+ then $slow}; timeout $timeout s"
		if [ -n "${MUTATION_MINUTES:-}" ]; then
			timeout -s INT "${MUTATION_MINUTES}m" "$bin/cosmic-ray" exec mutation.toml session.sqlite || [ $? -eq 124 ]
		else
			"$bin/cosmic-ray" exec mutation.toml session.sqlite
		fi
	)
	if [ -n "${MUTATION_RETEST:-}" ]; then
		cp "$earlier" "$copy/merged.sqlite"
		"$bin/python" "$here/tools/mutation.py" merge "$copy/merged.sqlite" "$copy/session.sqlite"
		sessions="$sessions $copy/merged.sqlite"
	else
		sessions="$sessions $copy/session.sqlite"
	fi
done
echo "Mutation testing of $mutate at $commit ($(date -u +%Y-%m-%d)), sessions in $scratch/*/session.sqlite:"
# shellcheck disable=SC2086
"$bin/python" "$here/tools/mutation.py" summary $sessions

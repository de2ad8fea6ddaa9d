# One entry point for the kit. `make course` runs the whole course cycle on a simulated class;
# `make test` runs the kit's test suite. Both build the pinned virtual environment first.
PYTHON ?= python3
VENV := .venv
HOME_OF_VENV := $(CURDIR)/$(VENV)
BIN := $(HOME_OF_VENV)/bin
STAMP := $(VENV)/.installed
# nbgrader shells out to `alembic`, and kernels must be the environment's own.
RUN := PATH="$(BIN):$$PATH"

.PHONY: venv test test-fast course goldens benchmark format lint lab lock clean relocated-venv mutation

# The stamp records the absolute path the environment was built at: its scripts name that path, so
# a clone copied with its .venv (cp -a, to hand it to another account) or moved would run the old
# path's programs, or fail with "Permission denied". Such an environment is rebuilt here.
ifneq ($(wildcard $(STAMP)),)
ifneq ($(file < $(STAMP)),$(HOME_OF_VENV))
$(STAMP): relocated-venv
endif
endif

relocated-venv:
	@echo "make: $(VENV) was built at '$(file < $(STAMP))', not at '$(HOME_OF_VENV)' (a copied or moved clone): rebuilding it"
	rm -rf $(VENV)

$(STAMP): requirements.lock
	# Students' code is graded inside bubblewrap (Debian's bubblewrap package).
	tools/bubblewrap.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	# jsonschema's format-nongpl extra (asked for by jupyter-events) brings rfc3987-syntax, which
	# builds a grammar on import: 1.1 to 1.5 s of CPU in every process that imports nbformat (every
	# nbgrader command, Dask worker and test subprocess). It checks only the "iri" formats, which
	# no schema of Jupyter's uses, and jsonschema does without it.
	$(BIN)/python -m pip uninstall --quiet --disable-pip-version-check --yes rfc3987-syntax
	# The kit's package is used in place: a .pth file puts the repository root on sys.path.
	$(BIN)/python -c "import site, sys; open(site.getsitepackages()[0] + '/gankit-course.pth', 'w').write(sys.argv[1] + '\n')" "$(CURDIR)"
	# Build matplotlib's font cache now, so that no notebook cell prints the notice to stderr.
	$(RUN) $(BIN)/python -c "import matplotlib.pyplot"
	echo "$(HOME_OF_VENV)" > $(STAMP)

venv: $(STAMP)

# Tests run on pytest-xdist workers side by side (0: in this process, one at a time);
# tests/conftest.py groups onto one worker the tests that share accounts, system folders or the
# course cycle, and orders the groups (hence --no-loadscope-reorder); a test marked alone (the
# hostile class, JupyterLab as a student) runs while the other worker waits: the only tests that two
# workers had disturbed (see README). TEST_WORKERS=0 runs one test at a time (about 45 minutes).
TEST_WORKERS ?= 2
FAST_WORKERS ?= 2
xdist = -n $(1) $(if $(filter-out 0,$(1)),--dist loadgroup --no-loadscope-reorder)

# The tests also grade against a real PostgreSQL server, which tools/postgres.sh installs and starts
# (this clone's own, on a free port) and stops when the run ends, however it ends; and they drive
# JupyterLab in Debian's Chromium, which tools/chromium.sh installs.
test: $(STAMP)
	postgres="$$(tools/postgres.sh start)" && trap 'tools/postgres.sh stop' EXIT INT TERM && \
		chromium="$$(tools/chromium.sh)" && \
		GANKIT_TEST_POSTGRES="$$postgres" GANKIT_CHROMIUM="$$chromium" $(RUN) $(BIN)/python -m pytest $(call xdist,$(TEST_WORKERS)) $(PYTEST_ARGS)

# The fast lane: no root, no services, no browser, no course cycle, no test of seconds (see tests/conftest.py).
test-fast: $(STAMP)
	$(RUN) $(BIN)/python -m pytest $(call xdist,$(FAST_WORKERS)) -m "not slow and not root and not browser and not postgres" $(PYTEST_ARGS)

# Mutation testing with cosmic-ray over the judging core, the sandbox and the grading steps (not in
# CI: hours). Each module's mutants are tested with the fast tests that cover it (the table in
# tools/mutation.sh; MUTATION_FAST=lane for the whole fast lane) and then MUTATION_SLOW. Narrow it
# for a quick look: make mutation MUTATE=gankit/judging/checking.py MUTATION_SLOW=
# (MUTATION_MINUTES=20 stops each module after a random sample and prints the rate's bounds).
MUTATE ?= gankit/judging gankit/sandbox $(addprefix gankit/nbgrader_adapter/,intake.py execute.py hidden_checks.py \
	repair.py exchange.py) gankit/cluster/writes.py source/gan_exercises/gan_checks.py
MUTATION_FAST ?= covering
MUTATION_SLOW ?= tests/test_fair_grades.py tests/test_course_cycle.py tests/test_adversarial.py
mutation: $(STAMP)
	MUTATION_MINUTES="$(MUTATION_MINUTES)" tools/mutation.sh "$(BIN)" "$(MUTATE)" '$(MUTATION_FAST)' "$(MUTATION_SLOW)"

course: $(STAMP)
	$(RUN) $(BIN)/python -m gankit.course_cycle $(COURSE_ARGS)

# The client's writes are measured on PostgreSQL (this clone's own server, as for the tests).
benchmark: $(STAMP)
	postgres="$$(tools/postgres.sh start)" && trap 'tools/postgres.sh stop' EXIT INT TERM && \
		GANKIT_BENCHMARK_POSTGRES="$$postgres" $(RUN) $(BIN)/python -m gankit.benchmark $(BENCHMARK_ARGS)

goldens: $(STAMP)
	$(RUN) $(BIN)/python -m gankit.goldens

format: $(STAMP)
	$(BIN)/ruff format gankit tests
	$(BIN)/ruff check --fix gankit tests

lint: $(STAMP)
	$(BIN)/ruff format --check gankit tests
	$(BIN)/ruff check gankit tests

lab: $(STAMP)
	$(RUN) $(BIN)/python -m gankit.lab $(LAB_ARGS)

lock:
	rm -rf /tmp/gankit-lock && $(PYTHON) -m venv /tmp/gankit-lock
	/tmp/gankit-lock/bin/pip install --quiet -r requirements.in
	{ echo '# Pinned by `make lock` from requirements.in; install with `make venv`. Do not edit by hand.'; \
	  /tmp/gankit-lock/bin/pip freeze --exclude-editable; } > requirements.lock

clean:
	rm -rf $(VENV) build .pytest_cache

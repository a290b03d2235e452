# medgan-notebooks: the two commands most people need are `make notebooks` and `make test`.
#   make setup      create .venv (if missing), install requirements and medgan_nb (editable) at the versions in
#                   requirements-lock.txt (the ones the suite last passed with); UPGRADE=1: the newest releases
#                   requirements.txt's ranges allow instead (`make test UPGRADE=1` tells whether a release breaks the kit)
#   make lock       rewrite requirements-lock.txt from .venv (after a passing `make test`)
#   make notebooks  execute every notebook headlessly (PROFILE=smoke|cpu|gpu, DATASET=..., DATA_ROOT=...);
#                   writes runs/<PROFILE>/summary.md and summary.json, exits non-zero if a notebook fails
#   make baselines  (smoke profile unless PROFILE=...; DATASET=... DATA_ROOT=... for tests/baselines/<PROFILE>-<DATASET>.json)
#                   execute the notebooks and record their metrics next to the bounds in
#                   tests/baselines/<PROFILE>.json (bounds are kept; review the change with git diff)
#   make test       unit tests + every notebook under the smoke profile
#   make test-browser  the widgets of notebooks 01 and 02 in JupyterLab, in headless Chromium (needs `chromium`)
#   make lab        JupyterLab with ipywidgets working
#   make bench      benchmarks (phantom throughput and texture, DCGAN training speed, DiffAugment overhead, the cost of each loss, a DDPM vs a DCGAN, ...)
#   make colab-links  rewrite the Colab badges and install lines from medgan_nb.tools.colab.REPOSITORY
#   make student    the student edition of every notebook (solutions stubbed, answers blanked, outputs cleared)
#                   in dist/student/, made with nbgrader's preprocessors (python -m medgan_nb.tools.course student)
#   make clean      remove runs/, dist/, caches and executed outputs (keeps .venv and data/)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= cpu
DATASET ?=
DATA_ROOT ?=
ONLY ?=
PYTEST_ARGS ?=
export MPLBACKEND ?= Agg
export PYTHONUNBUFFERED := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Some machines set PYTHONDONTWRITEBYTECODE: every process (each notebook kernel, each test subprocess) would then
# compile torchmetrics, torchvision, scipy, ... from source again, about 4 s each. Let the first import cache them.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: setup lock notebooks baselines test test-browser lab bench clean distclean colab-links colab-env FORCE

# The lock pins every package of a passing run (pip freeze); UPGRADE=1 drops it and upgrades everything within the
# ranges. Each mode has its own stamp, so `make setup` after an upgrade goes back to the locked versions.
LOCK ?= requirements-lock.txt
UPGRADE ?=
ifeq ($(UPGRADE),1)
STAMP := $(VENV)/.installed-latest
PIN := --upgrade --upgrade-strategy eager
else
STAMP := $(VENV)/.installed-locked
PIN := -c $(LOCK)
endif

setup: $(STAMP)

$(STAMP): requirements.txt requirements-browser.txt pyproject.toml $(LOCK) $(if $(filter 1,$(UPGRADE)),FORCE)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else "medgan-notebooks needs Python 3.9 or newer; found " + sys.version.split()[0])'
	@test -x $(PY) || { echo "Creating $(VENV) with $$($(PYTHON) --version)"; $(PYTHON) -m venv $(VENV); }
	@# --no-compile: pip would byte-compile every installed module (a minute, mostly torch's); Python compiles the
	@# modules the kit imports on first use instead
	@rm -f $(VENV)/.installed-locked $(VENV)/.installed-latest
	@# a .venv made before FRD moved to pyradiomics-bhklab: both install the package `radiomics`, keep one
	@$(PY) -m pip uninstall --quiet --yes pyradiomics 2>/dev/null || true
	@# the locked versions: uv installs the whole lock file in about 20 s (pip needs over a minute, see
	@# scripts/locked_install.py); pip then checks every requirement is met and installs whatever the lock lacks
	$(if $(filter 1,$(UPGRADE)),,@$(PY) -m pip install --quiet --progress-bar off uv -c $(LOCK) && $(PY) scripts/locked_install.py $(LOCK) \
		|| echo "uv could not install $(LOCK); pip installs it instead")
	$(PY) -m pip install --quiet --progress-bar off --no-compile -r requirements.txt -r requirements-browser.txt $(PIN)
	$(PY) -m pip install --quiet --progress-bar off --no-deps -e .
	@$(PY) -c 'import medgan_nb, torch; print("medgan_nb", medgan_nb.__version__, "with torch", torch.__version__, "ready in $(VENV)")'
	@$(PY) -c 'import numpy, torch; print("installed", "$(if $(filter 1,$(UPGRADE)),the newest releases within requirements.txt,the versions of $(LOCK))", "(torch", torch.__version__ + ", numpy", numpy.__version__ + ")")'
	@touch $@

# After a passing `make test` (and `make test-browser`): pin what .venv holds, so a fresh clone gets what was tested
lock:
	@test -x $(PY) || { echo "no $(VENV): run make setup and make test first"; exit 1; }
	{ echo "# The versions \`make test\` last passed with (Python $$($(PY) -c 'import platform; print(platform.python_version(), platform.machine())')); \`make setup\` installs them."; \
	  echo "# \`make setup UPGRADE=1\` takes the newest releases requirements.txt allows instead. Rewritten by \`make lock\`."; \
	  $(PY) -m pip freeze --exclude-editable --all | grep -v -E '^(pip|medgan-nb)=='; } > $(LOCK).tmp
	mv $(LOCK).tmp $(LOCK)
	@echo "wrote $(LOCK): $$(grep -c '==' $(LOCK)) pinned packages"

notebooks: setup
	$(PY) -m medgan_nb.tools.runner --profile $(PROFILE) \
		$(if $(DATASET),--dataset $(DATASET)) $(if $(DATA_ROOT),--data-root $(DATA_ROOT)) \
		$(if $(ONLY),--only $(ONLY))

# Baselines exist for the smoke profile; PROFILE=... on the command line picks another file.
baselines: setup
	$(PY) -m medgan_nb.tools.baselines --profile $(if $(filter file,$(origin PROFILE)),smoke,$(PROFILE)) \
		$(if $(DATASET),--dataset $(DATASET)) $(if $(DATA_ROOT),--data-root $(DATA_ROOT)) \
		$(if $(ONLY),--only $(ONLY))

# two pytest workers (one per core of the CI machine), each with one thread per process; TEST_WORKERS=0 runs serially.
# The browser test runs on its own (make test-browser): inside this session, on a busy 2-core machine, a widget's
# redraw can wait minutes behind the notebook kernels of the other tests.
TEST_WORKERS ?= 2
test: setup
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist worksteal) -m "not browser" -rs --durations=25 $(PYTEST_ARGS)

# JupyterLab in headless Chromium (Debian's `chromium` package) driven by Playwright; skips, saying why,
# when the browser is missing. Screenshots land in runs/browser/.
test-browser: setup
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest -m browser -rs -v tests/test_browser.py $(PYTEST_ARGS)

lab: setup
	$(VENV)/bin/jupyter lab notebooks

bench: setup
	$(PY) benchmarks/bench_phantom.py --json runs/bench/phantom.json
	$(PY) benchmarks/bench_texture.py --json runs/bench/texture.json
	$(PY) benchmarks/bench_dcgan.py --json runs/bench/dcgan.json
	$(PY) benchmarks/bench_augment.py --json runs/bench/augment.json
	$(PY) benchmarks/bench_metrics.py --json runs/bench/metrics.json
	$(PY) benchmarks/bench_losses.py --json runs/bench/losses.json
	$(PY) benchmarks/bench_conditional.py --json runs/bench/conditional.json
	$(PY) benchmarks/bench_families.py --json runs/bench/families.json
	$(PY) benchmarks/bench_diffusion.py --json runs/bench/diffusion.json

# Colab runs Python 3.12: build the cached Colab-like 3.12 runtime once (torch for 3.12 is about 3 GB, kept in
# ~/.cache/medgan-nb outside the checkout) and run the fresh-environment test on it; later `make test` runs reuse it
colab-env: setup
	MEDGAN_COLAB_BUILD=1 OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest -rs -v tests/test_colab_fresh_env.py -k "python-3.12" $(PYTEST_ARGS)

colab-links: setup
	$(PY) -m medgan_nb.tools.colab

.PHONY: student
student: setup
	$(PY) -m medgan_nb.tools.course student

clean:
	rm -rf runs dist .pytest_cache data/cache
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) *.egg-info

# The two commands: `make run` (train PPO on CartPole over 64 seeds) and `make test`.
# Both create the virtual environment on first use, from the pinned constraints.txt (the
# newest supported set); `make test` also builds .venv-oldest from constraints-oldest.txt
# (the oldest supported JAX) and runs a fast subset there.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OLDEST ?= .venv-oldest
OLDEST_STAMP := $(OLDEST)/.installed
# The fast subset under the oldest set (about a minute): hand-computed returns and the
# contract suite for PPO and DQN, whose runs go through the driver's chunks, checkpoints
# and bitwise resume (the env suites and tools beyond the core are not installed there).
OLDEST_TESTS := tests/test_advantages.py tests/contract/test_contract.py
OLDEST_CASES := ppo@CartPole-v1,dqn@CartPole-v1

.PHONY: run test test-oldest test-fast test-extended docs bench notebooks clean-venv

# install VENV CONSTRAINTS EXTRAS: uv resolves and installs the pinned set in seconds
# (pip takes about two minutes for .[dev]); pip does it where uv cannot be had.
UV := uv>=0.9,<0.14
define install
	test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --upgrade "pip>=24" "$(UV)"
	$(1)/bin/uv pip install --quiet --python $(1)/bin/python -c $(2) -e ".[$(3)]" \
		|| $(1)/bin/python -m pip install --quiet -c $(2) -e ".[$(3)]"
	touch $(1)/.installed
endef

$(STAMP): pyproject.toml constraints.txt
	$(call install,$(VENV),constraints.txt,dev)

$(OLDEST_STAMP): pyproject.toml constraints-oldest.txt
	$(call install,$(OLDEST),constraints-oldest.txt,test)

run: $(STAMP)
	$(VENV)/bin/jaxrl train ppo --env CartPole-v1 --num-seeds 64 --total-timesteps 500000 --out runs/ppo-cartpole

# Two workers: most tests wait on a single-threaded XLA compile, so two share 2 cores
# (each test file runs in one worker, so module fixtures are built once).
test: $(STAMP) $(OLDEST_STAMP)
	$(MAKE) docs
	$(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=30 -m "not extended"
	$(MAKE) test-oldest

test-oldest: $(OLDEST_STAMP)
	JAXRL_CONTRACT_CASES=$(OLDEST_CASES) $(OLDEST)/bin/python -m pytest -q -n 2 \
		--dist loadfile -m "not extended" $(OLDEST_TESTS)

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not extended"

# Learning checks that CI's time budget leaves out (each states its measured result).
test-extended: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile -m extended

# The documentation site (docs/, mkdocs.yml) into site/; --strict fails on a broken
# link, a missing snippet or an API name that no longer exists.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

bench: $(STAMP)
	$(VENV)/bin/jaxrl bench ppo --env CartPole-v1 --members 1,16,64 --total-timesteps 262144 --json benchmarks/results/ppo_cartpole.json

# Re-execute the notebooks at their documented budget and store them with outputs.
notebooks: $(STAMP)
	$(PY) notebooks/run_notebooks.py

clean-venv:
	rm -rf $(VENV) $(OLDEST)

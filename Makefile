# kateval: `make install`, `make eval`, `make test`. See README.md.
VENV    ?= .venv
PY      := $(VENV)/bin/python
KATEVAL := $(PY) -m kateval

# The embedded default: no GPU, no network. Data from the shared folder beside the checkout.
DATA_DIR ?= $(if $(KATEVAL_DATA_DIR),$(KATEVAL_DATA_DIR),$(abspath ../shared/data))
MODEL   ?=
BACKEND ?= $(if $(MODEL),vllm,reference)
TASKS   ?= aime24
N       ?= 1
LIMIT   ?=
OUT     ?= runs/$(if $(MODEL),$(notdir $(MODEL)),default)
RUNS    ?= $(wildcard runs/*)
EXTRA   ?=

export KATEVAL_DATA_DIR := $(DATA_DIR)

.PHONY: install test eval report compare leaderboard bench lint

install:
	bash scripts/install.sh $(VENV)

test:
	$(PY) -m pytest -q

eval:
	$(KATEVAL) run --backend $(BACKEND) $(if $(MODEL),--model $(MODEL)) --tasks $(TASKS) --n $(N) \
		$(if $(LIMIT),--limit $(LIMIT)) --out $(OUT) $(EXTRA)
	$(KATEVAL) report $(OUT)

report:
	$(KATEVAL) report $(OUT)

compare:
	$(KATEVAL) compare $(A) $(B)

leaderboard:
	$(KATEVAL) leaderboard $(RUNS) --out reports/leaderboard

bench:
	$(PY) benchmarks/run_all.py

lint:
	$(PY) -m ruff check kateval tests benchmarks

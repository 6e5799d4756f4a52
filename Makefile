# kateval: `make install`, `make eval`, `make test`. See README.md.
VENV    ?= .venv
PY      := $(VENV)/bin/python
KATEVAL := $(PY) -m kateval

# The embedded default: no GPU, no network. Data from the shared folder beside the checkout.
DATA_DIR ?= $(if $(KATEVAL_DATA_DIR),$(KATEVAL_DATA_DIR),$(abspath ../shared/data))
# With no MODEL: a tiny random-weight model built locally (kateval/tinymodel.py) on the real vLLM backend, a few
# problems of every task, grammar-constrained so every stage has work. It proves the pipeline, not a score.
MODEL   ?=
TINY    := .cache/tiny-kat
BACKEND ?= vllm
TASKS   ?= aime24,aime25,aime26,humaneval,humaneval_plus,mbpp,mbpp_sanitized,mbpp_plus,livecodebench
N       ?= 1
LIMIT   ?= $(if $(MODEL),,2)
TINY_FLAGS := --grammar autothink --max-tokens 512 --max-model-len 4096
OUT     ?= runs/$(notdir $(if $(MODEL),$(MODEL),$(TINY)))
RUNS    ?= $(wildcard runs/*)
EXTRA   ?=
# make audit: auto against forced on and off on the same problems and seeds (the tiny model: two tasks, a few
# problems, 4 samples each, so every part of the report has data; with MODEL: TASKS in full).
AUDIT_TASKS ?= $(if $(MODEL),$(TASKS),aime24,aime25)
AUDIT_N     ?= 4
AUDIT_LIMIT ?= $(if $(MODEL),,3)
AUDIT_OUT   ?= runs/audit-$(notdir $(if $(MODEL),$(MODEL),$(TINY)))

export KATEVAL_DATA_DIR := $(DATA_DIR)

.PHONY: install test eval report compare leaderboard bench lint audit sweep

install:
	bash scripts/install.sh $(VENV)

test:
	$(PY) -m pytest -q

eval:
	$(if $(MODEL),,$(PY) -m kateval.tinymodel $(TINY))
	$(KATEVAL) run --backend $(BACKEND) --model $(if $(MODEL),$(MODEL),$(TINY) $(TINY_FLAGS)) --tasks $(TASKS) \
		--n $(N) $(if $(LIMIT),--limit $(LIMIT)) --out $(OUT) $(EXTRA)
	$(KATEVAL) report $(OUT)

report:
	$(KATEVAL) report $(OUT)

audit:
	$(if $(MODEL),,$(PY) -m kateval.tinymodel $(TINY))
	$(KATEVAL) audit --backend $(BACKEND) --model $(if $(MODEL),$(MODEL),$(TINY) $(TINY_FLAGS)) \
		--tasks $(AUDIT_TASKS) --n $(AUDIT_N) $(if $(AUDIT_LIMIT),--limit $(AUDIT_LIMIT)) --out $(AUDIT_OUT) $(EXTRA)

compare:  # make compare A=RUN_DIR B=RUN_DIR [EXTRA=--force]
	$(if $(and $(A),$(B)),,$(error usage: make compare A=RUN_DIR B=RUN_DIR))
	$(KATEVAL) compare $(A) $(B) --out reports/compare $(EXTRA)

leaderboard:
	$(KATEVAL) leaderboard $(RUNS) --out reports/leaderboard

bench:
	$(PY) benchmarks/run_all.py

lint:
	$(PY) -m ruff check kateval tests benchmarks

# make sweep: accuracy against tokens over think modes x thinking budgets, every cell in one engine queue (the tiny
# model: small budgets that cut its short thoughts, a few problems; with MODEL: TASKS in full).
SWEEP_TASKS   ?= $(if $(MODEL),$(TASKS),aime24,aime25)
SWEEP_MODES   ?= auto,on,off
SWEEP_BUDGETS ?= $(if $(MODEL),$(MODEL_SWEEP_BUDGETS),$(TINY_SWEEP_BUDGETS))
MODEL_SWEEP_BUDGETS := 1024,2048,4096,8192,16384,none
TINY_SWEEP_BUDGETS  := 4,8,16,32,none
SWEEP_N       ?= $(if $(MODEL),8,4)
SWEEP_LIMIT   ?= $(if $(MODEL),,3)
SWEEP_OUT     ?= runs/sweep-$(notdir $(if $(MODEL),$(MODEL),$(TINY)))

sweep:
	$(if $(MODEL),,$(PY) -m kateval.tinymodel $(TINY))
	$(KATEVAL) sweep --backend $(BACKEND) --model $(if $(MODEL),$(MODEL),$(TINY) $(TINY_FLAGS)) \
		--tasks $(SWEEP_TASKS) --modes $(SWEEP_MODES) --thinking-budgets $(SWEEP_BUDGETS) --n $(SWEEP_N) \
		$(if $(SWEEP_LIMIT),--limit $(SWEEP_LIMIT)) --out $(SWEEP_OUT) $(EXTRA)

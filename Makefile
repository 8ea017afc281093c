# Coinage build. `make` -> build/coinage (optimised); `make debug` -> build/debug/coinage with
# ASan/UBSan; `make test` -> sanitizer build + every test; `make run` -> setup + serve.
CC      ?= cc
PKGS    := libwebsockets jansson libsodium libjwt sqlite3 zlib libpq
WARN    := -Wall -Wextra -Werror -Wshadow -Wvla -Wformat=2
COMMON  := -std=gnu11 $(WARN) -Isrc -MMD -MP -D_GNU_SOURCE
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm

MODE ?= release
ifeq ($(MODE),debug)
  OUT    := build/debug
  OPT    := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDOPT  := -fsanitize=address,undefined
else
  OUT    := build
  OPT    := -O2 -g
  LDOPT  :=
endif

SRC      := $(filter-out src/main.c,$(wildcard src/*/*.c))
OBJ      := $(patsubst src/%.c,$(OUT)/obj/%.o,$(SRC)) $(OUT)/obj/gen/migrations.o
MIGR     := $(sort $(wildcard src/store/migrations/*.sql))
UNIT_SRC := $(wildcard tests/unit/*/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(OUT)/tests/%,$(UNIT_SRC))

.PHONY: all debug release test test-unit test-api test-compat run setup fmt fmt-check clean bench
all: $(OUT)/coinage

$(OUT)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(COMMON) $(OPT) $(PKG_CFLAGS) -c $< -o $@

$(OUT)/gen/migrations.c: $(MIGR) scripts/embed-sql.sh
	@mkdir -p $(dir $@)
	sh scripts/embed-sql.sh $(MIGR) > $@

$(OUT)/obj/gen/migrations.o: $(OUT)/gen/migrations.c
	@mkdir -p $(dir $@)
	$(CC) $(COMMON) $(OPT) -c $< -o $@

$(OUT)/libcoinage.a: $(OBJ)
	@rm -f $@
	ar rcs $@ $^

$(OUT)/coinage: $(OUT)/obj/main.o $(OUT)/libcoinage.a
	$(CC) $(OPT) $(LDOPT) -o $@ $^ $(PKG_LIBS)

$(OUT)/tests/%: tests/unit/%.c $(OUT)/libcoinage.a
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(COMMON) $(OPT) $(PKG_CFLAGS) -Itests/unit -o $@ $< $(OUT)/libcoinage.a $(PKG_LIBS) -lcriterion

debug:
	$(MAKE) MODE=debug build/debug/coinage

# Every test, with sanitizers: unit tests (Criterion), then the API tests against a real server,
# then the web dashboard in a real browser.
test:
	$(MAKE) MODE=debug build/debug/coinage test-unit
	$(MAKE) MODE=debug test-analytics
	$(MAKE) MODE=debug test-api
	$(MAKE) MODE=debug test-compat
	$(MAKE) MODE=debug test-web
	$(MAKE) MODE=debug test-api-pg

test-unit: $(UNIT_BIN)
	@set -e; fail=0; for t in $(UNIT_BIN); do echo "== $$t"; $$t --jobs 2 || fail=1; done; exit $$fail

test-api: $(OUT)/coinage
	sh scripts/npm-deps.sh
	cd tests/api && COINAGE_BIN=$(CURDIR)/$(OUT)/coinage node --test *.test.mjs

# Long suites: the engine against its reference on 100M random commands (release build; about
# 10-15 min on 2 cores), then the 20-trial crash harness. A failing seed replays with REF_SEED.
.PHONY: test-long
test-long: build/tests/engine/test_reference
	REF_COMMANDS=100000000 build/tests/engine/test_reference --jobs 1
	$(MAKE) test-crash

# Crash harness (tests/crash/crash.mjs): 20 seeded trials of concurrent trading, SIGKILL and restart
# against the sanitizer build; every acknowledged request must survive. Replay one trial with
# `cd tests/api && COINAGE_BIN=$(CURDIR)/build/debug/coinage node ../crash/crash.mjs --seed S`.
.PHONY: test-crash
test-crash:
	$(MAKE) MODE=debug build/debug/coinage
	sh scripts/npm-deps.sh
	cd tests/api && COINAGE_BIN=$(CURDIR)/build/debug/coinage node ../crash/crash.mjs --trials 20

# Matching-engine benchmark (bench/bench_engine.c, method and figures in docs/benchmarks.md):
# release flags, linked against the same library as the server. `make bench` runs every benchmark.
.PHONY: bench-engine
bench-engine: $(OUT)/bench/bench_engine
	$(OUT)/bench/bench_engine

$(OUT)/bench/bench_engine: bench/bench_engine.c $(OUT)/libcoinage.a
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(COMMON) $(OPT) $(PKG_CFLAGS) -DBENCH_CFLAGS='"$(CC) $(OPT)"' -o $@ $< \
		$(OUT)/libcoinage.a $(PKG_LIBS)

# Recovery time (bench/bench_recovery.sh): 1M fills + 100k open orders, then restart.
.PHONY: bench-recovery
bench-recovery: $(OUT)/bench/bench_recovery $(OUT)/coinage
	sh bench/bench_recovery.sh

$(OUT)/bench/bench_recovery: bench/bench_recovery.c $(OUT)/libcoinage.a
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(COMMON) $(OPT) $(PKG_CFLAGS) -o $@ $< $(OUT)/libcoinage.a $(PKG_LIBS)

# End-to-end HTTP benchmark (wrk on loopback against a release server; see bench/bench_http.sh).
.PHONY: bench-http
bench-http:
	sh bench/bench_http.sh 10 32

bench: bench-engine bench-http bench-recovery

setup:
	sh scripts/setup-debian.sh

run: setup
	$(MAKE) build/coinage
	./build/coinage serve

fmt:
	clang-format -i $(wildcard src/*/*.c src/*/*.h src/*.c tests/unit/*/*.c tests/unit/*.h)

fmt-check:
	clang-format --dry-run -Werror $(wildcard src/*/*.c src/*/*.h src/*.c tests/unit/*/*.c tests/unit/*.h)

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)

# PostgreSQL (issue 4): the unit tests of the store drivers and the whole API suite (crash
# trials included) against a real PostgreSQL 15 that scripts/pg-test-server.sh installs if
# missing, starts in a temporary directory as an unprivileged user and removes afterwards.
.PHONY: test-api-pg bench-http-pg
test-api-pg: $(OUT)/coinage $(OUT)/tests/store/test_db
	sh scripts/npm-deps.sh
	sh scripts/pg-test-server.sh run sh -c '$(OUT)/tests/store/test_db --jobs 1 && \
		cd tests/api && COINAGE_BIN=$(CURDIR)/$(OUT)/coinage node --test *.test.mjs'

# bench-http against PostgreSQL (same load as bench-http; a throw-away server on a unix socket).
bench-http-pg:
	sh scripts/pg-test-server.sh run sh -c 'COINAGE_DB=$$COINAGE_TEST_PG sh bench/bench_http.sh 10 32'

# ---- analytics (indicators, market statistics, listings) ----
# test-analytics: the reference check of every indicator against the npm package
# technicalindicators (pinned in tests/analytics/package-lock.json) on the shipped klines.
# bench-analytics: indicators over 1M points and an 8 x 20k correlation matrix, optimised build.
.PHONY: test-analytics bench-analytics
$(OUT)/tests/ind_ref: tests/analytics/ind_ref.c $(OUT)/libcoinage.a
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(COMMON) $(OPT) $(PKG_CFLAGS) -o $@ $< $(OUT)/libcoinage.a $(PKG_LIBS)

test-analytics: $(OUT)/tests/ind_ref
	sh scripts/npm-deps.sh tests/analytics
	cd tests/analytics && IND_REF_BIN=$(CURDIR)/$(OUT)/tests/ind_ref node --test *.test.mjs

$(OUT)/bench/bench_analytics: bench/bench_analytics.c $(OUT)/libcoinage.a
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(COMMON) $(OPT) $(PKG_CFLAGS) -o $@ $< $(OUT)/libcoinage.a $(PKG_LIBS)

bench-analytics:
	$(MAKE) MODE=release build/bench/bench_analytics
	./build/bench/bench_analytics "$(CC) $(OPT)" "$$(git rev-parse --short HEAD)$$(git diff --quiet HEAD -- src || echo '+dirty')"

# ---- web dashboard (issue 7) ----
# `make` vendors the pinned chart library (web/package-lock.json) into web/vendor/, which coinage
# serves with the rest of web/ (no Node at run time). `make test-web` drives the dashboard in
# Debian's chromium (tests/web, playwright-core) against a sanitizer build.
WEB_VENDOR := web/vendor/lightweight-charts.standalone.production.js
.PHONY: web-vendor test-web
all: $(WEB_VENDOR)
run: $(WEB_VENDOR)
web-vendor: $(WEB_VENDOR)

$(WEB_VENDOR): web/package.json web/package-lock.json
	sh scripts/npm-deps.sh web
	@mkdir -p web/vendor
	cp web/node_modules/lightweight-charts/dist/lightweight-charts.standalone.production.js $@

test-web: $(OUT)/coinage $(WEB_VENDOR)
	sh scripts/npm-deps.sh tests/api
	sh scripts/npm-deps.sh tests/web
	cd tests/web && COINAGE_BIN=$(CURDIR)/$(OUT)/coinage node --test --test-concurrency=1 *.test.mjs

# Portfolio (issue 6): the 10k-fill snapshot measurement against the optimised build.
.PHONY: bench-portfolio
bench-portfolio: build/coinage
	sh scripts/npm-deps.sh
	cd tests/api && COINAGE_BIN=$(CURDIR)/build/coinage node --test portfolio_perf.test.mjs
# Binance compatibility: unmodified ccxt (pinned in tests/compat/package-lock.json) against a real
# coinage on loopback. Uses the API tests' helpers, so it installs both dependency sets.
test-compat: $(OUT)/coinage
	sh scripts/npm-deps.sh tests/api
	sh scripts/npm-deps.sh tests/compat
	cd tests/compat && COINAGE_BIN=$(CURDIR)/$(OUT)/coinage node --test *.test.mjs

# Binance-compatible WebSocket fan-out benchmark: N clients x 5 streams against the optimised build.
# `make bench-binance-ws ARGS="200 20 5"` = clients, seconds, replay speed.
bench-binance-ws: build/coinage
	sh scripts/npm-deps.sh
	COINAGE_BIN=$(CURDIR)/build/coinage node bench/binance_ws_fanout.mjs $(ARGS)

# ---- flake hunting (not part of `make test`) ----
# test-soak: every API, compat and browser test file run SOAK_ROUNDS times, one file at a time
# (scripts/soak.sh keeps the output of each failing run under SOAK_DIR and prints a summary), then
# the boundary-value sweep of every read route (tests/api/extreme_params.soak.mjs) that a
# sanitizer build must survive. `make test-soak SOAK_ROUNDS=5 SOAK_FILES="ws.test.mjs"` narrows it.
SOAK_ROUNDS ?= 3
SOAK_DIR ?= /tmp/cg-soak
SOAK_FILES ?= $(notdir $(wildcard tests/api/*.test.mjs))
.PHONY: test-soak test-soak-run
test-soak:
	$(MAKE) MODE=debug test-soak-run

test-soak-run: $(OUT)/coinage $(WEB_VENDOR)
	sh scripts/npm-deps.sh tests/api
	sh scripts/npm-deps.sh tests/compat
	sh scripts/npm-deps.sh tests/web
	@fail=0; export COINAGE_BIN=$(CURDIR)/$(OUT)/coinage; \
	SOAK_DIR=$(SOAK_DIR)/api sh scripts/soak.sh $(SOAK_ROUNDS) tests/api $(SOAK_FILES) extreme_params.soak.mjs || fail=1; \
	SOAK_DIR=$(SOAK_DIR)/compat sh scripts/soak.sh $(SOAK_ROUNDS) tests/compat $(notdir $(wildcard tests/compat/*.test.mjs)) || fail=1; \
	SOAK_DIR=$(SOAK_DIR)/web sh scripts/soak.sh $(SOAK_ROUNDS) tests/web $(notdir $(wildcard tests/web/*.test.mjs)) || fail=1; \
	exit $$fail

# Ledger audit vs the network thread (bench/bench_invariants.sh): /health latency while
# GET /api/v1/admin/invariants audits a store of 1M fills + 100k open orders on the admin worker.
.PHONY: bench-invariants
bench-invariants: $(OUT)/bench/bench_recovery $(OUT)/coinage
	sh bench/bench_invariants.sh

# Recovery time on PostgreSQL (issue 4): the same bench/bench_recovery.sh store (1M fills, 100k
# open orders) in a throw-away PostgreSQL 15 (scripts/pg-test-server.sh), then restart on it.
.PHONY: bench-recovery-pg
bench-recovery-pg: $(OUT)/bench/bench_recovery $(OUT)/coinage
	sh scripts/pg-test-server.sh run sh -c 'COINAGE_DB=$$COINAGE_TEST_PG sh bench/bench_recovery.sh'

# barkeep — the two commands a newcomer needs are `make run` and `make test`.

SHELL := /bin/bash
CARGO ?= cargo
# The PostgreSQL pass of `make test` runs when this names a server (an admin URL).
BARKEEP_TEST_POSTGRES_URL ?=
export BARKEEP_TEST_POSTGRES_URL

# schemathesis, pinned, in a virtualenv of its own under target/.
SCHEMATHESIS_VERSION := 4.32.5
VENV := target/venv
SCHEMATHESIS := $(VENV)/bin/schemathesis

.PHONY: run geoip test test-deps test-sqlite test-postgres test-widget test-dashboard test-schema lint bench clean-test-databases

## run: the server with the embedded defaults (SQLite in ./data, email into ./data/mail-out, billing off;
## country targeting on once `make geoip` has fetched a database)
GEOIP_PACKAGE := @ip-location-db/geo-whois-asn-country-mmdb@2.3.2026061719
GEOIP_DB := data/geoip/geo-whois-asn-country.mmdb
run:
	BARKEEP_GEOIP_DB="$${BARKEEP_GEOIP_DB:-$(wildcard $(GEOIP_DB))}" $(CARGO) run --bin barkeep -- serve

## geoip: an IP-to-country database in MaxMind's format (ip-location-db, from the npm
## registry) in data/geoip/, which `make run` then uses for country targeting
geoip:
	mkdir -p data/geoip
	cd data/geoip && tarball=$$(npm pack --silent $(GEOIP_PACKAGE)) && \
		tar xzf "$$tarball" --strip-components=1 package/geo-whois-asn-country.mmdb && rm -f "$$tarball"
	@echo "$(GEOIP_DB) is ready: make run uses it (or set BARKEEP_GEOIP_DB=$(GEOIP_DB))"

## test: the whole suite, on SQLite and (when BARKEEP_TEST_POSTGRES_URL is set) on PostgreSQL,
## after the lints (formatting and clippy)
test: test-deps lint
	$(CARGO) build --tests --bins
	@$(MAKE) --no-print-directory test-sqlite
	@$(MAKE) --no-print-directory test-widget
	@env -u BARKEEP_TEST_POSTGRES_URL $(MAKE) --no-print-directory test-dashboard
	@if [ -n "$$BARKEEP_TEST_POSTGRES_URL" ]; then \
		$(MAKE) --no-print-directory test-postgres && \
		echo "make test: backends run: sqlite postgres"; \
	else \
		echo "make test: backends run: sqlite (set BARKEEP_TEST_POSTGRES_URL for the PostgreSQL pass)"; \
	fi

test-sqlite:
	@echo "== test suite on SQLite =="
	env -u BARKEEP_TEST_POSTGRES_URL $(CARGO) test --no-fail-fast
	env -u BARKEEP_TEST_POSTGRES_URL $(MAKE) --no-print-directory test-schema

test-postgres: clean-test-databases
	@echo "== test suite on PostgreSQL ($(BARKEEP_TEST_POSTGRES_URL)) =="
	$(CARGO) test --no-fail-fast
	@$(MAKE) --no-print-directory test-schema
	@$(MAKE) --no-print-directory test-dashboard

## The member API against its own OpenAPI document (schemathesis), on the backend the
## environment names.
test-schema:
	@echo "== schemathesis =="
	python3 tests/schema/run.py target/debug/barkeep $(SCHEMATHESIS)

## The bar runtime on its own, in Chromium, with hand-made configurations (no server).
test-widget:
	@echo "== bar runtime in Chromium =="
	node --test tests/browser/widget.test.mjs

## The dashboard in Chromium against the debug binary (on PostgreSQL when
## BARKEEP_TEST_POSTGRES_URL is set): signup to a live bar and its chart, axe-core on every
## page, screenshots in tests/browser/artifacts/dashboard/.
test-dashboard:
	@echo "== dashboard in Chromium =="
	BARKEEP_BIN=target/debug/barkeep node --test tests/browser/dashboard.test.mjs

## Databases left by earlier runs (a test that panicked does not drop its own).
clean-test-databases:
	@psql "$(BARKEEP_TEST_POSTGRES_URL)" -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'barkeep\_test\_%'" 2>/dev/null \
		| while read -r db; do psql "$(BARKEEP_TEST_POSTGRES_URL)" -qc "DROP DATABASE IF EXISTS \"$$db\" WITH (FORCE)" >/dev/null; done || true

## What the tests need beyond cargo: an SMTP server (aiosmtpd), a DKIM verifier
## (dkimpy), Chromium, HAProxy (in front of three nodes), PostgreSQL's
## server binaries (some tests run a server of their own), the widget's npm packages
## and schemathesis.
test-deps:
	@missing=""; \
	/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || missing="$$missing python3-aiosmtpd"; \
	/usr/bin/python3 -c 'import dkim' 2>/dev/null || missing="$$missing python3-dkim"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || missing="$$missing haproxy"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v psql >/dev/null || missing="$$missing postgresql-client"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	@cd widget && if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then npm ci --no-audit --no-fund; fi
	@if ! $(SCHEMATHESIS) --version 2>/dev/null | grep -q "$(SCHEMATHESIS_VERSION)"; then \
		echo "installing schemathesis $(SCHEMATHESIS_VERSION) into $(VENV)"; \
		python3 -m venv --clear $(VENV) && $(VENV)/bin/pip install -q "schemathesis==$(SCHEMATHESIS_VERSION)"; \
	fi

## bench: wrk against the release binary on loopback; see docs/BENCHMARKS.md
bench:
	@command -v wrk >/dev/null || { \
		SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk >/dev/null; }
	$(CARGO) bench --bench load
	$(CARGO) bench --bench webhooks
	$(CARGO) bench --bench alerts
	$(CARGO) bench --bench benchmarks
	@test -x target/lighthouse/node_modules/.bin/lighthouse || { \
		mkdir -p target/lighthouse && cd target/lighthouse && npm i -E --no-audit --no-fund lighthouse@12.2.3 >/dev/null; }
	$(CARGO) bench --bench pages
	$(CARGO) bench --bench cluster

## lint: formatting and clippy, warnings are errors
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

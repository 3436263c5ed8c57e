# chatd — the two commands that matter: `make run` and `make test`. Both install what is missing.
SWIFT      ?= swift
ARGS       ?=
# Debian packages the build and the tests need (installed by `make deps` when missing).
APT_PACKAGES ?= libsystemd-dev pkg-config
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build run test lint format deps clean

all: build

## deps: install the Debian packages the build and tests need, if any are missing
deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "make: installing$$missing"; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

## build: debug build of every product
build: deps
	$(SWIFT) build

## run: start chatd on its built-in defaults (chat on 127.0.0.1:7777); ARGS="--listen 0.0.0.0:7777" to change
run: build
	.build/debug/chatd $(ARGS)

## test: build everything and run the whole suite (unit and end-to-end)
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

## lint: check formatting with the toolchain's swift-format (.swift-format)
lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Package.swift

## format: rewrite the sources in the house style
format:
	$(SWIFT) format format --in-place --recursive Sources Tests Package.swift

clean:
	rm -rf .build

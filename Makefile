# chatd — the two commands that matter: `make run` and `make test`. Both install what is missing.
SWIFT      ?= swift
ARGS       ?=
# Debian packages the build and the tests need (installed by `make deps` when missing):
# libsystemd for sd_notify, libicu for nick and room name normalization and look-alike
# skeletons, tmux as the real terminal the `chat` client is tested in, Chromium and
# its driver for the web client's browser test (with Selenium from PyPI in .build/venv),
# openssl, curl, HAProxy and promtool for the TLS, proxy and metrics tests, and irssi and
# WeeChat, the real IRC clients the IRC listener is tested with.
APT_PACKAGES ?= libsystemd-dev libicu-dev pkg-config iproute2 tmux chromium chromium-driver python3-venv openssl curl haproxy prometheus irssi weechat-curses
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Installation layout (`make install PREFIX=/usr DESTDIR=/tmp/root`).
PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/chatd
VERSION    := $(shell sed -n 's/.*static let current = "\(.*\)".*/\1/p' Sources/ChatCore/Version.swift)
ARCH       := $(shell dpkg --print-architecture 2>/dev/null || uname -m)
RELEASE    := .build/release
DEB        := .build/chatd_$(VERSION)_$(ARCH).deb

FUZZ_SECONDS ?= 300
VENV       := .build/venv
BENCH_APT_PACKAGES ?= ngircd inspircd
NIO_VERSION := 2.101.3
NIO_CHAT_SERVER := .build/bench/swift-nio/.build/release/NIOChatServer
SELENIUM   := 4.51.0

.PHONY: irctest testssl all build run test lint format deps browser-deps bench clean release man install deb check-install fuzz

all: build

# Installs the Debian packages named in $(1) that are missing.
define apt_install
	@missing=""; \
	for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "make: installing$$missing"; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi
endef

## deps: install the Debian packages the build and tests need, if any are missing
deps:
	$(call apt_install,$(APT_PACKAGES))

## bench: chatd and its peers (NIOChatServer, ngircd, InspIRCd) under the same workloads, one table
## (docs/BENCHMARKS.md). BENCH_SECONDS=20 per run, BENCH_SERVERS="chatd chatd-percore chatd-irc nio ngircd inspircd"
## (chatd-irc: chatd through its IRC listener), BENCH_IDLE=10000, BENCH_LOAD=0 for idle memory only,
## BENCH_WORKLOADS=N for the first N workloads only.
bench: deps
	$(call apt_install,$(BENCH_APT_PACKAGES))
	@# The Debian packages start their own services on 6667; the benchmark runs its own copies.
	-@if [ -d /run/systemd/system ]; then $(SUDO) systemctl disable --now ngircd inspircd >/dev/null 2>&1; fi
	$(SWIFT) build -c release --product chatd
	$(SWIFT) build -c release --product chat-bench
	@if [ ! -x $(NIO_CHAT_SERVER) ]; then \
		rm -rf .build/bench/swift-nio && \
		git clone -q --branch $(NIO_VERSION) https://github.com/apple/swift-nio.git .build/bench/swift-nio && \
		cd .build/bench/swift-nio && $(SWIFT) build -c release --product NIOChatServer; \
	fi
	python3 Tests/Bench/bench.py | tee .build/bench/results.md

## build: debug build of every product
build: deps
	$(SWIFT) build

## run: start chatd on its built-in defaults (chat on 127.0.0.1:7777, the web client on
## http://127.0.0.1:8080/); ARGS="--listen 0.0.0.0:7777" to change
run: build
	.build/debug/chatd $(ARGS)

## test: build everything, the .deb included, and run the whole suite (unit, end-to-end, packaging)
test: deps browser-deps deb check-install
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

## browser-deps: Selenium (from PyPI) in .build/venv, for the web client's browser test
browser-deps: deps
	@$(VENV)/bin/python -c 'import selenium' 2>/dev/null || { \
		echo "make: installing Selenium $(SELENIUM) in $(VENV)"; \
		python3 -m venv $(VENV) && $(VENV)/bin/pip install -q 'selenium==$(SELENIUM)'; }

## check-install: `make install` twice keeps an edited config
check-install: release man
	rm -rf .build/install-check
	$(MAKE) --no-print-directory install DESTDIR=$(CURDIR)/.build/install-check PREFIX=/usr >/dev/null
	echo '{"eventLoops": 1}' > .build/install-check/etc/chatd/chatd.json
	$(MAKE) --no-print-directory install DESTDIR=$(CURDIR)/.build/install-check PREFIX=/usr | grep -q "keeping the existing"
	grep -q '"eventLoops": 1' .build/install-check/etc/chatd/chatd.json
	@echo "check-install: an existing config is kept"

## lint: check formatting with the toolchain's swift-format (.swift-format)
lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Package.swift

## format: rewrite the sources in the house style
format:
	$(SWIFT) format format --in-place --recursive Sources Tests Package.swift

## release: one optimized binary with the Swift runtime linked in (no toolchain needed where it runs);
## chatctl and chat are installed as links to it, and it runs the command it was started as
release: deps
	$(SWIFT) build -c release --static-swift-stdlib --product chatd

## man: chatd(8), chatctl(1) and chat(1), generated from the command-line definitions
man: deps
	$(SWIFT) package generate-manual --configuration debug --section 8 >/dev/null
	$(SWIFT) package generate-manual --configuration debug --section 1 >/dev/null
	mkdir -p .build/man
	cp .build/plugins/GenerateManual/outputs/chatd/chatd.8 .build/plugins/GenerateManual/outputs/chatctl/chatctl.1 \
		.build/plugins/GenerateManual/outputs/chat/chat.1 .build/man/

## install: binaries, units, sysusers/tmpfiles snippets, man pages, docs; the config only if absent
install: release man
	install -D -m 0755 $(RELEASE)/chatd $(DESTDIR)$(SBINDIR)/chatd
	strip --strip-debug $(DESTDIR)$(SBINDIR)/chatd
	mkdir -p $(DESTDIR)$(BINDIR)
	ln -sfr $(DESTDIR)$(SBINDIR)/chatd $(DESTDIR)$(BINDIR)/chatctl
	ln -sfr $(DESTDIR)$(SBINDIR)/chatd $(DESTDIR)$(BINDIR)/chat
	mkdir -p $(DESTDIR)$(UNITDIR)
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@BINDIR@|$(BINDIR)|g' packaging/chatd.service.in > $(DESTDIR)$(UNITDIR)/chatd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/chatd.service
	install -m 0644 packaging/chatd.socket packaging/chatd-admin.socket packaging/chatd-web.socket $(DESTDIR)$(UNITDIR)/
	install -D -m 0644 packaging/sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/chatd.conf
	install -D -m 0644 packaging/tmpfiles.conf $(DESTDIR)$(TMPFILESDIR)/chatd.conf
	install -D -m 0644 .build/man/chatd.8 $(DESTDIR)$(MANDIR)/man8/chatd.8
	install -D -m 0644 .build/man/chatctl.1 $(DESTDIR)$(MANDIR)/man1/chatctl.1
	install -D -m 0644 .build/man/chat.1 $(DESTDIR)$(MANDIR)/man1/chat.1
	install -D -m 0644 -t $(DESTDIR)$(DOCDIR) README.md docs/*.md
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/chatd/chatd.json ]; then \
		echo "keeping the existing $(DESTDIR)$(SYSCONFDIR)/chatd/chatd.json"; \
	else \
		install -D -m 0640 config/chatd.json $(DESTDIR)$(SYSCONFDIR)/chatd/chatd.json; \
	fi

## deb: a .deb that installs on Debian 12 without a Swift toolchain
deb: deps
	rm -rf .build/deb
	$(MAKE) install DESTDIR=$(CURDIR)/.build/deb PREFIX=/usr UNITDIR=/lib/systemd/system SYSUSERSDIR=/usr/lib/sysusers.d TMPFILESDIR=/usr/lib/tmpfiles.d
	mkdir -p .build/deb/DEBIAN
	install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm .build/deb/DEBIAN/
	echo /etc/chatd/chatd.json > .build/deb/DEBIAN/conffiles
	depends=$$(for lib in $$(objdump -p .build/deb/usr/sbin/chatd | awk '/NEEDED/{print $$2}' | sort -u); do \
			dpkg -S "*/$$lib" | cut -d: -f1; done | sort -u | paste -sd, | sed 's/,/, /g'); \
	size=$$(du -sk .build/deb --exclude=DEBIAN | cut -f1); \
	sed -e 's/@VERSION@/$(VERSION)/' -e 's/@ARCH@/$(ARCH)/' -e "s/@DEPENDS@/$$depends/" -e "s/@SIZE@/$$size/" \
		packaging/deb/control.in > .build/deb/DEBIAN/control
	dpkg-deb --root-owner-group --build .build/deb $(DEB)
	@echo "built $(DEB)"

## irctest: irctest, an independent IRC server conformance suite (from PyPI), against chatd's IRC
## listener and against ngIRCd for comparison (docs/IRC.md, "Conformance"). Not part of make test.
irctest: deps
	$(call apt_install,ngircd)
	-@if [ -d /run/systemd/system ]; then $(SUDO) systemctl disable --now ngircd >/dev/null 2>&1; fi
	$(SWIFT) build --product chatd
	Tests/IRC/run-irctest.sh

## fuzz: libFuzzer over ChatCore's parsers for FUZZ_SECONDS (default 300), seeded from Tests/Fuzz/Corpus
## testssl: testssl.sh against the TLS chat port and the HTTPS web port (docs/SECURITY.md); exits 1 on a HIGH finding
testssl: deps
	$(call apt_install,testssl.sh)
	$(SWIFT) build --product chatd
	Tests/TLS/testssl.sh

fuzz:
	cd Tests/Fuzz && $(SWIFT) build -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
	mkdir -p .build/fuzz-corpus .build/fuzz-artifacts
	Tests/Fuzz/.build/debug/FuzzParsers -max_total_time=$(FUZZ_SECONDS) -max_len=1024 -print_final_stats=1 \
		-artifact_prefix=.build/fuzz-artifacts/ .build/fuzz-corpus Tests/Fuzz/Corpus

clean:
	rm -rf .build Tests/Fuzz/.build

# bulkhead — one entry point: deps, build, test, bench, install, demo.
# `make V=1` shows the commands.

ARCH      ?= $(shell uname -m | sed 's/x86_64/x86_64/;s/aarch64/arm64/')
BPF_ARCH  := $(subst x86_64,x86,$(ARCH))
BUILD     := build
CLANG     ?= clang
BPFTOOL   ?= bpftool
CC        ?= cc
PREFIX    ?= /usr/local

CFLAGS    ?= -O2 -g
override CFLAGS += -Wall -Wextra -Werror -std=gnu11 -D_GNU_SOURCE
CPPFLAGS  += -Iinclude -Iuser -I$(BUILD) -MMD -MP
LDLIBS    += $(shell pkg-config --libs libbpf jansson 2>/dev/null || echo -lbpf -lelf -lz -ljansson)
# trace reads .gz logs (zlib) and lays out its graph (libm)
LDLIBS    += -lz -lm
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(BPF_ARCH) -Wall -Werror \
	      -Iinclude -Ivmlinux/$(ARCH) -mcpu=v3 -MMD -MP

ifeq ($(V),1)
Q :=
else
Q := @
endif

.DELETE_ON_ERROR:
.PHONY: all deps test unit e2e clean vmlinux install demo bench sanitize man deb fuzz fuzz-run FORCE

# Debian packages the build, the tests and the demo need (procps: sysctl;
# prometheus: promtool, which checks the metrics in tests/e2e/test_metrics.sh;
# git: tests/pkg/test_upgrade.sh builds an earlier commit of this repository).
DEPS_PKGS := clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libjansson-dev \
	     pkg-config make gcc iproute2 curl ncat socat iperf3 nftables \
	     jq util-linux python3 procps chromium libclang-rt-14-dev prometheus git
# ... and the man pages, the package and its tests (tests/pkg): installed by
# `make deps`, `make test`, `make install` and `make deb` (what each needs),
# not by a plain `make`, so a build host does not get rsyslog or Ansible.
MAN_PKGS  := pandoc groff man-db
DEB_PKGS  := $(MAN_PKGS) debhelper
PKGTEST_PKGS := $(DEB_PKGS) lintian bash-completion systemd logrotate rsyslog \
	     debootstrap ansible-core
DEPS_STAMP := $(BUILD)/.deps-ok

all: $(DEPS_STAMP) $(BUILD)/bulkhead $(BUILD)/probe

# Quick and silent when everything is present; installs what is missing.
deps:
	$(Q)tools/deps.sh $(DEPS_PKGS) $(PKGTEST_PKGS)

$(DEPS_STAMP):
	$(Q)tools/deps.sh $(DEPS_PKGS)
	$(Q)mkdir -p $(BUILD) && touch $@

USER_SRCS := $(wildcard user/*.c)
USER_OBJS := $(patsubst user/%.c,$(BUILD)/user/%.o,$(USER_SRCS))
LIB_OBJS  := $(filter-out $(BUILD)/user/main.o,$(USER_OBJS))

# Three BPF objects: the datapath, binding at creation (bind.bpf.c: its
# tracepoints may be missing, and a missing one fails its whole object), and
# local UNIX sockets (unix.bpf.c: its hooks need kernel 6.7+).
BPF_OBJS := bulkhead bind unix
.SECONDARY: $(patsubst %,$(BUILD)/%.bpf.o,$(BPF_OBJS))

$(BUILD)/%.bpf.o: bpf/%.bpf.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(if $(Q),@echo "  BPF     $@")
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(if $(Q),@echo "  SKEL    $@")
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf > $@

$(BUILD)/user/%.o: user/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(if $(Q),@echo "  CC      $@")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# The version string from one place (tools/version.sh: debian/changelog and
# git); rewritten only when it changes, so nothing rebuilds needlessly.
$(BUILD)/version.h: FORCE
	@mkdir -p $(@D)
	$(Q)tools/version.sh > $@.tmp && if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
$(USER_OBJS): $(BUILD)/version.h
FORCE:

# Objects may include the skeleton: all wait for it (then -MMD tracks the rest).
$(USER_OBJS): $(patsubst %,$(BUILD)/%.skel.h,$(BPF_OBJS))

$(BUILD)/bulkhead: $(USER_OBJS)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/probe: tests/probe/probe.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(if $(Q),@echo "  CC      $@")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $< -o $@

# C tests link the objects they test (everything but main.o). Unit tests
# (tests/unit) need no root; kernel tests (tests/kernel) need root and the
# real kernel. All share tests/harness.h. Binaries: $(BUILD)/test_* and
# $(BUILD)/kernel/test_*.
UNIT_TESTS   := $(patsubst tests/unit/%.c,$(BUILD)/%,$(wildcard tests/unit/test_*.c))
KERNEL_TESTS := $(patsubst tests/kernel/%.c,$(BUILD)/kernel/%,$(wildcard tests/kernel/test_*.c))

$(BUILD)/test_%: tests/unit/test_%.c $(LIB_OBJS)
	$(if $(Q),@echo "  CC      $@")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $^ $(LDLIBS) -lpthread -o $@

$(BUILD)/kernel/test_%: tests/kernel/test_%.c $(LIB_OBJS)
	@mkdir -p $(@D)
	$(if $(Q),@echo "  CC      $@")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $^ $(LDLIBS) -lpthread -o $@

# The README's test command: unit tests, then kernel, fuzz, end-to-end and
# packaging tests (root, real kernel; the packaging tests' packages first).
test: all $(UNIT_TESTS) $(KERNEL_TESTS) fuzz
	$(Q)tools/deps.sh $(PKGTEST_PKGS)
	$(Q)tests/run-all.sh

unit: $(UNIT_TESTS)
	$(Q)set -e; for t in $(UNIT_TESTS); do $$t; done; tests/unit/deps_check.sh $(DEPS_PKGS)

e2e: all
	$(Q)tests/e2e/run.sh

# Unit and end-to-end tests against an ASan/UBSan build (build/san): any
# sanitizer report makes the binary exit non-zero, which the tests assert.
SAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all -DBH_PLAIN_MALLOC
sanitize:
	$(Q)$(MAKE) --no-print-directory BUILD=$(BUILD)/san CFLAGS="$(SAN_FLAGS)" \
		$(BUILD)/san/bulkhead $(BUILD)/san/probe \
		$(patsubst $(BUILD)/%,$(BUILD)/san/%,$(UNIT_TESTS) $(KERNEL_TESTS))
	$(Q)CI=true BULKHEAD=$(CURDIR)/$(BUILD)/san/bulkhead BH_PROBE=$(CURDIR)/$(BUILD)/san/probe \
		BH_TEST_BIN_DIR=$(CURDIR)/$(BUILD)/san \
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 tests/run-all.sh

# libFuzzer targets (fuzz/fuzz_*.c, one a parser; docs/fuzzing.md), in
# build/fuzz: the objects built by clang with ASan and UBSan, and with
# BH_PLAIN_MALLOC so jansson allocates through malloc, where ASan sees it.
# `make fuzz-run` (part of `make test`) runs each over fuzz/corpus/<target>
# plus FUZZ_RUNS new inputs.
FUZZ_TARGETS := $(patsubst fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard fuzz/fuzz_*.c))
FUZZ_SAN  := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_FLAGS := -O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) -fsanitize=fuzzer-no-link -DBH_PLAIN_MALLOC
FUZZ_RUNS ?= 20000
fuzz:
	$(Q)$(MAKE) --no-print-directory BUILD=$(BUILD)/fuzz CC=$(CLANG) CFLAGS="$(FUZZ_FLAGS)" \
		$(FUZZ_TARGETS:$(BUILD)/fuzz/%=$(BUILD)/fuzz/fuzz/%)

$(BUILD)/fuzz/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz.h $(LIB_OBJS)
	@mkdir -p $(@D)
	$(if $(Q),@echo "  FUZZ    $@")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -fsanitize=fuzzer $< $(LIB_OBJS) $(LDLIBS) -lpthread -o $@

fuzz-run: fuzz
	$(Q)FUZZ_RUNS=$(FUZZ_RUNS) tests/fuzz-run.sh $(BUILD)/fuzz/fuzz

vmlinux:
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux/$(ARCH)/vmlinux.h

# Installed layout (DESTDIR for staging, PREFIX /usr/local or /usr). Files
# in /etc: the logrotate file is replaced, the policy never is (an existing
# /etc/bulkhead/policy.json is kept; the starter goes there only when absent).
SBINDIR    ?= $(PREFIX)/sbin
SYSCONFDIR ?= /etc
UNITDIR    ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
TMPFILESDIR ?= $(if $(filter /usr,$(PREFIX)),/usr/lib/tmpfiles.d,$(PREFIX)/lib/tmpfiles.d)
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/bulkhead
COMPLDIR   ?= $(PREFIX)/share/bash-completion/completions
LOGROTATEDIR ?= /etc/logrotate.d
MAN_PAGES  := $(BUILD)/man/bulkhead.8 $(BUILD)/man/bulkhead-policy.5 $(BUILD)/man/bulkhead-events.7

$(BUILD)/bulkhead.service: packaging/bulkhead.service.in FORCE
	@mkdir -p $(@D)
	$(Q)sed 's|@SBINDIR@|$(SBINDIR)|g; s|@SYSCONFDIR@|$(SYSCONFDIR)|g' $< > $@.tmp && \
		if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

# bulkhead(8) from the binary's own --help texts (tools/mkman.py), so the page
# cannot drift from the options; (5) and (7) from docs/ (pandoc).
$(BUILD)/man/bulkhead.8: $(BUILD)/bulkhead tools/mkman.py man/bulkhead.8.in
	@mkdir -p $(@D)
	$(if $(Q),@echo "  MAN     $@")
	$(Q)tools/mkman.py $(BUILD)/bulkhead man/bulkhead.8.in > $@
$(BUILD)/man/bulkhead-policy.5: docs/policy.md tools/md2man.sh
	@mkdir -p $(@D)
	$(if $(Q),@echo "  MAN     $@")
	$(Q)tools/md2man.sh $< bulkhead-policy 5 "bulkhead policy file" > $@
$(BUILD)/man/bulkhead-events.7: docs/events.md tools/md2man.sh
	@mkdir -p $(@D)
	$(if $(Q),@echo "  MAN     $@")
	$(Q)tools/md2man.sh $< bulkhead-events 7 "bulkhead event stream" > $@

$(MAN_PAGES): | $(BUILD)/.man-deps-ok
$(BUILD)/.man-deps-ok: | $(DEPS_STAMP)
	$(Q)tools/deps.sh $(MAN_PKGS)
	$(Q)touch $@

man: $(MAN_PAGES)

install: all $(MAN_PAGES) $(BUILD)/bulkhead.service
	install -D -m 0755 $(BUILD)/bulkhead $(DESTDIR)$(SBINDIR)/bulkhead
	install -D -m 0644 $(BUILD)/bulkhead.service $(DESTDIR)$(UNITDIR)/bulkhead.service
	install -D -m 0644 packaging/bulkhead.tmpfiles $(DESTDIR)$(TMPFILESDIR)/bulkhead.conf
	install -D -m 0644 packaging/bulkhead.logrotate $(DESTDIR)$(LOGROTATEDIR)/bulkhead
	install -D -m 0644 packaging/bulkhead.bash-completion $(DESTDIR)$(COMPLDIR)/bulkhead
	install -D -m 0644 $(BUILD)/man/bulkhead.8 $(DESTDIR)$(MANDIR)/man8/bulkhead.8
	install -D -m 0644 $(BUILD)/man/bulkhead-policy.5 $(DESTDIR)$(MANDIR)/man5/bulkhead-policy.5
	install -D -m 0644 $(BUILD)/man/bulkhead-events.7 $(DESTDIR)$(MANDIR)/man7/bulkhead-events.7
	install -D -m 0644 examples/policy.json $(DESTDIR)$(DOCDIR)/examples/policy.json
	install -D -m 0644 packaging/policy.json $(DESTDIR)$(DOCDIR)/examples/policy.starter.json
	install -D -m 0644 contrib/logging/rsyslog-bulkhead.conf $(DESTDIR)$(DOCDIR)/examples/rsyslog-bulkhead.conf
	install -D -m 0644 docs/shipping.md $(DESTDIR)$(DOCDIR)/shipping.md
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/bulkhead
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/bulkhead/policy.json ]; then \
		echo "bulkhead: keeping the existing $(DESTDIR)$(SYSCONFDIR)/bulkhead/policy.json"; \
	else \
		install -m 0644 packaging/policy.json $(DESTDIR)$(SYSCONFDIR)/bulkhead/policy.json; \
	fi

# The Debian package (debian/, debhelper): build/deb/bulkhead_VERSION_ARCH.deb,
# built from this tree in build/debian (the log in build/deb.log).
deb: | $(DEPS_STAMP)
	$(Q)tools/deps.sh $(DEB_PKGS)
	@mkdir -p $(BUILD)/deb
	$(Q)rm -f $(BUILD)/deb/bulkhead_*.deb
	$(Q){ debian/rules clean && debian/rules binary; } >$(BUILD)/deb.log 2>&1 || \
		{ tail -n 30 $(BUILD)/deb.log; exit 1; }
	$(Q)debian/rules clean >>$(BUILD)/deb.log 2>&1
	$(Q)ls $(BUILD)/deb/bulkhead_*.deb

clean:
	rm -rf $(BUILD)

-include $(wildcard $(BUILD)/*.d $(BUILD)/user/*.d $(BUILD)/kernel/*.d)

# The README's main-job command: a contained partner, end to end, then cleanup.
demo: all
	$(Q)tools/demo.sh

# Overhead and scale against no enforcement and nftables, side by side (root;
# about 15 minutes on 2 cores; docs/benchmarks.md). bench/run.sh installs what
# it needs (iperf3, nftables, jq, bpftool) and writes build/bench/ (BENCH_OUT);
# BENCH_ARGS passes its options, e.g. make bench BENCH_ARGS=--quick.
bench: all
	$(Q)bench/run.sh $(BENCH_ARGS)

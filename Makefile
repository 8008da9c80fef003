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
.PHONY: all deps test unit e2e clean vmlinux install demo bench sanitize fuzz fuzz-run

# Debian packages the build, the tests and the demo need.
DEPS_PKGS := clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libjansson-dev \
	     pkg-config make gcc iproute2 curl ncat socat iperf3 nftables \
	     jq util-linux python3 procps chromium libclang-rt-14-dev
DEPS_STAMP := $(BUILD)/.deps-ok

all: $(DEPS_STAMP) $(BUILD)/bulkhead $(BUILD)/probe

# Quick and silent when everything is present; installs what is missing.
deps:
	$(Q)tools/deps.sh $(DEPS_PKGS)

$(DEPS_STAMP):
	$(Q)tools/deps.sh $(DEPS_PKGS)
	$(Q)mkdir -p $(BUILD) && touch $@

USER_SRCS := $(wildcard user/*.c)
USER_OBJS := $(patsubst user/%.c,$(BUILD)/user/%.o,$(USER_SRCS))
LIB_OBJS  := $(filter-out $(BUILD)/user/main.o,$(USER_OBJS))

$(BUILD)/bulkhead.bpf.o: bpf/bulkhead.bpf.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(if $(Q),@echo "  BPF     $@")
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/bulkhead.skel.h: $(BUILD)/bulkhead.bpf.o
	$(if $(Q),@echo "  SKEL    $@")
	$(Q)$(BPFTOOL) gen skeleton $< name bulkhead_bpf > $@

$(BUILD)/user/%.o: user/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(if $(Q),@echo "  CC      $@")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# Objects may include the skeleton: all wait for it (then -MMD tracks the rest).
$(USER_OBJS): $(BUILD)/bulkhead.skel.h

$(BUILD)/bulkhead: $(USER_OBJS)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

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

# The README's test command: unit tests, then kernel and end-to-end tests
# (root, real kernel).
test: all $(UNIT_TESTS) $(KERNEL_TESTS) fuzz
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

install: all
	install -D -m 0755 $(BUILD)/bulkhead $(DESTDIR)$(PREFIX)/sbin/bulkhead

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

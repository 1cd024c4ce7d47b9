# SPDX-License-Identifier: MIT
#
# libumcg: make [all] | check | bench | run | peers | kernel-check | clean
#
# Every build output goes under build/ (a sanitizer build under
# build-<san>/, chosen with SAN=thread or SAN=address).  Sources are found
# by wildcard: a new src/*.c, src/emul/*.c, src/hooks/*.c, toolkit/*.c,
# tests/*.c, bench/*.c or examples/*.c needs no edit here.

CC      ?= cc
# Quiet by default ("CC src/api.c"); V=1 shows every command.
ifeq ($(V),1)
Q =
msg = @true
else
Q = @
msg = @printf '  %-6s %s\n'
endif
SAN     ?=
O       ?= $(if $(SAN),build-$(SAN),build)

WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 $(WARN) -D_GNU_SOURCE -pthread -Iinclude -Isrc -fPIC \
           -ftls-model=initial-exec
# USDT trace points (src/trace.h, docs/tracing.md) when <sys/sdt.h> is
# there (Debian: systemtap-sdt-dev); USDT=0 builds without them.
USDT    ?= $(shell echo '\#include <sys/sdt.h>' | $(CC) -E -x c - >/dev/null 2>&1 && echo 1 || echo 0)
CFLAGS  += -DUMCG_USDT=$(USDT)
# BPF block detection (docs/bpf.md): src/emul/bpf_detect.bpf.c is compiled
# by clang for the BPF target against the running kernel's BTF (vmlinux.h,
# generated into <builddir>/bpf/) and embedded in libumcg as a bpftool
# skeleton; libbpf itself is dlopen()ed when a program asks for BPF.  Needs
# clang, bpftool and libbpf-dev; BPF=0 builds a libumcg without the
# programs (UMCG_DETECT_BPF then fails with EOPNOTSUPP).
BPF        ?= 1
BPF_CLANG  ?= clang
BPFTOOL    ?= bpftool
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux
BPF_OUT     = $(O)/bpf
BPF_SKEL    = $(BPF_OUT)/bpf_detect.skel.h
BPF_CFLAGS  = -target bpf -O2 -g -Wall -Wextra -Wno-unused-parameter -Werror \
              -I$(BPF_OUT) -Isrc/emul
CFLAGS  += -DUMCG_BPF=$(BPF)
# -z defs catches a missing symbol at link time; a sanitizer build leaves
# its runtime's symbols to the program (clang links the runtime only there).
ZDEFS    = -Wl,-z,defs
ifneq ($(SAN),)
SANFLAGS = -fsanitize=$(SAN) -fno-omit-frame-pointer
CFLAGS  += $(SANFLAGS) -DUMCG_DEBUG_LOCKS
LDFLAGS += -fsanitize=$(SAN)
ZDEFS    =
endif
LDLIBS  += -pthread -ldl -lm

LIB_SRCS   := $(filter-out %.bpf.c,$(wildcard src/*.c src/emul/*.c src/hooks/*.c toolkit/*.c toolkit/policies/*.c))
LIB_OBJS   := $(LIB_SRCS:%.c=$(O)/obj/%.o)
TEST_SRCS  := $(filter-out tests/t_%.c,$(wildcard tests/*.c))
# C++ programs check that the public headers serve C++ (C++17 and C++20).
CXX       ?= c++
CXXFLAGS  ?= -O2 -g
CXXWARN    = -Wall -Wextra -Werror
CXX_TESTS := $(patsubst tests/%.cpp,$(O)/tests/%,$(wildcard tests/*.cpp))
TEST_HELP  := $(wildcard tests/t_*.c)
TESTS      := $(TEST_SRCS:tests/%.c=$(O)/tests/%)
BENCH_SRCS := $(filter-out bench/b_%.c,$(wildcard bench/*.c))
BENCH_HELP := $(wildcard bench/b_*.c)
BENCHES    := $(BENCH_SRCS:bench/%.c=$(O)/bench/%)
EX_SRCS    := $(wildcard examples/*.c)
EXAMPLES   := $(EX_SRCS:examples/%.c=$(O)/examples/%)
# The HTTP server (examples/http/, docs/peers.md) and the open-loop load
# generator of `make peers` (bench/peers/loadgen.c: libc only, not a
# bench/run.sh benchmark).
HTTPD      := $(O)/examples/httpd
HTTP_HDRS  := $(wildcard examples/http/*.h)
LOADGEN    := $(O)/peers/loadgen
# Run by tests/http_server.sh, not by the runner (the kernel-check guest
# runs every tests/ binary and has no TCP/IP).
HTTP_CHECK := $(O)/testdata/http_server_check
HEADERS    := $(wildcard include/*.h include/*/*.h src/*.h src/*/*.h toolkit/*.h tests/*.h bench/*.h)

SONAME   = libumcg.so.1
LIBSO    = $(O)/$(SONAME)
LIBA     = $(O)/libumcg.a
# Programs link the shared library (so the libc interposition works as it
# would for any linked program) and find it through their rpath.
PROG_LD  = -L$(O) -Wl,-rpath,'$$ORIGIN/..' -l:$(SONAME)

# Fully static programs (docs/hooks.md, "Linking"): the README's example,
# registration, blocking in every wrapped family, the toolkit's mutex and
# condvar and its README example, BPF detection's refusal (EOPNOTSUPP: no
# libbpf in a static program), linked -static with libumcg.a as
# <builddir>/tests/static_<name>: the runner and the kernel-check guest run them like
# every test.  Not in a sanitizer build (their runtimes are shared objects).
STATIC_FROM_TESTS := ctl_register hooks_block sched_sync toolkit_example bpf_on_demand
STATIC_TESTS := $(if $(SAN),,$(STATIC_FROM_TESTS:%=$(O)/tests/static_%) \
                  $(O)/tests/static_hello)

PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
MANDIR  ?= $(PREFIX)/share/man
VERSION  = 1.0

# The unmodified program tests/hooks_preload runs under LD_PRELOAD: built
# without libumcg (with TSan's runtime in a TSan build, as the library).
PRELOAD_CHILD = $(O)/testdata/preload_child
CHILD_SAN     = $(if $(filter thread,$(SAN)),-fsanitize=thread)

.PHONY: install uninstall deb-check all lib check check-plain bench mutants run kernel-check clean \
	model model-mutants fuzz fuzzers fuzz-regress soak fuzz-http peers peers-bin
all: lib $(TESTS) $(CXX_TESTS) $(STATIC_TESTS) $(BENCHES) $(EXAMPLES) $(PRELOAD_CHILD) \
     $(HTTPD) $(LOADGEN) $(HTTP_CHECK)
lib: $(LIBA) $(LIBSO)

$(O)/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(msg) CC $<
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

ifeq ($(BPF),1)
$(O)/obj/src/emul/bpf.o: $(BPF_SKEL)
$(O)/obj/src/emul/bpf.o: CFLAGS += -I$(BPF_OUT)
endif

# What the BPF build needs, each missing piece named, before anything runs.
$(BPF_OUT)/vmlinux.h:
	@mkdir -p $(dir $@)
	$(Q)missing=; \
	command -v $(BPF_CLANG) >/dev/null 2>&1 || missing="$$missing\n  $(BPF_CLANG) (Debian: clang)"; \
	command -v $(BPFTOOL) >/dev/null 2>&1 || missing="$$missing\n  $(BPFTOOL) (Debian: bpftool)"; \
	echo '\#include <bpf/libbpf.h>' | $(CC) -E -x c - >/dev/null 2>&1 || \
		missing="$$missing\n  <bpf/libbpf.h> (Debian: libbpf-dev)"; \
	[ -r $(VMLINUX_BTF) ] || \
		missing="$$missing\n  $(VMLINUX_BTF) (kernel BTF: CONFIG_DEBUG_INFO_BTF=y, or VMLINUX_BTF=<file>)"; \
	if [ -n "$$missing" ]; then \
		printf "make: BPF block detection cannot be built; missing:$$missing\n" >&2; \
		echo "make: install them, or build without BPF detection: make BPF=0" >&2; \
		exit 1; \
	fi
	$(msg) GEN $@
	$(Q)$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp && mv $@.tmp $@

# The object without its DWARF (bpftool gen object keeps the BTF): the
# skeleton embeds it in libumcg.
$(BPF_OUT)/bpf_detect.bpf.o: src/emul/bpf_detect.bpf.c src/emul/bpf_shared.h $(BPF_OUT)/vmlinux.h
	$(msg) BPF $<
	$(Q)$(BPF_CLANG) $(BPF_CFLAGS) -c -o $@.full $<
	$(Q)$(BPFTOOL) gen object $@ $@.full

$(BPF_SKEL): $(BPF_OUT)/bpf_detect.bpf.o
	$(msg) SKEL $@
	$(Q)$(BPFTOOL) gen skeleton $< name umcg_bpf_progs > $@.tmp && mv $@.tmp $@

$(LIBA): $(LIB_OBJS)
	@rm -f $@
	$(msg) AR $@
	$(Q)ar rcs $@ $^

$(LIBSO): $(LIB_OBJS) src/umcg.map
	$(msg) LD $@
	$(Q)$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script,src/umcg.map \
		$(ZDEFS) $(LDFLAGS) -o $@ $(LIB_OBJS) $(LDLIBS)
	$(Q)ln -sf $(SONAME) $(O)/libumcg.so

$(O)/tests/%: tests/%.c $(TEST_HELP) $(HEADERS) $(LIBSO)
	@mkdir -p $(dir $@)
	$(msg) CCLD $@
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(TEST_HELP) $(PROG_LD) $(LDLIBS)

# Built as C++17; the C++20 compile of the same file must pass too.
$(O)/tests/%: tests/%.cpp $(HEADERS) $(LIBSO)
	@mkdir -p $(dir $@)
	$(msg) CXX $<
	$(Q)$(CXX) -std=c++20 $(CXXWARN) $(CXXFLAGS) $(SANFLAGS) -Iinclude -fsyntax-only $<
	$(msg) CXXLD $@
	$(Q)$(CXX) -std=c++17 $(CXXWARN) $(CXXFLAGS) $(SANFLAGS) -Iinclude -pthread $(LDFLAGS) \
		-o $@ $< $(PROG_LD) $(LDLIBS)

# Compares libc_static.c's functions with libc's own: links the archive,
# whose hidden symbols a program can reach, and a shared libc.
$(O)/tests/hooks_static_libc: PROG_LD = $(LIBA)
$(O)/tests/hooks_static_libc: $(LIBA)

$(O)/tests/static_%: tests/%.c $(TEST_HELP) $(HEADERS) $(LIBA)
	@mkdir -p $(dir $@)
	$(msg) CCLD $@
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -static -o $@ $< $(TEST_HELP) $(LIBA) -pthread -lm

$(O)/tests/static_hello: examples/hello.c $(HEADERS) $(LIBA)
	@mkdir -p $(dir $@)
	$(msg) CCLD $@
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -static -o $@ $< $(LIBA) -pthread

$(PRELOAD_CHILD): $(O)/tests/hooks_preload
	@mkdir -p $(dir $@)
	$(msg) CCLD $@
	$(Q)$< --child-source > $@.c
	$(Q)$(CC) $(CHILD_SAN) -O1 -pthread -o $@ $@.c -ldl

$(O)/bench/%: bench/%.c $(BENCH_HELP) $(HEADERS) $(LIBSO)
	@mkdir -p $(dir $@)
	$(msg) CCLD $@
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BENCH_HELP) $(PROG_LD) $(LDLIBS)

$(O)/examples/%: examples/%.c $(HEADERS) $(LIBSO)
	@mkdir -p $(dir $@)
	$(msg) CCLD $@
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(PROG_LD) $(LDLIBS)

$(HTTPD): examples/http/httpd.c examples/http/http_parse.c $(HTTP_HDRS) $(HEADERS) $(LIBSO)
	@mkdir -p $(dir $@)
	$(msg) CCLD $@
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ examples/http/httpd.c examples/http/http_parse.c \
		$(PROG_LD) $(LDLIBS)

$(HTTP_CHECK): tests/http/server_check.c $(TEST_HELP) $(HEADERS) $(LIBSO)
	@mkdir -p $(dir $@)
	$(msg) CCLD $@
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(TEST_HELP) $(PROG_LD) $(LDLIBS)

$(LOADGEN): bench/peers/loadgen.c
	@mkdir -p $(dir $@)
	$(msg) CCLD $@
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< -lm

# The peers of `make peers` (docs/peers.md): Go (Debian golang-go, the
# standard library only: no module is fetched) and Boost.Fiber (Debian
# libboost-fiber-dev).  peers-bin builds each one whose toolchain is
# there and names the missing ones; tests/peers_smoke.sh says SKIP for
# those, which CI counts as a failure (.ci/run installs both).
GO       ?= go
GOENV     = GOPATH=$(abspath $(O))/go GOCACHE=$(abspath $(O))/go/cache GOTOOLCHAIN=local \
            GOPROXY=off GOFLAGS= GO111MODULE=off CGO_ENABLED=0
GO_PEERS  = $(O)/peers/go-inproc $(O)/peers/go-httpd
FIBER_PEER = $(O)/peers/fibers

$(O)/peers/go-%: bench/peers/%.go bench/peers/cpuburn.go
	@mkdir -p $(dir $@)
	$(msg) GO $@
	$(Q)$(GOENV) $(GO) build -o $@ $< bench/peers/cpuburn.go

$(FIBER_PEER): bench/peers/fibers.cpp examples/http/cpuburn.h
	@mkdir -p $(dir $@)
	$(msg) CXXLD $@
	$(Q)$(CXX) -std=c++17 $(CXXWARN) $(CXXFLAGS) -Iexamples/http -pthread $(LDFLAGS) \
		-o $@ $< -lboost_fiber -lboost_context

peers-bin: $(HTTPD) $(LOADGEN) $(O)/examples/demo
	@if command -v $(GO) >/dev/null 2>&1; then $(MAKE) --no-print-directory $(GO_PEERS); \
	else echo "peers-bin: no $(GO) (Debian: golang-go): the Go peers are not built"; fi
	@if echo '#include <boost/fiber/all.hpp>' | $(CXX) -x c++ -E - >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory $(FIBER_PEER); \
	else echo "peers-bin: no Boost.Fiber (Debian: libboost-fiber-dev): the fiber peer is not built"; fi

# Every configuration on the same workloads, in one run (bench/peers/run.sh).
peers: lib peers-bin
	bench/peers/run.sh $(O)

# libFuzzer harness of the HTTP parser (fuzz/http_parse.c); run it with
# build/fuzz/http_parse -max_total_time=60.
FUZZ_CC ?= clang
fuzz-http: $(O)/fuzz/http_parse
$(O)/fuzz/http_parse: fuzz/http_parse.c examples/http/http_parse.c examples/http/http_parse.h
	@mkdir -p $(dir $@)
	$(msg) FUZZ $@
	$(Q)$(FUZZ_CC) -g -O1 -std=gnu11 $(WARN) -fsanitize=fuzzer,address,undefined -o $@ $<

# The whole suite three times: plain, ThreadSanitizer, AddressSanitizer;
# then the plain and ASan builds again with BPF block detection on (@bpf,
# docs/bpf.md; not under TSan, which defers the signal a woken worker must
# act on at once).  UMCG_TEST_BPF=1: BPF must load (CI runs as root).
# The runner prints one line per test and ends with "N passed, N failed".
# Not root: BPF block detection, userfaultfd and SCHED_FIFO cases cannot
# run; say so before anything runs, then run the rest with skips allowed.
check:
	@if [ "$$(id -u)" != 0 ]; then \
		echo "make check: not root: the BPF (build@bpf, bpf_detect), userfaultfd and"; \
		echo "make check: SCHED_FIFO cases will SKIP; 'sudo make check' runs every test."; \
		echo "make check: running the part that needs no root (UMCG_ALLOW_SKIP=1)."; \
	fi
	$(MAKE) all
	$(MAKE) peers-bin
	$(MAKE) SAN=thread CC=clang CXX=clang++ all
	$(MAKE) SAN=address all
	@if [ "$$(id -u)" = 0 ]; then \
		echo UMCG_TEST_BPF=1 tests/run.sh build build-thread build-address build@bpf build-address@bpf; \
		UMCG_TEST_BPF=1 tests/run.sh build build-thread build-address build@bpf build-address@bpf; \
	else \
		echo UMCG_ALLOW_SKIP=1 tests/run.sh build build-thread build-address; \
		UMCG_ALLOW_SKIP=1 tests/run.sh build build-thread build-address; \
	fi
	$(MAKE) fuzz-regress

# ---- Reliability (docs/reliability.md) -------------------------------------

# The Promela model of the protocol, checked with spin (Debian: spin).
model:
	model/check.sh build-model
# Each mutant removes one protocol step: spin must find the bug it guards.
model-mutants:
	model/check.sh build-model --mutants

# libFuzzer harnesses: every fuzz/*.c, built with clang against an ASan
# build of libumcg in build-fuzz/.  A harness needing more sources names
# them in FUZZ_EXTRA_<name> (a list of .c files, compiled in).
# make fuzz runs each for FUZZ_SECONDS on a corpus under build-fuzz/corpus/,
# seeded with tests/fuzz-regressions/<name>/; make fuzz-regress (in make
# check) replays every input of tests/fuzz-regressions/<name>/ once.
FUZZ_SECONDS ?= 60
FUZZ_O       := build-fuzz
FUZZ_CC      ?= clang
FUZZ_SAN      = -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                -fsanitize=fuzzer-no-link \
                -fno-omit-frame-pointer
FUZZ_CFLAGS   = -O1 -g -std=gnu11 $(WARN) -D_GNU_SOURCE -pthread -Iinclude -Isrc
FUZZERS      := $(patsubst fuzz/%.c,$(FUZZ_O)/fuzz/%,$(wildcard fuzz/*.c))

ifneq ($(O),$(FUZZ_O))
$(FUZZ_O)/lib.stamp: $(LIB_SRCS) $(HEADERS) src/umcg.map
	$(MAKE) O=$(FUZZ_O) SAN=address CC=$(FUZZ_CC) SANFLAGS="$(FUZZ_SAN)" lib
	@touch $@
endif

$(FUZZ_O)/fuzz/%: fuzz/%.c $(HEADERS) $(FUZZ_O)/lib.stamp
	@mkdir -p $(dir $@)
	$(msg) FUZZ $@
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $< \
		$(FUZZ_EXTRA_$*) -L$(FUZZ_O) -Wl,-rpath,'$$ORIGIN/..' -l:$(SONAME) -ldl -lm

fuzzers: $(FUZZERS)

fuzz: fuzzers
	tools/fuzz.sh run $(FUZZ_O) $(FUZZ_SECONDS) $(FUZZERS)

fuzz-regress: fuzzers
	tools/fuzz.sh replay $(FUZZ_O) 0 $(FUZZERS)

# Random toolkit and ABI work over 3 servers for DURATION seconds.
DURATION ?= 60
# Not in tests/: it still fails today (docs/reliability.md, "Soak").
soak: $(O)/tools/soak
	$(O)/tools/soak $(DURATION)

$(O)/tools/soak: tools/soak.c $(TEST_HELP) $(HEADERS) $(LIBSO)
	@mkdir -p $(dir $@)
	$(msg) CCLD $@
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -Itests -o $@ $< $(TEST_HELP) $(PROG_LD) $(LDLIBS)

check-plain: all
	tests/run.sh build

bench: all
	bench/run.sh $(O)

# Mutation testing (docs/testing.md): not in check or CI, it takes minutes.
mutants:
	tools/mutants.sh

run: lib $(O)/examples/demo
	$(O)/examples/demo

kernel-check:
	kernel/check.sh

# Build, lint, install, use and remove the Debian packages (root).
deb-check:
	tools/deb-check.sh

# make install / uninstall [PREFIX=/usr/local] [LIBDIR=...] [DESTDIR=...]
#   <INCDIR>/umcg.h, umcg_sched.h     the library's headers
#   <INCDIR>/umcg/linux/umcg.h        the ABI header, under umcg/ so that it
#                                     can never clash with the system's uapi
#                                     headers (umcg.pc adds -I<INCDIR>/umcg)
#   <LIBDIR>/libumcg.so.$(VERSION), .so.1, .so, libumcg.a, pkgconfig/umcg.pc
#   <MANDIR>/man{2,3,7}/              one page per call
PUB_HEADERS = include/umcg.h include/umcg_sched.h
MAN_PAGES   = $(wildcard man/man2/*.2 man/man3/*.3 man/man7/*.7)
REALSO      = libumcg.so.$(VERSION)

install: lib
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR)/umcg/linux
	install -m 644 $(PUB_HEADERS) $(DESTDIR)$(INCDIR)/
	install -m 644 include/linux/umcg.h $(DESTDIR)$(INCDIR)/umcg/linux/
	install -m 644 $(LIBA) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(LIBSO) $(DESTDIR)$(LIBDIR)/$(REALSO)
	ln -sf $(REALSO) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libumcg.so
	for p in $(MAN_PAGES); do d=$$(basename $$(dirname $$p)); \
		install -d $(DESTDIR)$(MANDIR)/$$d && install -m 644 $$p $(DESTDIR)$(MANDIR)/$$d/ || exit 1; done
	sed -e 's|@prefix@|$(PREFIX)|; s|@libdir@|$(LIBDIR)|; s|@includedir@|$(INCDIR)|; s|@version@|$(VERSION)|' \
		umcg.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/umcg.pc

uninstall:
	rm -f $(addprefix $(DESTDIR)$(INCDIR)/,$(notdir $(PUB_HEADERS)))
	rm -f $(DESTDIR)$(INCDIR)/umcg/linux/umcg.h
	-rmdir $(DESTDIR)$(INCDIR)/umcg/linux $(DESTDIR)$(INCDIR)/umcg 2>/dev/null
	rm -f $(addprefix $(DESTDIR)$(LIBDIR)/,libumcg.a $(REALSO) $(SONAME) libumcg.so pkgconfig/umcg.pc)
	rm -f $(foreach p,$(MAN_PAGES),$(DESTDIR)$(MANDIR)/$(notdir $(patsubst %/,%,$(dir $(p))))/$(notdir $(p)))

clean:
	rm -rf build build-thread build-address build-mutant build-fuzz build-model

# Empty pidfds: kernel series + Go selftests under QEMU. 'make help' lists targets.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# Kernel flavour for vmtest/test: debug (KASAN, lockdep; correctness) or plain.
FLAVOR ?= debug
KBUILD := $(CURDIR)/build/kbuild-$(FLAVOR)
KSELFTESTS := $(CURDIR)/build/kselftests-$(FLAVOR)
LOGDIR := $(CURDIR)/build/logs
# QEMU under TCG (no KVM here). Override to add -enable-kvm where you have it.
# la57=off: with 5-level paging, KASAN reports a wild access when an
# interrupt hits identify_cpu() while it has cleared the CPU feature words
# (pgtable_l5_enabled() reads 0 there); TCG makes that window wide enough to
# hit in about one boot in two (found on 6.12, not checked again on 7.3).
# Four-level paging has no such window.
QEMU ?= qemu-system-x86_64 -m 2G -smp 2 -cpu max,la57=off
# Optional: comma-separated selftest packages to run (e.g. GUEST=baseline);
# a name that matches no package fails the run.
GUEST ?=
# Optional: a -test.run regexp for the guest test binaries (a developer's
# subset; CI runs everything).
RUN ?=
# The suite fails closed: a kernel whose headers lack PIDFD_EMPTY (built
# without kernel/patches/) fails the run. Set to 1 to run it on such a stock
# kernel for comparison: the empty-pidfd tests then skip, loudly, and skips
# are not failures.
EMPTYPIDFD_ALLOW_STOCK_KERNEL ?=

# Spawn benchmark (make bench): the plain kernel unless FLAVOR is given on the
# command line, QEMU with memory for the 4 GiB caller and a vCPU per host core
# (at most 4), and the sweep; empty BENCH_* values keep bench/runner's
# defaults (all methods, bare and realistic; 8,64,256,1024,4096 MiB; threads
# 1,2,4 up to the host's cores; 3 passes of 2 rounds of ~150 ms per cell in
# a random order from BENCH_SEED; 200 stamped spawns per method for the
# per-phase breakdown, BENCH_PHASES).
BENCH_FLAVOR ?= $(if $(filter file,$(origin FLAVOR)),plain,$(FLAVOR))
BENCH_VCPUS := $(shell n=$$(nproc); echo $$(( n < 4 ? n : 4 )))
BENCH_QEMU ?= qemu-system-x86_64 -m 8G -smp $(BENCH_VCPUS) -cpu max,la57=off
BENCH_METHODS ?=
BENCH_SIZES ?=
BENCH_THREADS ?=
BENCH_PASSES ?=
BENCH_REPS ?=
BENCH_SEED ?=
BENCH_PHASES ?=
BENCH_TARGET_MS ?=
# BENCH_SCHEDULE=spawns: gospawn interleaves its methods spawn by spawn
# (one spawn of each in turn) instead of cell by cell; only for a
# BENCH_METHODS of Go methods (osexec*, spawn_go*, embryo_go*).
BENCH_SCHEDULE ?=
# BENCH_BLOCK=N: with BENCH_SCHEDULE=spawns, N spawns of each method in a
# row in each step (default 1).
BENCH_BLOCK ?=
# BENCH_ICOUNT=1: the counted mode. QEMU counts instructions (-icount
# shift=0,sleep=off, added to BENCH_QEMU): the guest's clocks advance 1 ns
# per instruction any vCPU executes and skip idle time, so a latency is an
# instruction count, not a time. icount turns multi-threaded TCG off: the
# vCPUs run in turn on one host thread. Its results go to bench/out-icount/,
# BENCH.md's counted section and bench/latency-icount.svg, with the ratios
# of the last timed run (bench/out/) beside its own.
BENCH_ICOUNT ?=
ifneq ($(filter-out 0 1,$(BENCH_ICOUNT)),)
$(error BENCH_ICOUNT=$(BENCH_ICOUNT): want 1 (count instructions) or 0 (time))
endif
BENCH_COUNTED := $(filter 1,$(BENCH_ICOUNT))
BENCH_ICOUNT_ARGS := -icount shift=0,sleep=off
BENCH_VM_QEMU = $(BENCH_QEMU)$(if $(BENCH_COUNTED), $(BENCH_ICOUNT_ARGS))
BENCH_OUT := $(CURDIR)/bench/out$(if $(BENCH_COUNTED),-icount)
BENCH_SVG := bench/latency$(if $(BENCH_COUNTED),-icount).svg
BENCH_TIMED_OUT := $(CURDIR)/bench/out
BENCH_KBUILD = $(CURDIR)/build/kbuild-$(BENCH_FLAVOR)

# Host packages: everything but the VM tests and the guest-only selftests
# (their shared helpers under selftests/internal do have host tests).
GO_HOST_PKGS = $$(go list ./... | grep -v -e /vmtest -e /selftests/) $$(go list ./selftests/internal/...)
TIMED := $(CURDIR)/scripts/timed.sh

export VMTEST_KERNEL := $(KBUILD)/arch/x86/boot/bzImage
export VMTEST_QEMU := $(QEMU)
# internal/vmrun adds to every boot what this lacks of "console=ttyS0
# pci=noacpi cgroup_no_v1=pids" (so a direct 'go test ./vmtest/' gets them
# too; the last puts the pids controller on cgroup2): pci=noacpi
# takes PCI interrupt routing from the BIOS table instead of ACPI's _PRT,
# which the debug kernel's ACPI interpreter can time out on under a slow TCG
# (AE_AML_LOOP_TIMEOUT), leaving virtio-9p without an interrupt and the guest
# silently stuck. EMPTYPIDFD_VM_SILENCE (a Go duration, default 5m, 0 = off)
# is how long the guest console may be silent before the VM is stopped.
#
# make vmtest STRESS=30m runs the whole suite with TestStress lasting that
# long (seed STRESS_SEED) instead of its smoke, and STRESS_SOAK_N=N makes
# TestSoak's cycles N of each kind: the run whose figures and coverage
# RELIABILITY.md reports (make reliability). The time limits grow with it.
STRESS ?=
STRESS_SOAK_N ?=
VMTEST_TIMEOUT := $(if $(STRESS)$(STRESS_SOAK_N),8h,80m)
export VMTEST_KERNEL_APPEND = console=ttyS0$(if $(STRESS), STRESS_DURATION=$(STRESS) STRESS_SEED=$(STRESS_SEED))$(if $(STRESS_SOAK_N), STRESS_SOAK_N=$(STRESS_SOAK_N))
ifneq ($(STRESS)$(STRESS_SOAK_N),)
export EMPTYPIDFD_GUEST_TIMEOUT := 7h
endif
export EMPTYPIDFD_KBUILD := $(KBUILD)
export EMPTYPIDFD_KSELFTESTS := $(KSELFTESTS)
export EMPTYPIDFD_LOGDIR := $(LOGDIR)
export EMPTYPIDFD_GUEST := $(GUEST)
export EMPTYPIDFD_RUN := $(RUN)
export EMPTYPIDFD_ALLOW_STOCK_KERNEL

.PHONY: help deps kernel kselftests vmtest unit test patches checkpatch clean upstream-stock

help: ## Show this help
	@echo "Empty pidfds: kernel series, and Go selftests run under QEMU."
	@echo
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'
	@echo
	@echo "Variables: FLAVOR=debug|plain|race|lockstat (kernel for vmtest/test; default debug; race: KCSAN; lockstat: /proc/lock_stat),"
	@echo "           GUEST=pkg[,pkg] (run only these guest packages: selftests/*, pidfd, spawn), QEMU='...'"
	@echo "           RUN=regexp (only the guest tests it matches: -test.run)"
	@echo "           STRESS=30m STRESS_SEED=clock|N STRESS_SOAK_N=N: vmtest with TestStress that long"
	@echo "           and TestSoak that many cycles (the runs make reliability reports)"
	@echo "           EMPTYPIDFD_ALLOW_STOCK_KERNEL=1: let vmtest/test run on a kernel without"
	@echo "           the series (a stock kernel, for comparison), which otherwise fails;"
	@echo "           the empty-pidfd tests then skip, loudly, and skips do not fail the run."
	@echo "Skips fail the run unless vmtest/testdata/allowed-skips.txt lists them with a reason."

deps: ## Install build tools, QEMU, the pinned kernel source and Go modules (idempotent)
	@$(TIMED) deps scripts/deps.sh

kernel: deps ## Apply kernel/patches/ to build/linux and build the FLAVOR kernel
	@$(TIMED) kernel-tree scripts/kernel-tree.sh
	@$(TIMED) kernel-$(FLAVOR) scripts/kernel-build.sh $(FLAVOR)

kselftests: kernel ## Build the upstream pidfd/clone3/exec selftests for the guest
	@$(TIMED) kselftests scripts/kselftests.sh $(FLAVOR)

vmtest: kselftests ## Build everything and run the selftests in a QEMU VM (main job)
	@$(TIMED) vmtest go test -v -count=1 -timeout $(VMTEST_TIMEOUT) ./vmtest/

# Long stress (make stress): selftests/stress's TestStress alone, on the
# FLAVOR kernel, for STRESS_DURATION, with the seed STRESS_SEED ("clock": a
# new one each run; a failure prints the line that replays it), and
# STRESS_WORKERS/STRESS_THREADS when set. They reach the guest test on the
# kernel command line. A hang is caught by the console watchdog
# (EMPTYPIDFD_VM_SILENCE), not by these caps.
STRESS_DURATION ?= 30m
STRESS_SEED ?= clock
STRESS_WORKERS ?=
STRESS_THREADS ?=
STRESS_APPEND = console=ttyS0 STRESS_DURATION=$(STRESS_DURATION) STRESS_SEED=$(STRESS_SEED)$(if $(STRESS_WORKERS), STRESS_WORKERS=$(STRESS_WORKERS))$(if $(STRESS_THREADS), STRESS_THREADS=$(STRESS_THREADS))
.PHONY: stress
stress: kselftests ## Randomized stress of the three calls in QEMU for STRESS_DURATION (default 30m; STRESS_SEED=clock|N)
	@VMTEST_KERNEL_APPEND='$(STRESS_APPEND)' EMPTYPIDFD_GUEST=stress \
	EMPTYPIDFD_RUN='^TestStress$$' EMPTYPIDFD_GUEST_TIMEOUT=3h \
	$(TIMED) stress go test -v -count=1 -timeout 4h ./vmtest/

# make reliability: after a VM run (make vmtest STRESS=30m, or a race
# flavour run), keep its figures as reliability/runs/RELIABILITY_RUN.json
# and regenerate RELIABILITY.md's generated section from every kept run.
RELIABILITY_RUN ?= $(shell date +%Y-%m-%d)-$(FLAVOR)
# The run's console log and the guest's output files (a copy, if another
# run has been made since).
RELIABILITY_CONSOLE ?= $(LOGDIR)/selftests.console.log
RELIABILITY_OUT ?= $(LOGDIR)/selftests-out
.PHONY: reliability
reliability: ## Keep the last VM run's stress figures, KCSAN races and coverage (reliability/runs/) and regenerate RELIABILITY.md
	@$(TIMED) reliability go run ./reliability/cmd/reliabilityreport -console $(RELIABILITY_CONSOLE) \
	-kbuild $(KBUILD) -gcda $(RELIABILITY_OUT)/gcov -flavour $(FLAVOR) \
	-save reliability/runs/$(RELIABILITY_RUN).json -runs reliability/runs \
	-reasons reliability/unreached.txt -md RELIABILITY.md

unit: ## Run go vet and the host-side unit tests
	@$(TIMED) vet go vet ./...
	@$(TIMED) unit go run ./internal/skips/hosttest -list vmtest/testdata/allowed-skips.txt -- -count=1 $(GO_HOST_PKGS)

test: deps unit vmtest ## Unit tests, then everything in vmtest (what CI runs)

patches: ## Regenerate kernel/patches/ from the commits in build/linux
	@$(TIMED) patches scripts/format-patches.sh

checkpatch: ## Run checkpatch.pl --strict on kernel/patches/
	@$(TIMED) checkpatch scripts/checkpatch.sh

.PHONY: bench
bench: ## Spawn benchmark in QEMU (plain kernel, a vCPU per host core): bench/out/, BENCH.md; BENCH_ICOUNT=1 counts instructions, BENCH_SCHEDULE=spawns [BENCH_BLOCK=N] interleaves Go methods spawn by spawn or in blocks
	@$(MAKE) --no-print-directory kernel FLAVOR=$(BENCH_FLAVOR)
	@VMTEST_KERNEL=$(BENCH_KBUILD)/arch/x86/boot/bzImage VMTEST_QEMU='$(BENCH_VM_QEMU)' \
	EMPTYPIDFD_KBUILD=$(BENCH_KBUILD) EMPTYPIDFD_BENCH_OUT=$(BENCH_OUT) \
	EMPTYPIDFD_BENCH_FLAVOR=$(BENCH_FLAVOR) \
	EMPTYPIDFD_BENCH_COMMAND='make bench$(if $(MAKEOVERRIDES), $(MAKEOVERRIDES))' \
	EMPTYPIDFD_BENCH_METHODS='$(BENCH_METHODS)' EMPTYPIDFD_BENCH_SIZES_MIB='$(BENCH_SIZES)' \
	EMPTYPIDFD_BENCH_THREADS='$(BENCH_THREADS)' EMPTYPIDFD_BENCH_REPS='$(BENCH_REPS)' \
	EMPTYPIDFD_BENCH_PASSES='$(BENCH_PASSES)' EMPTYPIDFD_BENCH_SEED='$(BENCH_SEED)' \
	EMPTYPIDFD_BENCH_PHASES='$(BENCH_PHASES)' \
	EMPTYPIDFD_BENCH_TARGET_MS='$(BENCH_TARGET_MS)' EMPTYPIDFD_BENCH_SCHEDULE='$(BENCH_SCHEDULE)' \
	EMPTYPIDFD_BENCH_BLOCK='$(BENCH_BLOCK)' \
	$(TIMED) bench go test -v -count=1 -timeout 190m -run '^TestBench$$' ./vmtest/
	@$(TIMED) bench-report go run ./bench/cmd/benchreport -in $(BENCH_OUT)/results.jsonl \
	-out $(BENCH_OUT) -benchmd BENCH.md -svg $(BENCH_SVG) \
	$(if $(BENCH_COUNTED),$(if $(wildcard $(BENCH_TIMED_OUT)/results.jsonl),-timed $(BENCH_TIMED_OUT)/results.jsonl))

# The stock kernel (the base without the series) and its own selftests, for
# 'make upstream-stock'. Its builds live under build/stock.
STOCK_SRC := $(CURDIR)/build/linux-stock
STOCK_BUILD := $(CURDIR)/build/stock
upstream-stock: deps ## The kernel's own pidfd/clone3/exec selftests on the stock base (no series), for comparison
	@$(TIMED) stock-tree scripts/stock-tree.sh
	@$(TIMED) stock-kernel env KSRC=$(STOCK_SRC) BUILD_DIR=$(STOCK_BUILD) scripts/kernel-build.sh $(FLAVOR)
	@$(TIMED) stock-kselftests env KSRC=$(STOCK_SRC) BUILD_DIR=$(STOCK_BUILD) scripts/kselftests.sh $(FLAVOR)
	@VMTEST_KERNEL=$(STOCK_BUILD)/kbuild-$(FLAVOR)/arch/x86/boot/bzImage \
	EMPTYPIDFD_KBUILD=$(STOCK_BUILD)/kbuild-$(FLAVOR) \
	EMPTYPIDFD_KSELFTESTS=$(STOCK_BUILD)/kselftests-$(FLAVOR) \
	EMPTYPIDFD_LOGDIR=$(STOCK_BUILD)/logs EMPTYPIDFD_GUEST=upstream \
	EMPTYPIDFD_ALLOW_STOCK_KERNEL=1 \
	$(TIMED) stock-vmtest go test -v -count=1 -timeout 60m ./vmtest/

clean: ## Remove build outputs but keep the kernel work tree (build/linux)
	rm -rf build/kbuild-* build/kselftests-* build/logs

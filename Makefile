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
QEMU ?= qemu-system-x86_64 -m 2G -smp 2 -cpu max
# Optional: comma-separated selftest packages to run (e.g. GUEST=baseline).
GUEST ?=

GO_HOST_PKGS = $$(go list ./... | grep -v -e /vmtest -e /selftests/)
TIMED := $(CURDIR)/scripts/timed.sh

export VMTEST_KERNEL := $(KBUILD)/arch/x86/boot/bzImage
export VMTEST_QEMU := $(QEMU)
export VMTEST_KERNEL_APPEND := console=ttyS0
export EMPTYPIDFD_KBUILD := $(KBUILD)
export EMPTYPIDFD_KSELFTESTS := $(KSELFTESTS)
export EMPTYPIDFD_LOGDIR := $(LOGDIR)
export EMPTYPIDFD_GUEST := $(GUEST)

.PHONY: help deps kernel kselftests vmtest unit test patches checkpatch clean

help: ## Show this help
	@echo "Empty pidfds: kernel series, and Go selftests run under QEMU."
	@echo
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'
	@echo
	@echo "Variables: FLAVOR=debug|plain (kernel for vmtest/test; default debug),"
	@echo "           GUEST=pkg[,pkg] (run only these selftests/ packages), QEMU='...'"

deps: ## Install build tools, QEMU, the pinned kernel source and Go modules (idempotent)
	@$(TIMED) deps scripts/deps.sh

kernel: deps ## Apply kernel/patches/ to build/linux and build the FLAVOR kernel
	@$(TIMED) kernel-tree scripts/kernel-tree.sh
	@$(TIMED) kernel-$(FLAVOR) scripts/kernel-build.sh $(FLAVOR)

kselftests: kernel ## Build the upstream pidfd/clone3/exec selftests for the guest
	@$(TIMED) kselftests scripts/kselftests.sh $(FLAVOR)

vmtest: kselftests ## Build everything and run the selftests in a QEMU VM (main job)
	@$(TIMED) vmtest go test -v -count=1 -timeout 80m ./vmtest/

unit: ## Run go vet and the host-side unit tests
	@$(TIMED) vet go vet ./...
	@$(TIMED) unit go test -count=1 $(GO_HOST_PKGS)

test: deps unit vmtest ## Unit tests, then everything in vmtest (what CI runs)

patches: ## Regenerate kernel/patches/ from the commits in build/linux
	@$(TIMED) patches scripts/format-patches.sh

checkpatch: ## Run checkpatch.pl --strict on kernel/patches/
	@$(TIMED) checkpatch scripts/checkpatch.sh

clean: ## Remove build outputs but keep the kernel work tree (build/linux)
	rm -rf build/kbuild-* build/kselftests-* build/logs

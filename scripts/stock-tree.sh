#!/usr/bin/env bash
# Prepare build/linux-stock: a git worktree of the kernel work tree at the
# untouched base (tag $KERNEL_BASE_TAG), without the series. 'make
# upstream-stock' builds it and runs the kernel's own pidfd, clone3 and exec
# selftests on it, so that a selftest the series breaks cannot hide as one
# that "always failed".
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need git git
stock=$BUILD_DIR/linux-stock
[ -d "$KSRC/.git" ] || "$TOP/scripts/kernel-tree.sh"
if [ ! -e "$stock/.git" ]; then
	rm -rf "$stock"
	git -C "$KSRC" worktree prune
	git -C "$KSRC" worktree add -q --detach "$stock" "$KERNEL_BASE_TAG"
fi
[ "$(git -C "$stock" rev-parse HEAD)" = "$(git -C "$KSRC" rev-parse "$KERNEL_BASE_TAG^{commit}")" ] ||
	git -C "$stock" checkout -q --detach "$KERNEL_BASE_TAG"
log "stock kernel tree: $stock at $KERNEL_BASE_TAG"

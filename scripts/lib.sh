# Shared helpers for the scripts in this directory. Source it; do not run it.
# shellcheck shell=bash

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/versions.env
. "$TOP/scripts/versions.env"

BUILD_DIR=${BUILD_DIR:-$TOP/build}
KSRC=${KSRC:-$BUILD_DIR/linux}
# Where scripts/kernel-source.sh puts the Debian package's tarball.
KERNEL_TARBALL=${KERNEL_TARBALL:-$BUILD_DIR/src/$KERNEL_DEB_PACKAGE.tar.xz}

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
# warn_banner LINE...: a warning no one scrolling past can miss.
warn_banner() {
	printf '\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' >&2
	printf '!!! WARNING: %s\n' "$@" >&2
	printf '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n' >&2
}

# need CMD PACKAGE: fail with a hint when a tool is missing.
need() {
	command -v "$1" >/dev/null 2>&1 ||
		die "'$1' not found: run 'make deps' (or: apt-get install $2)"
}

# kbuild_dir FLAVOR: the out-of-tree build directory of one kernel flavour.
kbuild_dir() {
	case "$1" in
	plain | debug | race | lockstat) printf '%s/kbuild-%s\n' "$BUILD_DIR" "$1" ;;
	*) die "unknown kernel flavour '$1' (want plain, debug, race or lockstat)" ;;
	esac
}

# fragments FLAVOR: the config fragments merged onto tinyconfig, in order.
fragments() {
	case "$1" in
	plain) printf '%s\n' "$TOP/configs/vmtest.config" ;;
	debug) printf '%s\n' "$TOP/configs/vmtest.config" "$TOP/configs/debug.config" ;;
	race) printf '%s\n' "$TOP/configs/vmtest.config" "$TOP/configs/race.config" ;;
	lockstat) printf '%s\n' "$TOP/configs/vmtest.config" "$TOP/configs/lockstat.config" ;;
	*) die "unknown kernel flavour '$1' (want plain, debug, race or lockstat)" ;;
	esac
}

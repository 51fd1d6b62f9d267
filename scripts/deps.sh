#!/usr/bin/env bash
# Install what the build and the VM tests need on Debian 12, idempotently:
# the kernel build tools, QEMU, the pinned kernel source (scripts/kernel-source.sh)
# and the Go modules.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pkgs=(
	build-essential bc bison flex libelf-dev libssl-dev cpio kmod rsync xz-utils
	ccache git perl python3 python3-ply python3-git # checkpatch's SPDX check (scripts/spdxcheck.py)
	qemu-system-x86
	libcap-dev # static libcap for the clone3 selftests
	bash       # the exec selftests' scripts run /bin/bash in the guest
	gcc-multilib # the i386 helper of security/TestCompat32 (gcc -m32 -static)
)

missing=()
for p in "${pkgs[@]}"; do
	name=${p%%=*}
	want=${p#*=}
	have=$(dpkg-query -W -f='${Status} ${Version}' "$name" 2>/dev/null || true)
	case "$have" in
	"install ok installed "*)
		[ "$name" = "$p" ] || [ "${have##* }" = "$want" ] || missing+=("$p")
		;;
	*) missing+=("$p") ;;
	esac
done

if [ ${#missing[@]} -gt 0 ]; then
	command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} by hand (Debian 12 expected)"
	sudo=
	[ "$(id -u)" = 0 ] || sudo=sudo
	log "installing: ${missing[*]}"
	$sudo apt-get update -qq
	if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
		die "apt-get install ${missing[*]} failed"
	fi
else
	log "Debian packages: all present"
fi

"$TOP/scripts/kernel-source.sh"

need go "Go from https://go.dev/dl (go.mod names the version)"
log "Go modules"
(cd "$TOP" && go mod download)

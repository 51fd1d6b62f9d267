#!/usr/bin/env bash
# Install what the build and the VM tests need on Debian 12, idempotently:
# the pinned kernel source, the kernel build tools, QEMU, and the Go modules.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pkgs=(
	"$KERNEL_DEB_PACKAGE=$KERNEL_DEB_VERSION"
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
	# The security archive keeps only the newest linux-source-6.12. When
	# the pinned version is gone, take the newest 6.12 there is, and say so
	# loudly: the series is then applied to a base it was not made on
	# (scripts/kernel-tree.sh repeats the warning, and fails if it does
	# not apply).
	pinned="$KERNEL_DEB_PACKAGE=$KERNEL_DEB_VERSION"
	if [[ " ${missing[*]} " == *" $pinned "* ]] &&
		! apt-cache madison "$KERNEL_DEB_PACKAGE" 2>/dev/null | awk '{print $3}' | grep -qxF "$KERNEL_DEB_VERSION"; then
		newest=$(apt-cache madison "$KERNEL_DEB_PACKAGE" 2>/dev/null | awk 'NR == 1 {print $3}')
		[ -n "$newest" ] || die "$KERNEL_DEB_PACKAGE is not in the archive at all (apt-cache policy $KERNEL_DEB_PACKAGE)"
		warn_banner "$KERNEL_DEB_PACKAGE $KERNEL_DEB_VERSION (scripts/versions.env) is no longer in the archive:" \
			"installing $newest instead. The series was made on $KERNEL_VERSION; update" \
			"scripts/versions.env once it is checked on the new base."
		missing=("${missing[@]/$pinned/$KERNEL_DEB_PACKAGE=$newest}")
	fi
	if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
		die "apt-get install failed; is $KERNEL_DEB_PACKAGE $KERNEL_DEB_VERSION still in the archive? (apt-cache policy $KERNEL_DEB_PACKAGE)"
	fi
else
	log "Debian packages: all present"
fi

need go "Go from https://go.dev/dl (go.mod names the version)"
log "Go modules"
(cd "$TOP" && go mod download)

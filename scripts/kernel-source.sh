#!/usr/bin/env bash
# Fetch the pinned kernel source: Debian's binary package $KERNEL_DEB_PACKAGE
# (scripts/versions.env) from $KERNEL_DEB_SUITE, through a private apt
# configuration under build/apt, so the machine's own apt sources are not
# changed. The package holds one tarball, which lands in $KERNEL_TARBALL.
#
# Idempotent: a tarball already unpacked from the pinned package is kept.
# When the archive no longer has the pinned version (backports keeps only the
# newest), the newest version of the package is taken, with a loud banner;
# scripts/kernel-tree.sh repeats the warning and fails if the series does not
# apply.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need apt-get apt
need dpkg-deb dpkg
need sha256sum coreutils

apt_dir=$BUILD_DIR/apt
src_dir=$(dirname "$KERNEL_TARBALL")
stamp=$src_dir/$KERNEL_DEB_PACKAGE.version

if [ -f "$KERNEL_TARBALL" ] && [ -f "$stamp" ]; then
	log "kernel source: $KERNEL_TARBALL ($(cat "$stamp")), already fetched"
	exit 0
fi

mkdir -p "$apt_dir"/{lists/partial,cache/archives/partial} "$src_dir"
printf 'deb %s\n' "$KERNEL_DEB_SUITE" >"$apt_dir/sources.list"
apt_opts=(
	-o Dir::Etc::sourcelist="$apt_dir/sources.list"
	-o Dir::Etc::sourceparts=/dev/null
	-o Dir::State::Lists="$apt_dir/lists"
	-o Dir::Cache="$apt_dir/cache"
	-o APT::Sandbox::User=root
)
log "reading the package list of $KERNEL_DEB_SUITE (private apt configuration in $apt_dir)"
apt-get -qq "${apt_opts[@]}" update ||
	die "apt-get update of $KERNEL_DEB_SUITE failed: is deb.debian.org reachable?"

versions=$(apt-cache "${apt_opts[@]}" madison "$KERNEL_DEB_PACKAGE" | awk '{print $3}')
version=$KERNEL_DEB_VERSION
if ! grep -qxF "$KERNEL_DEB_VERSION" <<<"$versions"; then
	version=$(head -1 <<<"$versions")
	[ -n "$version" ] ||
		die "$KERNEL_DEB_PACKAGE is not in $KERNEL_DEB_SUITE at all: pick a newer package in scripts/versions.env"
	warn_banner "$KERNEL_DEB_PACKAGE $KERNEL_DEB_VERSION (scripts/versions.env) is no longer in the archive:" \
		"fetching $version instead. The series was made on $KERNEL_VERSION; update" \
		"scripts/versions.env once it is checked on the new base."
fi

tmp=$(mktemp -d "$BUILD_DIR/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log "downloading $KERNEL_DEB_PACKAGE=$version"
(cd "$tmp" && apt-get -qq "${apt_opts[@]}" download "$KERNEL_DEB_PACKAGE=$version") ||
	die "apt-get download $KERNEL_DEB_PACKAGE=$version failed"
deb=$(ls "$tmp"/*.deb)
sum=$(sha256sum "$deb" | cut -d' ' -f1)
if [ "$version" = "$KERNEL_DEB_VERSION" ] && [ "$sum" != "$KERNEL_DEB_SHA256" ]; then
	die "$(basename "$deb"): sha256 $sum, scripts/versions.env pins $KERNEL_DEB_SHA256"
fi
log "package $(basename "$deb"): sha256 $sum"
dpkg-deb -x "$deb" "$tmp/x"
tarball=$(find "$tmp/x/usr/src" -maxdepth 1 -name 'linux-source-*.tar.xz' | head -1)
[ -n "$tarball" ] || die "$(basename "$deb") holds no /usr/src/linux-source-*.tar.xz"
mv "$tarball" "$KERNEL_TARBALL"
printf '%s %s\n' "$KERNEL_DEB_PACKAGE=$version" "$sum" >"$stamp"
log "kernel source: $KERNEL_TARBALL ($KERNEL_DEB_PACKAGE=$version), tarball sha256 $(sha256sum "$KERNEL_TARBALL" | cut -d' ' -f1)"

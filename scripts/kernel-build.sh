#!/usr/bin/env bash
# Build one flavour of the kernel from build/linux, out of tree.
#
#   scripts/kernel-build.sh plain|debug|race|lockstat
#
# plain: tinyconfig + configs/vmtest.config (benchmarks)
# debug: plain + configs/debug.config (KASAN, lockdep, ...; correctness suite)
# race:  plain + configs/race.config (KCSAN; data races, no KASAN)
# lockstat: plain + configs/lockstat.config (/proc/lock_stat; contention)
#
# The config is regenerated only when a fragment changed, so a one-line source
# change rebuilds only what depends on it; ccache makes full rebuilds cheap too.
# Outputs: build/kbuild-FLAVOUR/arch/x86/boot/bzImage and the uapi headers in
# build/kbuild-FLAVOUR/usr/include.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

flavour=${1:?usage: $0 plain|debug|race|lockstat}
out=$(kbuild_dir "$flavour")
mapfile -t frags < <(fragments "$flavour")

need gcc build-essential
need make make
need flex flex
need bison bison
need bc bc
[ -f /usr/include/libelf.h ] || die "libelf headers missing: run 'make deps' (or: apt-get install libelf-dev)"
[ -e "$KSRC/.git" ] || die "$KSRC missing: run scripts/kernel-tree.sh (make kernel does)"

CC=gcc
if command -v ccache >/dev/null 2>&1; then
	CC="ccache gcc"
else
	log "ccache not found: full rebuilds will be slow (make deps installs it)"
fi
# LOCALVERSION= (empty, but set) keeps setlocalversion from appending '+'.
kmake() { make -C "$KSRC" O="$out" CC="$CC" HOSTCC="$CC" LOCALVERSION= "$@"; }

# check_config: every symbol a fragment sets must have that value in .config.
check_config() {
	local bad=0 line sym val
	for f in "${frags[@]}"; do
		while IFS= read -r line; do
			case "$line" in
			CONFIG_*=*)
				sym=${line%%=*} val=${line#*=}
				if ! grep -qxF "$sym=$val" "$out/.config"; then
					printf '  %s: wanted %s, got %s\n' "$sym" "$val" \
						"$(grep -E "^$sym=|^# $sym is not set" "$out/.config" || echo 'absent')" >&2
					bad=1
				fi
				;;
			"# CONFIG_"*" is not set")
				sym=${line#\# } sym=${sym%% *}
				if grep -qE "^$sym=" "$out/.config"; then
					printf '  %s: wanted unset, got %s\n' "$sym" "$(grep -E "^$sym=" "$out/.config")" >&2
					bad=1
				fi
				;;
			esac
		done <"$f"
	done
	[ "$bad" = 0 ] || die "Kconfig dropped or changed the symbols above (missing dependency?): fix configs/"
}

mkdir -p "$out"
stamp=$out/.emptypidfd-config
want=$(cat "${frags[@]}" | sha256sum | cut -d' ' -f1)
if [ ! -f "$out/.config" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
	log "configuring $flavour kernel: tinyconfig + $(printf '%s ' "${frags[@]##*/}")"
	kmake -s tinyconfig
	"$KSRC/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "${frags[@]}" >/dev/null
	kmake -s olddefconfig
	check_config
	printf '%s\n' "$want" >"$stamp"
else
	check_config
fi

# The series: the commits on top of the base tag. A tree without any
# (make upstream-stock's, a worktree that shares the tag) has none.
series=0
if git -C "$KSRC" rev-parse -q --verify "$KERNEL_BASE_TAG^{commit}" >/dev/null; then
	series=$(git -C "$KSRC" rev-list --count "$KERNEL_BASE_TAG..HEAD")
fi

# Coverage (debug.config sets CONFIG_GCOV_KERNEL): gcov instruments only the
# C files the series changes, named by their object's stem (Kbuild's
# GCOV_PROFILE_<stem>.o, given on the command line so that the series itself
# carries no coverage switches). A stem shared with another object
# (fs/sysfs/file.o, arch/x86/kernel/signal.o) profiles that one too: a
# little speed, and counters of its own, which make reliability tells apart
# by path. The per-file variable also beats a directory's GCOV_PROFILE := n,
# so a stem that names a file of a directory that must not be profiled
# (boot code, the vDSO, purgatory, the EFI stub) is refused.
gcov=()
if grep -qx 'CONFIG_GCOV_KERNEL=y' "$out/.config" && [ "$series" -gt 0 ]; then
	mapfile -t stems < <(git -C "$KSRC" diff --name-only "$KERNEL_BASE_TAG..HEAD" -- '*.c' ':!tools' |
		sed 's|.*/||; s|\.c$||' | sort -u)
	# Directories that must not be profiled, each with the option that
	# builds it (none: always built).
	noprofile=(arch/x86/boot: arch/x86/entry/vdso: arch/x86/realmode:
		arch/x86/purgatory:CONFIG_KEXEC_FILE drivers/firmware/efi/libstub:CONFIG_EFI_STUB)
	for stem in "${stems[@]}"; do
		for d in "${noprofile[@]}"; do
			dir=${d%%:*} opt=${d#*:}
			[ -z "$opt" ] || grep -qx "$opt=y" "$out/.config" || continue
			clash=$(cd "$KSRC" && find "$dir" -name "$stem.c" 2>/dev/null | head -1)
			[ -z "$clash" ] || die "gcov: the series' $stem.c shares its object name with $clash, which must not be profiled: name that file's object in scripts/kernel-build.sh instead"
		done
		gcov+=("GCOV_PROFILE_$stem.o=y")
	done
	log "gcov: profiling the objects named like the series' ${#gcov[@]} C files"
fi

# The series' changes to C files, whole functions as context, beside the
# kernel they went into: the VM run judges a KCSAN report by whether its
# stacks pass through a function the series changed, and make reliability
# measures coverage of the lines it adds. The options pin the format
# against the user's git configuration.
if [ "$series" -gt 0 ]; then
	git -C "$KSRC" -c diff.suppressBlankEmpty=false -c diff.noprefix=false diff --no-color --no-ext-diff \
		--src-prefix=a/ --dst-prefix=b/ -W "$KERNEL_BASE_TAG..HEAD" -- '*.c' ':!tools' >"$out/series.diff"
else
	rm -f "$out/series.diff"
fi

log "building $flavour kernel in $out"
kmake -s -j"$(nproc)" "${gcov[@]}" bzImage
kmake -s headers_install INSTALL_HDR_PATH="$out/usr" >/dev/null
log "kernel: $out/arch/x86/boot/bzImage ($(cat "$out/include/config/kernel.release"))"

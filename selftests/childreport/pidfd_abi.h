/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The series' uapi (include/uapi/linux/pidfd.h and the syscall tables of
 * kernel/patches/) for C programs built against the distribution's
 * headers, which predate it: the guest helpers of selftests/childreport
 * and bench/spawnbench.c. It is the only C copy; internal/abicheck
 * compares it, and package pidfd's Go copy, with the built kernel's
 * exported headers before every VM run. Include it after <fcntl.h>.
 */
#ifndef EMPTYPIDFD_PIDFD_ABI_H
#define EMPTYPIDFD_PIDFD_ABI_H

#include <stdint.h>

/*
 * The same numbers on x86_64 and i386 (and every architecture but alpha,
 * 583 and 584): the first free after fchroot (472) in mainline 7.3.
 */
#ifndef __NR_pidfd_open
#define __NR_pidfd_open		434
#endif
#ifndef __NR_pidfd_config
#define __NR_pidfd_config	473
#endif
#ifndef __NR_pidfd_spawn_run
#define __NR_pidfd_spawn_run	474
#endif

#ifndef PIDFD_EMPTY
#define PIDFD_EMPTY		O_CREAT
#endif

#define PIDFD_CONFIG_EXEC	1
#define PIDFD_CONFIG_ARGV	2
#define PIDFD_CONFIG_ENVP	3
#define PIDFD_CONFIG_FD		4
#define PIDFD_CONFIG_CWD	5
#define PIDFD_CONFIG_SIGNALS	6
#define PIDFD_CONFIG_RLIMIT	7
#define PIDFD_CONFIG_UMASK	8
#define PIDFD_CONFIG_NO_NEW_PRIVS 9
#define PIDFD_CONFIG_UIDS	10
#define PIDFD_CONFIG_GIDS	11
#define PIDFD_CONFIG_GROUPS	12
#define PIDFD_CONFIG_ROOT	13
#define PIDFD_CONFIG_SETSID	14
#define PIDFD_CONFIG_PGID	15
#define PIDFD_CONFIG_PDEATHSIG	16
#define PIDFD_CONFIG_SCHED	17
#define PIDFD_CONFIG_CGROUP	18
#define PIDFD_CONFIG_CTTY	19
#define PIDFD_CONFIG_NOCTTY	20
#define PIDFD_CONFIG_FOREGROUND	21
#define PIDFD_TTY_STEAL		(1U << 0)
#define PIDFD_SIGNALS_INHERIT_IGNORED	(1ULL << 0)

#define PIDFD_FD_DUP		1
#define PIDFD_FD_CLOSE		2
#define PIDFD_FD_CLOSE_RANGE	3
#define PIDFD_FD_OPEN		4
#define PIDFD_FD_INHERIT	5
#define PIDFD_FD_CLOEXEC	(1U << 0)

#define PIDFD_EXEC_SIZE_VER0	16
#define PIDFD_STRINGS_SIZE_VER0	8
#define PIDFD_FD_SIZE_VER0	48
#define PIDFD_CWD_SIZE_VER0	16
#define PIDFD_SIGNALS_SIZE_VER0	16
#define PIDFD_SIGNALS_SIZE_VER1	24
#define PIDFD_RLIMIT_SIZE_VER0	24
#define PIDFD_UMASK_SIZE_VER0	8
#define PIDFD_IDS_SIZE_VER0	16
#define PIDFD_GROUPS_SIZE_VER0	16
#define PIDFD_ROOT_SIZE_VER0	16
#define PIDFD_PGID_SIZE_VER0	8
#define PIDFD_PDEATHSIG_SIZE_VER0	8
#define PIDFD_CGROUP_SIZE_VER0	8
#define PIDFD_TTY_SIZE_VER0	8

struct pidfd_exec {
	uint64_t path __attribute__((aligned(8)));
	int32_t dirfd;
	uint32_t flags;
};

struct pidfd_strings {
	uint64_t strings __attribute__((aligned(8)));
};

struct pidfd_fd {
	uint32_t action;
	uint32_t flags;
	int32_t src_fd;
	uint32_t fd;
	uint32_t max_fd;
	uint32_t __spare;
	uint64_t path __attribute__((aligned(8)));
	uint64_t how __attribute__((aligned(8)));
	uint64_t how_size __attribute__((aligned(8)));
};

struct pidfd_cwd {
	uint64_t path __attribute__((aligned(8)));
	int32_t dirfd;
	uint32_t flags;
};

struct pidfd_signals {
	uint64_t blocked __attribute__((aligned(8)));
	uint64_t ignored __attribute__((aligned(8)));
	uint64_t flags __attribute__((aligned(8)));
};

struct pidfd_rlimit {
	uint32_t resource;
	uint32_t __spare;
	uint64_t cur __attribute__((aligned(8)));
	uint64_t max __attribute__((aligned(8)));
};

struct pidfd_umask {
	uint64_t umask __attribute__((aligned(8)));
};

struct pidfd_ids {
	uint32_t real;
	uint32_t effective;
	uint32_t saved;
	uint32_t __spare;
};

struct pidfd_groups {
	uint64_t list __attribute__((aligned(8)));
	uint32_t count;
	uint32_t __spare;
};

struct pidfd_root {
	uint64_t path __attribute__((aligned(8)));
	int32_t dirfd;
	uint32_t flags;
};

struct pidfd_pgid {
	int32_t pgid;
	uint32_t __spare;
};

struct pidfd_pdeathsig {
	uint32_t signal;
	uint32_t __spare;
};

struct pidfd_cgroup {
	int32_t fd;
	uint32_t __spare;
};

struct pidfd_tty {
	int32_t fd;
	uint32_t flags;
};

#endif

// SPDX-License-Identifier: GPL-2.0
/*
 * compat32-static: a 32-bit (i386) program that spawns through an empty
 * pidfd, for the compat ABI checks of security/TestCompat32. Built with
 * gcc -m32 -static; it makes the i386 system calls, so the kernel reads
 * its ARGV and ENVP as 32-bit pointer vectors and judges the embryo's exec
 * with its own (ia32) seccomp filters.
 *
 *   compat32-static spawn
 *	spawn this program again as "child" with the argv and envp below,
 *	in a session of its own, umask 022, fds 100 to 100 closed; print "exit N"
 *	(the child's exit status), "errno N" (run's) or "config errno N".
 *   compat32-static seccomp NR ERRNO
 *	as spawn, under a filter that kills any system call that is not
 *	ia32 and returns ERRNO for ia32 system call NR.
 *   compat32-static child
 *	exit 0 if argv and envp are the ones spawn passes, 3 if not.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef __i386__
#error "compat32.c is built with -m32"
#endif

#include "pidfd_abi.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static char *const child_argv[] = {
	"compat32-static", "child", "two words", "", "\xc3\xbcnicode", NULL
};
static char *const child_envp[] = { "K=V", "EMPTY=", "LAST=x", NULL };

static int child(int argc, char **argv, char **envp)
{
	int i;

	for (i = 0; child_argv[i]; i++)
		if (i >= argc || strcmp(argv[i], child_argv[i]))
			return 3;
	if (argc != i)
		return 3;
	for (i = 0; child_envp[i]; i++)
		if (!envp[i] || strcmp(envp[i], child_envp[i]))
			return 3;
	return envp[i] ? 3 : 0;
}

static long config(int fd, unsigned int cmd, void *arg, size_t size)
{
	return syscall(__NR_pidfd_config, fd, cmd, arg, size);
}

static int seccomp_filter(unsigned int nr, unsigned int err)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_I386, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

static int spawn(void)
{
	struct pidfd_exec ex = {
		.path = (uintptr_t)"/proc/self/exe",
		.dirfd = AT_FDCWD,
	};
	struct pidfd_strings argv = { .strings = (uintptr_t)child_argv };
	struct pidfd_strings envp = { .strings = (uintptr_t)child_envp };
	struct pidfd_umask mask = { .umask = 022 };
	struct pidfd_fd close100 = {
		.action = PIDFD_FD_CLOSE_RANGE, .fd = 100, .max_fd = 100,
	};
	siginfo_t si;
	int fd;

	/* The embryo's /proc/self/exe is resolved at run: use ours now. */
	static char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n < 0) {
		perror("readlink");
		return 1;
	}
	self[n] = '\0';
	ex.path = (uintptr_t)self;

	fd = syscall(__NR_pidfd_open, 0, PIDFD_EMPTY);
	if (fd < 0) {
		printf("open errno %d\n", errno);
		return 0;
	}
	/*
	 * Then commands that the embryo's filters judge as the ia32 calls
	 * setsid() (66), umask() (60) and close_range() (436).
	 */
	if (config(fd, PIDFD_CONFIG_EXEC, &ex, sizeof(ex)) ||
	    config(fd, PIDFD_CONFIG_ARGV, &argv, sizeof(argv)) ||
	    config(fd, PIDFD_CONFIG_ENVP, &envp, sizeof(envp)) ||
	    config(fd, PIDFD_CONFIG_SETSID, NULL, 0) ||
	    config(fd, PIDFD_CONFIG_UMASK, &mask, sizeof(mask)) ||
	    config(fd, PIDFD_CONFIG_FD, &close100, sizeof(close100))) {
		printf("config errno %d\n", errno);
		return 0;
	}
	if (syscall(__NR_pidfd_spawn_run, fd, 0) < 0) {
		printf("errno %d\n", errno);
		return 0;
	}
	memset(&si, 0, sizeof(si));
	if (syscall(SYS_waitid, P_PIDFD, fd, &si, WEXITED, NULL)) {
		perror("waitid");
		return 1;
	}
	if (si.si_code == CLD_EXITED)
		printf("exit %d\n", si.si_status);
	else
		printf("signal %d\n", si.si_status);
	return 0;
}

int main(int argc, char **argv, char **envp)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc >= 2 && !strcmp(argv[1], "child"))
		return child(argc, argv, envp);
	if (argc == 2 && !strcmp(argv[1], "spawn"))
		return spawn();
	if (argc == 4 && !strcmp(argv[1], "seccomp")) {
		if (seccomp_filter(atoi(argv[2]), atoi(argv[3]))) {
			perror("seccomp");
			return 1;
		}
		return spawn();
	}
	fprintf(stderr, "usage: %s spawn | seccomp NR ERRNO | child\n", argv[0]);
	return 2;
}

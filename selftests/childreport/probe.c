// SPDX-License-Identifier: GPL-2.0
/*
 * probe-static: spawns through an empty pidfd from states that fork
 * hooks copy into a child, for lifecycle/TestUretprobeCreator and
 * security/TestIopermCreator. Built with gcc -static -fno-inline.
 *
 *   probe-static uretprobe
 *	spawn /bin/true-static from inside make_embryo(), the function the
 *	test sets a uretprobe on: the creator has a return instance pending
 *	while the embryo is copied. Print "exit N" for the child.
 *   probe-static ioperm embryo|fork
 *	ioperm(0x80) this thread, then spawn "probe-static inb" through an
 *	embryo or fork+execve. Print "exit N" or "signal N" for the child.
 *   probe-static inb
 *	read I/O port 0x80 and exit 0 (SIGSEGV without the permission).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/io.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pidfd_abi.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static int report(int pidfd)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (syscall(SYS_waitid, P_PIDFD, pidfd, &si, WEXITED, NULL)) {
		perror("waitid");
		return 1;
	}
	if (si.si_code == CLD_EXITED)
		printf("exit %d\n", si.si_status);
	else
		printf("signal %d\n", si.si_status);
	return 0;
}

/* Spawn @path with @argv through an empty pidfd; return the pidfd. */
static int spawn(const char *path, char *const argv[])
{
	struct pidfd_exec ex = { .path = (uintptr_t)path, .dirfd = AT_FDCWD };
	struct pidfd_strings av = { .strings = (uintptr_t)argv };
	int fd;

	fd = syscall(__NR_pidfd_open, 0, PIDFD_EMPTY);
	if (fd < 0) {
		printf("open errno %d\n", errno);
		return -1;
	}
	if (syscall(__NR_pidfd_config, fd, PIDFD_CONFIG_EXEC, &ex, sizeof(ex)) ||
	    syscall(__NR_pidfd_config, fd, PIDFD_CONFIG_ARGV, &av, sizeof(av))) {
		printf("config errno %d\n", errno);
		return -1;
	}
	if (syscall(__NR_pidfd_spawn_run, fd, 0) < 0) {
		printf("run errno %d\n", errno);
		return -1;
	}
	return fd;
}

/* The uretprobe's target: keep it a real call (-fno-inline, noinline). */
__attribute__((noinline)) int make_embryo(void)
{
	static char *const argv[] = { "true-static", NULL };

	return spawn("/bin/true-static", argv);
}

static int ioperm_spawn(const char *how)
{
	static char self[4096];
	char *argv[] = { "probe-static", "inb", NULL };
	ssize_t n;
	int fd;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0) {
		perror("readlink");
		return 1;
	}
	self[n] = '\0';
	if (ioperm(0x80, 1, 1)) {
		perror("ioperm");
		return 1;
	}
	if (!strcmp(how, "fork")) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (!pid) {
			execv(self, argv);
			_exit(127);
		}
		fd = syscall(SYS_pidfd_open, pid, 0);
	} else {
		fd = spawn(self, argv);
	}
	return fd < 0 ? 1 : report(fd);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc == 2 && !strcmp(argv[1], "uretprobe")) {
		int fd = make_embryo();

		return fd < 0 ? 1 : report(fd);
	}
	if (argc == 3 && !strcmp(argv[1], "ioperm"))
		return ioperm_spawn(argv[2]);
	if (argc == 2 && !strcmp(argv[1], "inb")) {
		(void)inb(0x80);
		return 0;
	}
	fprintf(stderr, "usage: %s uretprobe | ioperm embryo|fork | inb\n", argv[0]);
	return 2;
}

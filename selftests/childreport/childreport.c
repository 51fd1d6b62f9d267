// SPDX-License-Identifier: GPL-2.0
/*
 * childreport: the program the selftests spawn. It reports the state it
 * started with, one "key value..." line each, so a test can check what
 * fork+execve or an embryo gave it. Parsed by selftests/internal/childreport.
 *
 * It opens nothing until it has looked at its file descriptors (fcntl and
 * readlink of /proc/self/fd/N open nothing), so the fd list is exactly what
 * the exec left. Only then does it read /proc/self/status and open the
 * output: $CHILDREPORT_OUT if set (created, truncated, mode 0666 & ~umask),
 * else fd 1.
 *
 * Report lines, fields separated by one space, each field escaped (%XX for
 * bytes <= 0x20, >= 0x7f and '%'):
 *   pid N | ppid N | argc N | argv I S | envc N | env I S
 *   fd N TARGET cloexec=0|1 flags=0xHEX   (fds in increasing order)
 *   cwd PATH | status NAME VALUE | rlimit RESOURCE CUR MAX (decimal,
 *   RLIM_INFINITY as 18446744073709551615) | auxv AT_SECURE N
 *   session SID PGRP TTY_ERRNO FOREGROUND_PGRP (/dev/tty: errno 0 if it
 *   opened; -1 without a terminal) | end
 * A missing "end" means the report was cut short.
 *
 * Modes, after reporting (and closing the output, so that a reader sees
 * its end): "childreport exit N" exits with status N, "childreport pause"
 * waits for a signal, "childreport read [N]" reads fd 0 to EOF, then exits
 * with status N (0); anything else exits 0. Exit 125/126: the report could not be written.
 *
 * Build: gcc -static -O2 -o childreport childreport.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#define MAX_SCAN	65536
#define MIN_SCAN	1024

extern char **environ;

struct fdent {
	int fd;
	int fdflags;
	int flflags;
	ssize_t len;		/* of target, or -errno */
	char target[PATH_MAX];
};

/* Static, so gathering allocates nothing. */
static struct fdent fds[MIN_SCAN];
static int nfds;
static struct fdent highfds[64];	/* fds >= MIN_SCAN, first 64 */
static int nhighfds;
static char cwd[PATH_MAX];
static int cwd_err;
static char status[16384];
static char out[1 << 20];
static size_t outlen;
static int outfd = 1;

static const char *const status_keys[] = {
	"Umask", "SigQ", "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt",
	"Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd",
	"CapAmb", "NoNewPrivs", "Seccomp", "Seccomp_filters",
};

static void flush(void)
{
	size_t off = 0;

	while (off < outlen) {
		ssize_t n = write(outfd, out + off, outlen - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(126);
		off += n;
	}
	outlen = 0;
}

static void put(const char *s, size_t n)
{
	/* Callers put at most a few hundred bytes at a time. */
	if (outlen + n > sizeof(out))
		flush();
	memcpy(out + outlen, s, n);
	outlen += n;
}

/* field writes one escaped field, preceded by a space unless first. */
static void field(const char *s, size_t n, int first)
{
	static const char hex[] = "0123456789ABCDEF";
	char e[3];

	if (!first)
		put(" ", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];

		if (c <= 0x20 || c >= 0x7f || c == '%') {
			e[0] = '%';
			e[1] = hex[c >> 4];
			e[2] = hex[c & 15];
			put(e, 3);
		} else {
			put((const char *)&s[i], 1);
		}
	}
}

static void sfield(const char *s, int first)
{
	field(s, strlen(s), first);
}

/* line writes key and the printf-formatted, space-separated fields. */
static void line(const char *key, const char *fmt, ...)
{
	char buf[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	sfield(key, 1);
	put(" ", 1);
	put(buf, strlen(buf));
	put("\n", 1);
}

static void gather_fd(struct fdent *e, int fd, int fdflags)
{
	char path[64];

	e->fd = fd;
	e->fdflags = fdflags;
	e->flflags = fcntl(fd, F_GETFL);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	e->len = readlink(path, e->target, sizeof(e->target));
	if (e->len < 0)
		e->len = -errno;
}

static void gather_fds(void)
{
	struct rlimit rl;
	long max = MIN_SCAN;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > MIN_SCAN)
		max = rl.rlim_cur > MAX_SCAN ? MAX_SCAN : (long)rl.rlim_cur;
	for (int fd = 0; fd < max; fd++) {
		int fl = fcntl(fd, F_GETFD);

		if (fl < 0)
			continue;
		if (fd < MIN_SCAN)
			gather_fd(&fds[nfds++], fd, fl);
		else if (nhighfds < (int)(sizeof(highfds) / sizeof(highfds[0])))
			gather_fd(&highfds[nhighfds++], fd, fl);
	}
}

static void gather_status(void)
{
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	size_t len = 0;

	if (fd < 0)
		return;
	while (len < sizeof(status) - 1) {
		ssize_t n = read(fd, status + len, sizeof(status) - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += n;
	}
	status[len] = 0;
	close(fd);
}

/*
 * The session and process group, and the controlling terminal: the errno
 * of opening /dev/tty (0 if it opened) and its foreground group (-1
 * without one).
 */
static int sid, pgrp, tty_err, tty_fg = -1;

static void gather_session(void)
{
	int fd;

	sid = getsid(0);
	pgrp = getpgrp();
	fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		tty_err = errno;
		return;
	}
	tty_fg = tcgetpgrp(fd);
	close(fd);
}

/* The cgroup v2 path, from /proc/self/cgroup's "0::" line. */
static char cgroup[PATH_MAX];

static void gather_cgroup(void)
{
	static char buf[8192];
	int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
	ssize_t n;
	char *p, *end;

	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	for (p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, "0::", 3))
			continue;
		end = strchr(p, '\n');
		if (end)
			*end = 0;
		snprintf(cgroup, sizeof(cgroup), "%s", p + 3);
		return;
	}
}

static void report_fd(const struct fdent *e)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%d", e->fd);
	sfield("fd", 1);
	sfield(buf, 0);
	if (e->len >= 0) {
		field(e->target, e->len, 0);
	} else {
		snprintf(buf, sizeof(buf), "?errno=%d", (int)-e->len);
		sfield(buf, 0);
	}
	snprintf(buf, sizeof(buf), "cloexec=%d", !!(e->fdflags & FD_CLOEXEC));
	sfield(buf, 0);
	snprintf(buf, sizeof(buf), "flags=0x%x", e->flflags);
	sfield(buf, 0);
	put("\n", 1);
}

static void report_status(void)
{
	for (char *l = status; *l; ) {
		char *nl = strchr(l, '\n');
		char *colon = strchr(l, ':');
		size_t n = nl ? (size_t)(nl - l) : strlen(l);

		if (colon && colon < l + n) {
			for (size_t k = 0; k < sizeof(status_keys) / sizeof(status_keys[0]); k++) {
				const char *key = status_keys[k];
				char *v = colon + 1;

				if ((size_t)(colon - l) != strlen(key) || strncmp(l, key, colon - l))
					continue;
				while (*v == '\t' || *v == ' ')
					v++;
				sfield("status", 1);
				sfield(key, 0);
				field(v, l + n - v, 0);
				put("\n", 1);
			}
		}
		if (!nl)
			break;
		l = nl + 1;
	}
}

int main(int argc, char **argv)
{
	char buf[32];
	unsigned long secure;
	int pdeathsig;
	/* struct sched_attr's first fields, and room for the rest. */
	struct {
		uint32_t size, policy;
		uint64_t flags;
		int32_t nice;
		uint32_t priority;
		uint64_t more[8];
	} sched = { 0 };
	int sched_ok;
	pid_t pid, ppid;
	const char *path;
	int envc = 0;

	/* Gather first: nothing opened before the fd scan. */
	pid = getpid();
	ppid = getppid();
	secure = getauxval(AT_SECURE);
	if (prctl(PR_GET_PDEATHSIG, &pdeathsig))
		pdeathsig = -1;
	sched_ok = !syscall(SYS_sched_getattr, 0, &sched, sizeof(sched), 0);
	gather_fds();
	if (!getcwd(cwd, sizeof(cwd)))
		cwd_err = errno;
	gather_status();
	gather_cgroup();
	gather_session();

	path = getenv("CHILDREPORT_OUT");
	if (path) {
		outfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
		if (outfd < 0) {
			dprintf(2, "childreport: %s: %s\n", path, strerror(errno));
			_exit(125);
		}
	}

	line("pid", "%d", (int)pid);
	line("ppid", "%d", (int)ppid);
	line("argc", "%d", argc);
	for (int i = 0; i < argc && argv[i]; i++) {
		snprintf(buf, sizeof(buf), "%d", i);
		sfield("argv", 1);
		sfield(buf, 0);
		sfield(argv[i], 0);
		put("\n", 1);
	}
	for (char **e = environ; e && *e; e++)
		envc++;
	line("envc", "%d", envc);
	for (int i = 0; i < envc; i++) {
		snprintf(buf, sizeof(buf), "%d", i);
		sfield("env", 1);
		sfield(buf, 0);
		sfield(environ[i], 0);
		put("\n", 1);
	}
	for (int i = 0; i < nfds; i++)
		report_fd(&fds[i]);
	for (int i = 0; i < nhighfds; i++)
		report_fd(&highfds[i]);
	if (cwd_err) {
		line("cwd", "?errno=%d", cwd_err);
	} else {
		sfield("cwd", 1);
		sfield(cwd, 0);
		put("\n", 1);
	}
	report_status();
	for (int r = 0; r < RLIM_NLIMITS; r++) {
		struct rlimit rl;

		if (getrlimit(r, &rl) == 0)
			line("rlimit", "%d %llu %llu", r,
			     (unsigned long long)rl.rlim_cur,
			     (unsigned long long)rl.rlim_max);
	}
	line("auxv", "AT_SECURE %lu", secure);
	line("pdeathsig", "%d", pdeathsig);
	if (sched_ok)
		line("sched", "%u %u %d", sched.policy, sched.priority, sched.nice);
	line("session", "%d %d %d %d", sid, pgrp, tty_err, tty_fg);
	if (cgroup[0]) {
		sfield("cgroup", 1);
		sfield(cgroup, 0);
		put("\n", 1);
	}
	put("end\n", 4);
	flush();
	/* A reader of the output sees its end even while the child lives on. */
	close(outfd);

	if (argc >= 3 && !strcmp(argv[1], "exit"))
		return atoi(argv[2]);
	if (argc >= 2 && !strcmp(argv[1], "pause")) {
		for (;;)
			pause();
	}
	if (argc >= 2 && !strcmp(argv[1], "read")) {
		for (;;) {
			ssize_t n = read(0, buf, sizeof(buf));

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
		}
		return argc >= 3 ? atoi(argv[2]) : 0;
	}
	return 0;
}

/*
 * spawnbench: time spawning a program and waiting for it, by one method,
 * from a caller of a given size, with 1..n threads spawning at once.
 *
 *   spawnbench -m METHOD -p PROG [-r RSS_MIB] [-t 1,2,4] [-R REPS]
 *              [-n ITERS | -T TARGET_MS -i MIN -I MAX] [-w WARMUP -W WARMUP_MS]
 *
 * METHOD is one of
 *   fork         fork() + execve() in the child, waitpid()
 *   vfork        vfork() + execve() in the child, waitpid()
 *   posix_spawn  glibc posix_spawn() (static glibc), waitpid()
 *   clone3       clone3(CLONE_VM | CLONE_VFORK | CLONE_PIDFD) on a fresh
 *                stack + execve() in the child, waitid(P_PIDFD): what
 *                glibc's pidfd_spawn() (2.39) does, signal masking included
 *   embryo       pidfd_open(0, PIDFD_EMPTY), pidfd_config(EXEC, ARGV),
 *                pidfd_spawn_run(), waitid(P_PIDFD), raw system calls
 *
 * The caller first maps RSS_MIB MiB of anonymous memory (no transparent huge
 * pages, so the page count is the same on every kernel) and writes to every
 * page. Then, for each thread count: a warm-up (at least WARMUP spawns per
 * thread and WARMUP_MS), which also picks the iteration count when -n is not
 * given (enough for TARGET_MS per repetition, within MIN..MAX), then REPS
 * timed repetitions. Each repetition prints one JSON line on stdout with the
 * wall time and every spawn's latency (spawn until the child is reaped);
 * package bench/results reads it. If the method does not exist on the
 * running kernel, one line with "available":false and the reason is printed
 * instead. A spawn that fails, or a child that does not exit with status 0,
 * ends the program with status 1 and a message on stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The series' uapi: the repository's one C copy, checked by internal/abicheck. */
#include "../selftests/childreport/pidfd_abi.h"

#ifndef __NR_clone3
#define __NR_clone3		435
#endif
#ifndef P_PIDFD
#define P_PIDFD			3
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD		0x00001000
#endif
#define CLONE_CLEAR_SIGHAND_	0x100000000ULL

/* struct clone_args, CLONE_ARGS_SIZE_VER0 */
struct clone_args_v0 {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE	23
#endif

#define MAX_THREADS		64
#define MAX_THREAD_COUNTS	16

enum method { M_FORK, M_VFORK, M_POSIX_SPAWN, M_CLONE3, M_EMBRYO };

static const char *const method_names[] = {
	[M_FORK] = "fork",
	[M_VFORK] = "vfork",
	[M_POSIX_SPAWN] = "posix_spawn",
	[M_CLONE3] = "clone3",
	[M_EMBRYO] = "embryo",
};

static struct {
	int method;		/* enum method, -1 until -m */
	const char *prog;
	long rss_mib;
	int threads[MAX_THREAD_COUNTS];
	int nthreads;
	int reps;
	long iters;		/* 0: pick from target_ms */
	long target_ms, min_iters, max_iters;
	long warmup, warmup_ms;
} cfg = {
	.method = -1,
	.threads = { 1 },
	.nthreads = 1,
	.reps = 3,
	.target_ms = 1000,
	.min_iters = 10,
	.max_iters = 2000,
	.warmup = 3,
	.warmup_ms = 200,
};

static char *child_argv[2];
static char *child_envp[1];

static pthread_mutex_t die_lock = PTHREAD_MUTEX_INITIALIZER;

/* Report and end the process; another thread failing at once waits here. */
static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&die_lock);
	fprintf(stderr, "spawnbench: %s: ", cfg.method >= 0 ? method_names[cfg.method] : "?");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	_exit(1);
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void check_status(pid_t pid, int status)
{
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return;
	if (WIFEXITED(status))
		die("child %d exited with status %d", pid, WEXITSTATUS(status));
	die("child %d ended with wait status %#x", pid, status);
}

static void wait_pid(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid(%d): %s", pid, strerror(errno));
	check_status(pid, status);
}

static void wait_pidfd(int pidfd, pid_t pid)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	while (waitid(P_PIDFD, pidfd, &si, WEXITED) < 0)
		if (errno != EINTR)
			die("waitid(P_PIDFD) for %d: %s", pid, strerror(errno));
	if (si.si_code != CLD_EXITED || si.si_status != 0)
		die("child %d: si_code %d si_status %d, want CLD_EXITED and 0",
		    pid, si.si_code, si.si_status);
	close(pidfd);
}

static void spawn_fork(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		execve(cfg.prog, child_argv, child_envp);
		_exit(127);
	}
	if (pid < 0)
		die("fork: %s", strerror(errno));
	wait_pid(pid);
}

static void spawn_vfork(void)
{
	pid_t pid = vfork();

	if (pid == 0) {
		execve(cfg.prog, child_argv, child_envp);
		_exit(127);
	}
	if (pid < 0)
		die("vfork: %s", strerror(errno));
	wait_pid(pid);
}

static void spawn_posix_spawn(void)
{
	pid_t pid;
	int err = posix_spawn(&pid, cfg.prog, NULL, NULL, child_argv, child_envp);

	if (err)
		die("posix_spawn: %s", strerror(err));
	wait_pid(pid);
}

#if defined(__x86_64__)
struct clone3_child {
	const sigset_t *mask;
	int err;
};

/* Runs in the child, on its own stack, in the caller's address space. */
static int clone3_child_fn(void *arg)
{
	struct clone3_child *c = arg;

	syscall(SYS_rt_sigprocmask, SIG_SETMASK, c->mask, NULL, 8);
	syscall(SYS_execve, cfg.prog, child_argv, child_envp);
	c->err = errno;
	return 127;
}

/*
 * clone3() whose child calls fn(arg) on the new stack and exits with its
 * return value; the parent gets the syscall's return value. As glibc's
 * clone3 wrapper, the child never returns through C code.
 */
static long clone3_call(struct clone_args_v0 *args, int (*fn)(void *), void *arg)
{
	register long rax __asm__("rax") = __NR_clone3;
	register void *rdi __asm__("rdi") = args;
	register long rsi __asm__("rsi") = sizeof(*args);
	register void *r12 __asm__("r12") = (void *)fn;
	register void *r13 __asm__("r13") = arg;

	__asm__ volatile("syscall\n\t"
			 "test %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "xor %%ebp, %%ebp\n\t"
			 "mov %%r13, %%rdi\n\t"
			 "call *%%r12\n\t"
			 "mov %%eax, %%edi\n\t"
			 "mov $231, %%eax\n\t"	/* exit_group */
			 "syscall\n\t"
			 "ud2\n"
			 "1:"
			 : "+r"(rax)
			 : "r"(rdi), "r"(rsi), "r"(r12), "r"(r13)
			 : "rcx", "r11", "memory", "cc");
	return rax;
}

#define CLONE3_STACK	(32 * 1024)	/* glibc: 32 KiB + the argv size */

static void spawn_clone3(void)
{
	sigset_t all, old;
	struct clone3_child c = { .mask = &old };
	int pidfd = -1;
	void *stack;
	long ret;

	/* As glibc's __spawni: block every signal around the clone, a stack
	 * mapped per spawn, handlers reset in the child by the kernel. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	stack = mmap(NULL, CLONE3_STACK, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED)
		die("mmap of the child stack: %s", strerror(errno));
	struct clone_args_v0 args = {
		.flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD | CLONE_CLEAR_SIGHAND_,
		.pidfd = (uintptr_t)&pidfd,
		.exit_signal = SIGCHLD,
		.stack = (uintptr_t)stack,
		.stack_size = CLONE3_STACK,
	};
	ret = clone3_call(&args, clone3_child_fn, &c);
	munmap(stack, CLONE3_STACK);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret < 0)
		die("clone3: %s", strerror(-ret));
	if (c.err)
		die("execve in the clone3 child: %s", strerror(c.err));
	wait_pidfd(pidfd, ret);
}
#endif

static void spawn_embryo(void)
{
	struct pidfd_exec exec = {
		.path = (uintptr_t)cfg.prog,
		.dirfd = AT_FDCWD,
	};
	struct pidfd_strings argv = { .strings = (uintptr_t)child_argv };
	long fd, pid;

	fd = syscall(__NR_pidfd_open, 0, PIDFD_EMPTY);
	if (fd < 0)
		die("pidfd_open(0, PIDFD_EMPTY): %s", strerror(errno));
	if (syscall(__NR_pidfd_config, fd, PIDFD_CONFIG_EXEC, &exec, sizeof(exec)) < 0)
		die("pidfd_config(EXEC): %s", strerror(errno));
	if (syscall(__NR_pidfd_config, fd, PIDFD_CONFIG_ARGV, &argv, sizeof(argv)) < 0)
		die("pidfd_config(ARGV): %s", strerror(errno));
	pid = syscall(__NR_pidfd_spawn_run, fd, 0);
	if (pid < 0)
		die("pidfd_spawn_run: %s", strerror(errno));
	wait_pidfd(fd, pid);
}

static void spawn_once(void)
{
	switch (cfg.method) {
	case M_FORK:
		spawn_fork();
		break;
	case M_VFORK:
		spawn_vfork();
		break;
	case M_POSIX_SPAWN:
		spawn_posix_spawn();
		break;
	case M_CLONE3:
#if defined(__x86_64__)
		spawn_clone3();
#endif
		break;
	case M_EMBRYO:
		spawn_embryo();
		break;
	}
}

/* A line for a method that does not exist here; reason has no quotes. */
static void print_unavailable(const char *reason)
{
	printf("{\"method\":\"%s\",\"available\":false,\"reason\":\"%s\"}\n",
	       method_names[cfg.method], reason);
	fflush(stdout);
}

/* Returns 0 if the method can run here, or prints why not and returns -1. */
static int probe(void)
{
	long fd;

	switch (cfg.method) {
	case M_CLONE3:
#if !defined(__x86_64__)
		print_unavailable("spawnbench implements the clone3 method for x86_64 only");
		return -1;
#endif
		return 0;
	case M_EMBRYO:
		fd = syscall(__NR_pidfd_open, 0, PIDFD_EMPTY);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (errno == EINVAL) {
			print_unavailable("pidfd_open(0, PIDFD_EMPTY) failed with EINVAL: "
					  "the kernel has no empty pidfds");
			return -1;
		}
		die("probing pidfd_open(0, PIDFD_EMPTY): %s", strerror(errno));
	default:
		return 0;
	}
}

/* Map and touch rss_mib MiB; returns the process's VmRSS in KiB after. */
static long grow(long rss_mib)
{
	size_t len = (size_t)rss_mib << 20;
	long page = sysconf(_SC_PAGESIZE), kib = -1;
	char line[256];
	FILE *f;
	char *p;

	if (len) {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			die("mapping %ld MiB: %s", rss_mib, strerror(errno));
		/* EINVAL: a kernel without transparent huge pages; ENOSYS:
		 * without madvise (CONFIG_ADVISE_SYSCALLS). */
		if (madvise(p, len, MADV_NOHUGEPAGE) && errno != EINVAL && errno != ENOSYS)
			die("madvise(MADV_NOHUGEPAGE): %s", strerror(errno));
		/* Fault everything in in one call (much faster than a fault per
		 * page under emulation), then write every page anyway. */
		if (madvise(p, len, MADV_POPULATE_WRITE) && errno != EINVAL && errno != ENOSYS)
			die("madvise(MADV_POPULATE_WRITE) of %ld MiB: %s", rss_mib, strerror(errno));
		for (size_t off = 0; off < len; off += page)
			p[off] = 1;
	}
	f = fopen("/proc/self/status", "r");
	if (!f)
		die("/proc/self/status: %s", strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* One phase (warm-up or timed repetition) of one thread. */
struct worker {
	pthread_t tid;
	long n;			/* timed: spawns to make */
	long long *lat;		/* timed: n latencies */
	long count;		/* warm-up: spawns made */
	long long elapsed;	/* warm-up: time they took */
};

static pthread_barrier_t start;
static int warming;

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	long long t0, end;
	long i;

	pthread_barrier_wait(&start);
	if (warming) {
		t0 = now_ns();
		end = t0 + cfg.warmup_ms * 1000000LL;
		for (i = 0; i < cfg.max_iters; i++) {
			if (i >= cfg.warmup && now_ns() >= end)
				break;
			spawn_once();
		}
		w->count = i;
		w->elapsed = now_ns() - t0;
		return NULL;
	}
	for (i = 0; i < w->n; i++) {
		t0 = now_ns();
		spawn_once();
		w->lat[i] = now_ns() - t0;
	}
	return NULL;
}

/* Runs one phase on n threads released together; returns its wall time. */
static long long run_phase(struct worker *w, int n)
{
	long long t0;
	int i, err;

	if ((err = pthread_barrier_init(&start, NULL, n + 1)))
		die("pthread_barrier_init: %s", strerror(err));
	for (i = 0; i < n; i++)
		if ((err = pthread_create(&w[i].tid, NULL, worker_main, &w[i])))
			die("pthread_create: %s", strerror(err));
	pthread_barrier_wait(&start);
	t0 = now_ns();
	for (i = 0; i < n; i++)
		pthread_join(w[i].tid, NULL);
	t0 = now_ns() - t0;
	pthread_barrier_destroy(&start);
	return t0;
}

/* Warm-up on n threads; returns the spawns per thread for one repetition. */
static long warm_up(struct worker *w, int n)
{
	long long elapsed = 0;
	long count = 0, iters;
	int i;

	warming = 1;
	run_phase(w, n);
	warming = 0;
	if (cfg.iters)
		return cfg.iters;
	for (i = 0; i < n; i++) {
		elapsed += w[i].elapsed;
		count += w[i].count;
	}
	/* Each thread makes a spawn every elapsed/count ns. */
	iters = count ? (long)(cfg.target_ms * 1000000.0 * count / (elapsed ? elapsed : 1)) + 1 : 1;
	if (iters < cfg.min_iters)
		iters = cfg.min_iters;
	if (iters > cfg.max_iters)
		iters = cfg.max_iters;
	return iters;
}

/* warmup: the fewest warm-up spawns a thread made. */
static void print_rep(int threads, int rep, long warmup, long iters, long caller_kib,
		      long long wall, struct worker *w)
{
	printf("{\"method\":\"%s\",\"available\":true,\"rss_mib\":%ld,\"caller_rss_kib\":%ld,"
	       "\"threads\":%d,\"rep\":%d,\"warmup\":%ld,\"iterations\":%ld,\"wall_ns\":%lld,\"lat_ns\":[",
	       method_names[cfg.method], cfg.rss_mib, caller_kib, threads, rep, warmup, iters, wall);
	for (int i = 0; i < threads; i++)
		for (long j = 0; j < iters; j++)
			printf("%s%lld", i || j ? "," : "", w[i].lat[j]);
	printf("]}\n");
	if (fflush(stdout))
		die("writing results: %s", strerror(errno));
}

static long parse_long(const char *flag, const char *s, long min)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < min) {
		fprintf(stderr, "spawnbench: %s: bad value %s (want an integer >= %ld)\n", flag, s, min);
		exit(2);
	}
	return v;
}

static void parse_threads(const char *s)
{
	char *copy = strdup(s), *tok, *save = NULL;

	cfg.nthreads = 0;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (cfg.nthreads == MAX_THREAD_COUNTS) {
			fprintf(stderr, "spawnbench: -t: at most %d thread counts\n", MAX_THREAD_COUNTS);
			exit(2);
		}
		cfg.threads[cfg.nthreads] = parse_long("-t", tok, 1);
		if (cfg.threads[cfg.nthreads] > MAX_THREADS) {
			fprintf(stderr, "spawnbench: -t: at most %d threads\n", MAX_THREADS);
			exit(2);
		}
		cfg.nthreads++;
	}
	free(copy);
	if (!cfg.nthreads) {
		fprintf(stderr, "spawnbench: -t: no thread count\n");
		exit(2);
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: spawnbench -m fork|vfork|posix_spawn|clone3|embryo -p PROG [-r RSS_MIB]\n"
		"                  [-t THREADS,...] [-R REPS] [-n ITERS | -T TARGET_MS -i MIN -I MAX]\n"
		"                  [-w WARMUP -W WARMUP_MS]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct worker w[MAX_THREADS];
	long caller_kib, iters;
	int opt, t, rep, i;

	while ((opt = getopt(argc, argv, "m:p:r:t:R:n:T:i:I:w:W:")) != -1) {
		switch (opt) {
		case 'm':
			for (i = 0; i < (int)(sizeof(method_names) / sizeof(method_names[0])); i++)
				if (!strcmp(optarg, method_names[i]))
					cfg.method = i;
			if (cfg.method < 0) {
				fprintf(stderr, "spawnbench: unknown method %s\n", optarg);
				usage();
			}
			break;
		case 'p': cfg.prog = optarg; break;
		case 'r': cfg.rss_mib = parse_long("-r", optarg, 0); break;
		case 't': parse_threads(optarg); break;
		case 'R': cfg.reps = parse_long("-R", optarg, 1); break;
		case 'n': cfg.iters = parse_long("-n", optarg, 1); break;
		case 'T': cfg.target_ms = parse_long("-T", optarg, 1); break;
		case 'i': cfg.min_iters = parse_long("-i", optarg, 1); break;
		case 'I': cfg.max_iters = parse_long("-I", optarg, 1); break;
		case 'w': cfg.warmup = parse_long("-w", optarg, 0); break;
		case 'W': cfg.warmup_ms = parse_long("-W", optarg, 0); break;
		default: usage();
		}
	}
	if (optind != argc || cfg.method < 0 || !cfg.prog)
		usage();
	if (cfg.min_iters > cfg.max_iters) {
		fprintf(stderr, "spawnbench: -i %ld is above -I %ld\n", cfg.min_iters, cfg.max_iters);
		exit(2);
	}
	if (cfg.warmup > cfg.max_iters)
		cfg.warmup = cfg.max_iters;
	child_argv[0] = (char *)cfg.prog;

	if (probe())
		return 0;
	caller_kib = grow(cfg.rss_mib);

	for (t = 0; t < cfg.nthreads; t++) {
		int n = cfg.threads[t];

		long warm;

		memset(w, 0, sizeof(w));
		iters = warm_up(w, n);
		warm = w[0].count;
		for (i = 1; i < n; i++)
			if (w[i].count < warm)
				warm = w[i].count;
		for (i = 0; i < n; i++) {
			w[i].n = iters;
			w[i].lat = calloc(iters, sizeof(*w[i].lat));
			if (!w[i].lat)
				die("out of memory");
		}
		for (rep = 0; rep < cfg.reps; rep++) {
			long long wall = run_phase(w, n);

			print_rep(n, rep, warm, iters, caller_kib, wall, w);
		}
		for (i = 0; i < n; i++)
			free(w[i].lat);
	}
	return 0;
}

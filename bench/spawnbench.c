/*
 * spawnbench: time spawning a program and waiting for it, by several
 * methods, from a caller of a given size, with 1..n threads spawning at once.
 *
 *   spawnbench -m METHOD[,METHOD...] -p PROG [-r RSS_MIB] [-t 1,2,4] [-R ROUNDS]
 *              [-s SEED] [-n ITERS | -T TARGET_MS -i MIN -I MAX]
 *              [-w WARMUP -W WARMUP_MS]
 *   spawnbench -P SPAWNS -m METHOD[,METHOD...] -p PROG
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
 * each bare (the program and its argv[0]) or, with the suffix _full,
 * realistic: the child also gets stdin, stdout and stderr from a descriptor
 * the caller holds open on /dev/null, a 30-variable environment and the
 * program's directory as its working directory, each method with its own
 * means (dup2() and chdir() in the child, posix_spawn file actions,
 * pidfd_config(ENVP, FD DUP x3, CWD)).
 *
 * The caller first maps RSS_MIB MiB of anonymous memory (no transparent huge
 * pages, so the page count is the same on every kernel) and writes to every
 * page. Then it runs ROUNDS rounds; each round takes every (method, thread
 * count) cell once, in a random order (SEED), and for each makes a warm-up
 * (at least WARMUP spawns per thread and WARMUP_MS), which also picks the
 * iteration count when -n is not given (enough for TARGET_MS, within
 * MIN..MAX), then one timed repetition. So the repetitions of a cell are
 * interleaved with those of the other cells, and a drift of the machine
 * spreads over all of them. Each repetition prints one JSON line on stdout
 * with the wall time and every spawn's latency (spawn until the child is
 * reaped); package bench/results reads it. A method that does not exist on
 * the running kernel prints one line with "available":false and the reason
 * instead. A spawn that fails, or a child that does not exit with status 0,
 * ends the program with status 1 and a message on stderr.
 *
 * With -P, one thread makes SPAWNS spawns of each method (vfork and embryo,
 * bare or _full) and prints, per spawn, a JSON line with the child's pid and
 * the CLOCK_MONOTONIC time after each system call of the caller; package
 * bench/phases joins them with the kernel's sched_process_fork, _exec and
 * _exit trace events.
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

enum method { M_FORK, M_VFORK, M_POSIX_SPAWN, M_CLONE3, M_EMBRYO, M_COUNT };

static const char *const method_names[] = {
	[M_FORK] = "fork",
	[M_VFORK] = "vfork",
	[M_POSIX_SPAWN] = "posix_spawn",
	[M_CLONE3] = "clone3",
	[M_EMBRYO] = "embryo",
};

#define MAX_METHODS		(2 * M_COUNT)
#define MAX_STAMPS		16

struct variant {
	int method;		/* enum method */
	int full;		/* realistic: stdio, environment, cwd */
};

static struct {
	struct variant methods[MAX_METHODS];
	int nmethods;
	const char *prog;
	long rss_mib;
	int threads[MAX_THREAD_COUNTS];
	int nthreads;
	int rounds;
	unsigned long long seed;
	long phases;		/* -P: spawns per method, stamped */
	long iters;		/* 0: pick from target_ms */
	long target_ms, min_iters, max_iters;
	long warmup, warmup_ms;
} cfg = {
	.threads = { 1 },
	.nthreads = 1,
	.rounds = 3,
	.seed = 1,
	.target_ms = 1000,
	.min_iters = 10,
	.max_iters = 2000,
	.warmup = 3,
	.warmup_ms = 200,
};

/* The variant the threads run now (set between phases, read in them). */
static struct variant cur = { .method = -1 };

#define NENV			30

static char *child_argv[2];
static char *child_envp[1];
static char *full_envp[NENV + 1];
static char full_cwd[PATH_MAX];
static int devnull = -1;
static posix_spawn_file_actions_t full_actions;

/* -P: the caller's time after each of its system calls in one spawn. */
struct stamps {
	int n;
	const char *name[MAX_STAMPS];
	long long ns[MAX_STAMPS];
	long pid;
};

static __thread struct stamps *stamps;

static long long now_ns(void);

static inline void stamp(const char *name)
{
	if (stamps && stamps->n < MAX_STAMPS) {
		stamps->name[stamps->n] = name;
		stamps->ns[stamps->n++] = now_ns();
	}
}

static const char *variant_name(struct variant v)
{
	static char buf[MAX_METHODS][32];

	if (v.method < 0)
		return "?";
	if (!v.full)
		return method_names[v.method];
	snprintf(buf[v.method], sizeof(buf[0]), "%s_full", method_names[v.method]);
	return buf[v.method];
}

static pthread_mutex_t die_lock = PTHREAD_MUTEX_INITIALIZER;

/* Report and end the process; another thread failing at once waits here. */
static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&die_lock);
	fprintf(stderr, "spawnbench: %s: ", variant_name(cur));
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

/*
 * In a fork, vfork or clone3 child: the realistic variant's setup, then
 * the exec. Only async-signal-safe calls, no stack beyond this frame.
 */
static void child_exec(int full)
{
	if (full) {
		if (dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0 ||
		    chdir(full_cwd) < 0)
			_exit(126);
		execve(cfg.prog, child_argv, full_envp);
	} else {
		execve(cfg.prog, child_argv, child_envp);
	}
	_exit(127);
}

static void spawn_fork(int full)
{
	pid_t pid = fork();

	if (pid == 0)
		child_exec(full);
	if (pid < 0)
		die("fork: %s", strerror(errno));
	wait_pid(pid);
}

static void spawn_vfork(int full)
{
	pid_t pid = vfork();

	if (pid == 0)
		child_exec(full);
	if (pid < 0)
		die("vfork: %s", strerror(errno));
	stamp("vfork_returned");
	if (stamps)
		stamps->pid = pid;
	wait_pid(pid);
}

static void spawn_posix_spawn(int full)
{
	pid_t pid;
	int err = posix_spawn(&pid, cfg.prog, full ? &full_actions : NULL, NULL, child_argv,
			      full ? full_envp : child_envp);

	if (err)
		die("posix_spawn: %s", strerror(err));
	wait_pid(pid);
}

#if defined(__x86_64__)
struct clone3_child {
	const sigset_t *mask;
	int full;
	int err;
};

/* Runs in the child, on its own stack, in the caller's address space. */
static int clone3_child_fn(void *arg)
{
	struct clone3_child *c = arg;

	syscall(SYS_rt_sigprocmask, SIG_SETMASK, c->mask, NULL, 8);
	if (c->full) {
		if (dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0 ||
		    chdir(full_cwd) < 0) {
			c->err = errno;
			return 126;
		}
		syscall(SYS_execve, cfg.prog, child_argv, full_envp);
	} else {
		syscall(SYS_execve, cfg.prog, child_argv, child_envp);
	}
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

static void spawn_clone3(int full)
{
	sigset_t all, old;
	struct clone3_child c = { .mask = &old, .full = full };
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

static void embryo_config(long fd, unsigned int cmd, const void *arg, size_t size,
			  const char *what)
{
	if (syscall(__NR_pidfd_config, fd, cmd, arg, size) < 0)
		die("pidfd_config(%s): %s", what, strerror(errno));
	stamp(what);
}

static void spawn_embryo(int full)
{
	struct pidfd_exec exec = {
		.path = (uintptr_t)cfg.prog,
		.dirfd = AT_FDCWD,
	};
	struct pidfd_strings argv = { .strings = (uintptr_t)child_argv };
	struct pidfd_strings envp = { .strings = (uintptr_t)full_envp };
	struct pidfd_cwd cwd = { .path = (uintptr_t)full_cwd, .dirfd = AT_FDCWD };
	struct pidfd_fd dup = { .action = PIDFD_FD_DUP, .src_fd = devnull };
	long fd, pid;

	fd = syscall(__NR_pidfd_open, 0, PIDFD_EMPTY);
	if (fd < 0)
		die("pidfd_open(0, PIDFD_EMPTY): %s", strerror(errno));
	stamp("opened");
	embryo_config(fd, PIDFD_CONFIG_EXEC, &exec, sizeof(exec), "EXEC");
	embryo_config(fd, PIDFD_CONFIG_ARGV, &argv, sizeof(argv), "ARGV");
	if (full) {
		embryo_config(fd, PIDFD_CONFIG_ENVP, &envp, sizeof(envp), "ENVP");
		for (dup.fd = 0; dup.fd < 3; dup.fd++)
			embryo_config(fd, PIDFD_CONFIG_FD, &dup, sizeof(dup),
				      dup.fd == 0 ? "FD DUP 0" : dup.fd == 1 ? "FD DUP 1" : "FD DUP 2");
		embryo_config(fd, PIDFD_CONFIG_CWD, &cwd, sizeof(cwd), "CWD");
	}
	pid = syscall(__NR_pidfd_spawn_run, fd, 0);
	if (pid < 0)
		die("pidfd_spawn_run: %s", strerror(errno));
	stamp("run_returned");
	if (stamps)
		stamps->pid = pid;
	wait_pidfd(fd, pid);
}

static void spawn_once(void)
{
	switch (cur.method) {
	case M_FORK:
		spawn_fork(cur.full);
		break;
	case M_VFORK:
		spawn_vfork(cur.full);
		break;
	case M_POSIX_SPAWN:
		spawn_posix_spawn(cur.full);
		break;
	case M_CLONE3:
#if defined(__x86_64__)
		spawn_clone3(cur.full);
#endif
		break;
	case M_EMBRYO:
		spawn_embryo(cur.full);
		break;
	}
}

/* A line for a method that does not exist here; reason has no quotes. */
static void print_unavailable(struct variant v, const char *reason)
{
	printf("{\"method\":\"%s\",\"available\":false,\"reason\":\"%s\"}\n",
	       variant_name(v), reason);
	fflush(stdout);
}

/* Returns 0 if the method can run here, or prints why not and returns -1. */
static int probe(struct variant v)
{
	long fd;

	cur = v;
	switch (v.method) {
	case M_CLONE3:
#if !defined(__x86_64__)
		print_unavailable(v, "spawnbench implements the clone3 method for x86_64 only");
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
			print_unavailable(v, "pidfd_open(0, PIDFD_EMPTY) failed with EINVAL: "
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
	       variant_name(cur), cfg.rss_mib, caller_kib, threads, rep, warmup, iters, wall);
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

static void parse_methods(const char *s)
{
	char *copy = strdup(s), *tok, *save = NULL;

	cfg.nmethods = 0;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		struct variant v = { .method = -1 };
		size_t len = strlen(tok);

		if (len > 5 && !strcmp(tok + len - 5, "_full")) {
			v.full = 1;
			tok[len - 5] = 0;
		}
		for (int i = 0; i < M_COUNT; i++)
			if (!strcmp(tok, method_names[i]))
				v.method = i;
		if (v.method < 0 || cfg.nmethods == MAX_METHODS) {
			fprintf(stderr, "spawnbench: unknown method %s%s\n", tok, v.full ? "_full" : "");
			exit(2);
		}
		cfg.methods[cfg.nmethods++] = v;
	}
	free(copy);
}

/* The realistic variant's environment, working directory and stdio. */
static void setup_full(void)
{
	static char env[NENV][64];
	char *slash;
	int err;

	for (int i = 0; i < NENV; i++) {
		snprintf(env[i], sizeof(env[i]), "BENCH_VARIABLE_%02d=value-of-the-variable-%02d", i, i);
		full_envp[i] = env[i];
	}
	full_envp[NENV] = NULL;
	if (strlen(cfg.prog) >= sizeof(full_cwd))
		die("program path too long");
	strcpy(full_cwd, cfg.prog);
	slash = strrchr(full_cwd, '/');
	if (!slash)
		strcpy(full_cwd, ".");
	else if (slash == full_cwd)
		full_cwd[1] = 0;
	else
		*slash = 0;
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		die("open /dev/null: %s", strerror(errno));
	if ((err = posix_spawn_file_actions_init(&full_actions)) ||
	    (err = posix_spawn_file_actions_adddup2(&full_actions, devnull, 0)) ||
	    (err = posix_spawn_file_actions_adddup2(&full_actions, devnull, 1)) ||
	    (err = posix_spawn_file_actions_adddup2(&full_actions, devnull, 2)) ||
	    (err = posix_spawn_file_actions_addchdir_np(&full_actions, full_cwd)))
		die("posix_spawn file actions: %s", strerror(err));
}

/* xorshift64*: the shuffle must be reproducible from -s, not good. */
static unsigned long long next_random(void)
{
	cfg.seed ^= cfg.seed >> 12;
	cfg.seed ^= cfg.seed << 25;
	cfg.seed ^= cfg.seed >> 27;
	return cfg.seed * 2685821657736338717ULL;
}

/* One warm-up and one timed repetition of variant v on n threads. */
static void run_cell(struct variant v, int n, int round, long caller_kib)
{
	struct worker w[MAX_THREADS];
	long iters, warm;
	long long wall;
	int i;

	cur = v;
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
	wall = run_phase(w, n);
	print_rep(n, round, warm, iters, caller_kib, wall, w);
	for (i = 0; i < n; i++)
		free(w[i].lat);
}

/* -P: cfg.phases stamped spawns of variant v, one JSON line each. */
static void run_phases(struct variant v)
{
	struct stamps st;

	cur = v;
	for (long k = 0; k < cfg.phases; k++) {
		memset(&st, 0, sizeof(st));
		stamps = &st;
		stamp("start");
		spawn_once();
		stamp("reaped");
		stamps = NULL;
		printf("{\"method\":\"%s\",\"pid\":%ld,\"stamps\":[", variant_name(v), st.pid);
		for (int i = 0; i < st.n; i++)
			printf("%s{\"name\":\"%s\",\"ns\":%lld}", i ? "," : "", st.name[i], st.ns[i]);
		printf("]}\n");
	}
	if (fflush(stdout))
		die("writing results: %s", strerror(errno));
}

static void usage(void)
{
	fprintf(stderr,
		"usage: spawnbench -m METHOD[,METHOD...] -p PROG [-r RSS_MIB] [-t THREADS,...]\n"
		"                  [-R ROUNDS] [-s SEED] [-n ITERS | -T TARGET_MS -i MIN -I MAX]\n"
		"                  [-w WARMUP -W WARMUP_MS]\n"
		"       spawnbench -P SPAWNS -m METHOD[,METHOD...] -p PROG\n"
		"METHOD: fork, vfork, posix_spawn, clone3 or embryo, each with or without _full\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct variant avail[MAX_METHODS];
	struct { struct variant v; int threads; } cells[MAX_METHODS * MAX_THREAD_COUNTS], tmp;
	int opt, round, i, navail = 0, ncells = 0;
	long caller_kib;

	while ((opt = getopt(argc, argv, "m:p:r:t:R:s:P:n:T:i:I:w:W:")) != -1) {
		switch (opt) {
		case 'm': parse_methods(optarg); break;
		case 'p': cfg.prog = optarg; break;
		case 'r': cfg.rss_mib = parse_long("-r", optarg, 0); break;
		case 't': parse_threads(optarg); break;
		case 'R': cfg.rounds = parse_long("-R", optarg, 1); break;
		case 's': cfg.seed = parse_long("-s", optarg, 1); break;
		case 'P': cfg.phases = parse_long("-P", optarg, 1); break;
		case 'n': cfg.iters = parse_long("-n", optarg, 1); break;
		case 'T': cfg.target_ms = parse_long("-T", optarg, 1); break;
		case 'i': cfg.min_iters = parse_long("-i", optarg, 1); break;
		case 'I': cfg.max_iters = parse_long("-I", optarg, 1); break;
		case 'w': cfg.warmup = parse_long("-w", optarg, 0); break;
		case 'W': cfg.warmup_ms = parse_long("-W", optarg, 0); break;
		default: usage();
		}
	}
	if (optind != argc || !cfg.nmethods || !cfg.prog)
		usage();
	if (cfg.min_iters > cfg.max_iters) {
		fprintf(stderr, "spawnbench: -i %ld is above -I %ld\n", cfg.min_iters, cfg.max_iters);
		exit(2);
	}
	if (cfg.warmup > cfg.max_iters)
		cfg.warmup = cfg.max_iters;
	child_argv[0] = (char *)cfg.prog;
	setup_full();

	for (i = 0; i < cfg.nmethods; i++)
		if (!probe(cfg.methods[i]))
			avail[navail++] = cfg.methods[i];
	if (cfg.phases) {
		for (i = 0; i < navail; i++)
			run_phases(avail[i]);
		return 0;
	}
	if (!navail)
		return 0;
	caller_kib = grow(cfg.rss_mib);
	for (i = 0; i < navail; i++)
		for (int t = 0; t < cfg.nthreads; t++) {
			cells[ncells].v = avail[i];
			cells[ncells++].threads = cfg.threads[t];
		}
	for (round = 0; round < cfg.rounds; round++) {
		for (i = ncells - 1; i > 0; i--) {	/* Fisher-Yates */
			int j = next_random() % (i + 1);

			tmp = cells[i];
			cells[i] = cells[j];
			cells[j] = tmp;
		}
		for (i = 0; i < ncells; i++)
			run_cell(cells[i].v, cells[i].threads, round, caller_kib);
	}
	return 0;
}

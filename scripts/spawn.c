/*
 * spawn: run one command and report what it cost, for scripts/bench.py.
 *
 *   spawn RESULT_FD TIMEOUT_S MNTNS_FD|- ARGV...
 *
 * Forks, optionally setns(2)es the child into the mount namespace open at MNTNS_FD, execs ARGV,
 * reaps it with wait4(2) and writes one line to RESULT_FD:
 *
 *   <exit code or 128+signal> <wall ns> <user us> <sys us> <maxrss KiB>    or    timeout
 *
 * Why not fork from Python: ru_maxrss survives execve, so a child forked from the Python
 * interpreter reports the interpreter's ~12 MiB as its own peak RSS. Forked from this small
 * static program, the runtime starts from almost nothing. Wall time is taken here too, so it
 * holds no Python.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void on_alarm(int sig) { (void)sig; }

static long long ns_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: spawn RESULT_FD TIMEOUT_S MNTNS_FD|- ARGV...\n");
		return 2;
	}
	int result_fd = atoi(argv[1]);
	unsigned timeout = (unsigned)atoi(argv[2]);
	int ns_fd = strcmp(argv[3], "-") == 0 ? -1 : atoi(argv[3]);

	/* The command (a detached container, say) must not hold our fds. */
	if (fcntl(result_fd, F_SETFD, FD_CLOEXEC) < 0 || (ns_fd >= 0 && fcntl(ns_fd, F_SETFD, FD_CLOEXEC) < 0)) {
		fprintf(stderr, "spawn: fcntl: %s\n", strerror(errno));
		return 2;
	}
	/* No SA_RESTART: the alarm interrupts wait4. */
	struct sigaction sa = {.sa_handler = on_alarm};
	sigaction(SIGALRM, &sa, NULL);

	long long t0 = ns_now();
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "spawn: fork: %s\n", strerror(errno));
		return 2;
	}
	if (pid == 0) {
		if (ns_fd >= 0 && setns(ns_fd, CLONE_NEWNS) < 0) {
			fprintf(stderr, "spawn: setns: %s\n", strerror(errno));
			_exit(126);
		}
		execvp(argv[4], argv + 4);
		fprintf(stderr, "spawn: exec `%s`: %s\n", argv[4], strerror(errno));
		_exit(127);
	}
	alarm(timeout);
	int status, timed_out = 0;
	struct rusage ru;
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "spawn: wait4: %s\n", strerror(errno));
			return 2;
		}
		/* The alarm: pid is our unreaped child, so it cannot have been reused. */
		timed_out = 1;
		kill(pid, SIGKILL);
	}
	long long wall = ns_now() - t0;
	alarm(0);
	if (timed_out) {
		dprintf(result_fd, "timeout\n");
		return 0;
	}
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	dprintf(result_fd, "%d %lld %lld %lld %ld\n", code, wall,
		(long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
		(long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec, ru.ru_maxrss);
	return 0;
}

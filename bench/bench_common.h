/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Helpers shared by the bench/ programs (header only: each bench_*.c is its
 * own executable). Timing is process CPU time (see bench_now); programs
 * report medians of several repetitions, because the machines they run on
 * are shared and noisy.
 */
#ifndef EPTF_BENCH_COMMON_H
#define EPTF_BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>

/*
 * CPU time of the process, seconds. The benchmarks are single-threaded and
 * the machines are shared: wall time would count the time spent waiting
 * for a CPU that another job holds, CPU time does not (cache and memory
 * bandwidth contention still shows, hence medians of repetitions).
 */
static inline double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/*
 * bench_now() plus the CPU time of the child processes waited for so far
 * (RUSAGE_CHILDREN): for work done in a forked child, like the trace.dat
 * importer's, which bench_now() alone does not see.
 */
static inline double bench_now_children(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_CHILDREN, &ru) != 0)
		return bench_now();
	return bench_now() + (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* Wall-clock time, seconds (CLOCK_MONOTONIC). */
static inline double bench_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median of @n values; sorts @v in place. */
static inline double bench_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Peak resident set of this process so far, bytes (ru_maxrss is in KiB on Linux). */
static inline uint64_t bench_maxrss(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (uint64_t)ru.ru_maxrss * 1024;
}

/* Current resident set, bytes, from /proc/self/statm (0 if unavailable). */
static inline uint64_t bench_rss(void)
{
	unsigned long size = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &res) != 2)
		res = 0;
	fclose(f);
	return (uint64_t)res * 4096;
}

/* The machine line every BENCHMARKS.md section quotes: kernel, CPU model, CPUs, date. */
static inline void bench_print_machine(void)
{
	struct utsname u;
	char line[512], model[256] = "unknown";
	FILE *f = fopen("/proc/cpuinfo", "r");
	long cpus = 0;
	time_t t = time(NULL);
	char date[64];

	if (f) {
		while (fgets(line, sizeof(line), f)) {
			if (strncmp(line, "model name", 10))
				continue;
			if (cpus++ == 0) {
				char *c = strchr(line, ':');
				if (c) {
					snprintf(model, sizeof(model), "%s", c + 2);
					model[strcspn(model, "\n")] = '\0';
				}
			}
		}
		fclose(f);
	}
	if (uname(&u) == 0)
		printf("machine: %s %s %s %s\n", u.sysname, u.release, u.version, u.machine);
	printf("cpu: %s (%ld logical CPUs)\n", model, cpus);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", gmtime(&t));
	printf("date: %s\n", date);
}

#endif

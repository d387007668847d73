/* log.c -- leveled logging to stderr with a monotonic-free wall-clock stamp, or, when
 * journald reads stderr (JOURNAL_STREAM names its device and inode), with journald's
 * <N> priority prefix and no stamp of its own. */
#include "base/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

static enum log_level current_level = LOG_INFO;

void log_set_level(enum log_level level) { current_level = level; }
enum log_level log_get_level(void) { return current_level; }

static void log_write(enum log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > current_level)
		return;
	va_start(ap, fmt);
	log_write(level, fmt, ap);
	va_end(ap);
}

void log_always(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_write(LOG_INFO, fmt, ap);
	va_end(ap);
}

/* JOURNAL_STREAM is "DEV:INODE" of the stream journald reads; it is inherited by
 * children whose stderr may have been redirected elsewhere, so it counts only when fd 2
 * is that very stream (sd_journal_stream_fd(3)). Asked once. */
static bool to_journal(void)
{
	static int known = -1;
	unsigned long long dev, ino;
	const char *e;
	struct stat st;

	if (known >= 0)
		return known;
	e = getenv("JOURNAL_STREAM");
	known = e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 && fstat(2, &st) == 0 &&
		(unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
	return known;
}

static void log_write(enum log_level level, const char *fmt, va_list ap)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	static const char prio[] = { '3', '4', '6', '7' }; /* syslog's ERR WARNING INFO DEBUG */
	char line[1024];
	struct timespec ts;
	struct tm tm;
	int n;

	if (to_journal()) {
		n = snprintf(line, sizeof(line), "<%c>%s: ", prio[level], names[level]);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		n = snprintf(line, sizeof(line), "%02d:%02d:%02d.%03ld %s: ", tm.tm_hour,
			     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, names[level]);
	}
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	/* One write per line so concurrent writers never interleave inside a line. */
	fprintf(stderr, "%s\n", line);
}

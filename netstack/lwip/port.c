/* port.c -- what lwIP built from source (-DSNET_LWIP=source, NO_SYS=1) needs from the
 * system: its clock. Everything else runs on the netstack's one libev thread. */
#include <time.h>

#include <lwip/sys.h>

/* Milliseconds on a clock that never steps (wraps after 49 days, which lwIP handles). */
u32_t sys_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u32_t)((u64_t)ts.tv_sec * 1000u + (u64_t)ts.tv_nsec / 1000000u);
}

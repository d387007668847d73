/* notify.c -- sd_notify(3) messages for Type=notify units (READY, RELOADING, STOPPING).
 * The socket stays in the environment (unset_environment 0): every reload notifies. A
 * failed send is logged once and never stops the program. */
#include "service/notify.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "base/log.h"

static void notify_send(const char *msg)
{
	static bool warned;
	int rc = sd_notify(0, msg);

	if (rc < 0 && !warned) {
		warned = true;
		log_warn("sd_notify: cannot tell the service manager '%.40s': %s", msg,
			 strerror(-rc));
	}
}

void notify_ready(const char *status)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status);
	notify_send(msg);
}

void notify_reloading(void)
{
	struct timespec ts;
	char msg[96];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
	notify_send(msg);
}

void notify_stopping(void)
{
	notify_send("STOPPING=1");
}

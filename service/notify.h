/* notify.h -- the service manager's view of the process: readiness, reloads and shutdown
 * told through sd_notify(3). Without NOTIFY_SOCKET (not under systemd) each call does
 * nothing. */
#ifndef SNET_SERVICE_NOTIFY_H
#define SNET_SERVICE_NOTIFY_H

/* READY=1 with a STATUS= line: when the `ready` line is printed, and after a reload. */
void notify_ready(const char *status);
/* RELOADING=1 with MONOTONIC_USEC= (systemd 253+ matches the two), before a reload. */
void notify_reloading(void);
/* STOPPING=1, once a stop has been asked for. */
void notify_stopping(void);

#endif

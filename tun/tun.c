/* tun.c -- the tun device: opening /dev/net/tun as a layer-3 interface without packet
 * information, creating it or attaching to a persistent one, and making or deleting
 * persistent devices (`snet-tun --setup` / `--cleanup`).
 *
 * Whether we created the device is learned from the kernel, not guessed: the first
 * TUNSETIFF carries IFF_TUN_EXCL, which fails with EBUSY exactly when the name is
 * taken, and only then do we attach. Attaching needs no privilege when the device's
 * owner (or group) is the caller; creating needs CAP_NET_ADMIN.
 */
#include "tun/tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define TUN_PATH "/dev/net/tun"
#define TUN_HINT "creating needs CAP_NET_ADMIN, or a persistent tun owned by this user, " \
		 "made with `snet-tun --setup`"

struct tun {
	int fd;
	bool created;
	char name[IFNAMSIZ];
};

static int tun_check_name(const char *name, char *err, size_t errlen)
{
	if (strlen(name) >= IFNAMSIZ) {
		snprintf(err, errlen, "tun device name '%s' is too long (at most %d characters)",
			 name, IFNAMSIZ - 1);
		return -1;
	}
	return 0;
}

/* /dev/net/tun, non-blocking and close-on-exec. -1 with err set. */
static int tun_open_dev(char *err, size_t errlen)
{
	int fd = open(TUN_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		snprintf(err, errlen, "cannot open " TUN_PATH ": %s%s", strerror(errno),
			 errno == ENOENT || errno == ENODEV ? " (is the tun module loaded?)" : "");
	return fd;
}

/* Describes a failed attach to an existing device. */
static void tun_attach_error(const char *name, int e, char *err, size_t errlen)
{
	const char *why = "";

	if (e == EPERM)
		why = " (it is owned by another user; " TUN_HINT ")";
	else if (e == EBUSY)
		why = " (another process is attached to it)";
	else if (e == EINVAL)
		why = " (it exists but is not a single-queue tun device)";
	snprintf(err, errlen, "cannot attach to tun device '%s': %s%s", name, strerror(e), why);
}

struct tun *tun_open(const char *name, char *err, size_t errlen)
{
	struct tun *t;
	struct ifreq ifr;

	if (tun_check_name(name, err, errlen) < 0)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "tun device '%s': out of memory", name);
		return NULL;
	}
	t->fd = tun_open_dev(err, errlen);
	if (t->fd < 0)
		goto fail;

	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, strlen(name));
	ifr.ifr_flags = (short)(IFF_TUN | IFF_NO_PI | IFF_VNET_HDR | IFF_TUN_EXCL);
	if (ioctl(t->fd, TUNSETIFF, &ifr) == 0) {
		t->created = true;
	} else if (errno == EBUSY && name[0]) {
		/* The name is taken: attach to it. */
		ifr.ifr_flags = (short)(IFF_TUN | IFF_NO_PI | IFF_VNET_HDR);
		if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
			tun_attach_error(name, errno, err, errlen);
			goto fail;
		}
	} else {
		snprintf(err, errlen, "cannot create tun device '%s': %s%s", name, strerror(errno),
			 errno == EPERM ? " (" TUN_HINT ")" : "");
		goto fail;
	}
	memcpy(t->name, ifr.ifr_name, IFNAMSIZ);
	t->name[IFNAMSIZ - 1] = 0;
	return t;
fail:
	if (t->fd >= 0)
		close(t->fd);
	free(t);
	return NULL;
}

int tun_enable_tso(struct tun *t, char *err, size_t errlen)
{
	if (ioctl(t->fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)) < 0) {
		snprintf(err, errlen, "tun device '%s': cannot enable offloads: %s", t->name,
			 strerror(errno));
		return -1;
	}
	return 0;
}

int tun_fd(const struct tun *t)
{
	return t->fd;
}

const char *tun_name(const struct tun *t)
{
	return t->name;
}

bool tun_created(const struct tun *t)
{
	return t->created;
}

int tun_make_persistent(struct tun *t, uid_t owner, gid_t group, char *err, size_t errlen)
{
	if (ioctl(t->fd, TUNSETOWNER, (unsigned long)owner) < 0) {
		snprintf(err, errlen, "tun device '%s': cannot set owner %u: %s", t->name,
			 (unsigned)owner, strerror(errno));
		return -1;
	}
	if (group != (gid_t)-1 && ioctl(t->fd, TUNSETGROUP, (unsigned long)group) < 0) {
		snprintf(err, errlen, "tun device '%s': cannot set group %u: %s", t->name,
			 (unsigned)group, strerror(errno));
		return -1;
	}
	return tun_set_persist(t, true, err, errlen);
}

int tun_set_persist(struct tun *t, bool on, char *err, size_t errlen)
{
	if (ioctl(t->fd, TUNSETPERSIST, on ? 1UL : 0UL) < 0) {
		snprintf(err, errlen, "tun device '%s': cannot %s persistence: %s", t->name,
			 on ? "turn on" : "clear", strerror(errno));
		return -1;
	}
	return 0;
}

int tun_delete_persistent(const char *name, char *err, size_t errlen)
{
	struct ifreq ifr;
	int fd;

	if (tun_check_name(name, err, errlen) < 0)
		return -1;
	if (!name[0]) {
		snprintf(err, errlen, "tun device name is empty");
		return -1;
	}
	if (if_nametoindex(name) == 0) {
		if (errno == ENODEV || errno == ENXIO)
			return 0;
		snprintf(err, errlen, "cannot look up device '%s': %s", name, strerror(errno));
		return -1;
	}
	fd = tun_open_dev(err, errlen);
	if (fd < 0)
		return -1;
	/* Should the device vanish before this, we create it here and it goes with close(). */
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, strlen(name));
	ifr.ifr_flags = (short)(IFF_TUN | IFF_NO_PI);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		tun_attach_error(name, errno, err, errlen);
		goto fail;
	}
	if (ioctl(fd, TUNSETPERSIST, 0UL) < 0) {
		snprintf(err, errlen, "tun device '%s': cannot clear persistence: %s", name,
			 strerror(errno));
		goto fail;
	}
	close(fd);
	return 0;
fail:
	close(fd);
	return -1;
}

void tun_close(struct tun *t)
{
	if (!t)
		return;
	close(t->fd);
	free(t);
}

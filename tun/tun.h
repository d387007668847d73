/* tun.h -- the tun device: create or attach, persistent devices for unprivileged runs. */
#ifndef SNET_TUN_H
#define SNET_TUN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct tun;

#define TUN_VNET_HDR_LEN 10 /* sizeof(struct virtio_net_hdr), the kernel's default */

/* Opens the layer-3 tun `name` (IFF_TUN | IFF_NO_PI | IFF_VNET_HDR), non-blocking and
 * close-on-exec. Every packet read or written is preceded by a struct virtio_net_hdr
 * (TUN_VNET_HDR_LEN bytes): all zero on reads (no offloads are enabled), and on writes
 * it can describe a GSO packet that the kernel splits into MSS-sized segments. It
 * creates it, or attaches to an existing persistent one (unprivileged when it is owned by
 * this user or group). An empty name lets the kernel choose. NULL with err set. */
struct tun *tun_open(const char *name, char *err, size_t errlen);
/* Packets are read and written whole, one per read()/write() on this descriptor, each
 * after its TUN_VNET_HDR_LEN-byte header. */
int tun_fd(const struct tun *t);
/* Lets the kernel send checksum-less TCP segments of up to 64 KiB (TSO) instead of
 * MTU-sized ones; each such read has VIRTIO_NET_HDR_F_NEEDS_CSUM set in its header and
 * the reader completes the checksum. 0 or -1, err set. */
int tun_enable_tso(struct tun *t, char *err, size_t errlen);
/* The kernel's name for the device. */
const char *tun_name(const struct tun *t);
/* True when tun_open created the device, false when it attached to an existing one. */
bool tun_created(const struct tun *t);
/* Makes the device outlive its descriptor, owned by `owner` (and `group` unless it is
 * (gid_t)-1), so that user can attach later without privileges. 0 or -1, err set. */
int tun_make_persistent(struct tun *t, uid_t owner, gid_t group, char *err, size_t errlen);
/* Makes the device outlive its descriptor (on), or go with it again (off), owner and
 * group left as they are. Needs CAP_NET_ADMIN unless this user owns it. 0 or -1, err set. */
int tun_set_persist(struct tun *t, bool on, char *err, size_t errlen);
/* Deletes the persistent tun `name` (attach, clear persistence, close). A missing device
 * is success. 0 or -1, err set. */
int tun_delete_persistent(const char *name, char *err, size_t errlen);
/* Closes the descriptor; a device that is not persistent disappears with it. NULL is fine. */
void tun_close(struct tun *t);

#endif

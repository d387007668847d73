/* nlbatch.h -- one rtnetlink socket sending requests in batches and checking every
 * acknowledgement; plus dumps. Private to tun/. */
#ifndef SNET_NLBATCH_H
#define SNET_NLBATCH_H

#include <libmnl/libmnl.h>
#include <stddef.h>
#include <stdint.h>

struct nlb;
struct cidr;

/* Small things every tun/ netlink file needs. */
size_t nl_family_len(int family); /* 4 or 16 */
const char *nl_cidr_str(const struct cidr *c, char *out, size_t outlen); /* "1.2.3.0/24" */
unsigned nl_ifindex(const char *ifname, char *err, size_t errlen); /* 0 with err set */

/* Opens and binds a NETLINK_ROUTE socket in the current network namespace. Every later
 * failure is written into err (the first one only), which must outlive the nlb. */
struct nlb *nlb_open(char *err, size_t errlen);
void nlb_close(struct nlb *b);

/* Starts a request (NLM_F_REQUEST | NLM_F_ACK | flags) of at most `room` bytes; the
 * caller adds headers and attributes with libmnl and ends it with nlb_done. Sends the
 * queued batch first when it is full. NULL once anything has failed. */
struct nlmsghdr *nlb_put(struct nlb *b, uint16_t type, uint16_t flags, size_t room);
/* Ends the request nlb_put started. ok1/ok2 (0: none) are errnos that count as success;
 * fmt describes the request for the error message ("adding route 1.2.3.0/24 ..."). */
void nlb_done(struct nlb *b, int ok1, int ok2, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Sends what is queued and waits for every acknowledgement. 0, or -1 when anything
 * failed so far (err names the first failing request). */
int nlb_flush(struct nlb *b);

/* Flushes, then dumps (NLM_F_DUMP) `type` with the given family header, calling cb for
 * each message (MNL_CB_ERROR with errno set to abort). A dump failing with ok_errno
 * counts as empty. 0 or -1, err set ("what: reason"). */
int nlb_dump(struct nlb *b, uint16_t type, const void *hdr, size_t hdrlen, mnl_cb_t cb,
	     void *data, int ok_errno, const char *what);

#endif

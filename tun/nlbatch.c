/* nlbatch.c -- batched rtnetlink requests with every acknowledgement checked.
 *
 * Thousands of routes cannot each wait for a round trip, and the kernel cannot be sent
 * them all at once either: each request is answered by its own ACK datagram, and ACKs
 * that do not fit the socket's receive buffer are dropped. So requests go out in
 * batches of at most NLB_WINDOW messages (one sendmsg each), and the batch's ACKs are
 * all read before the next one is sent. Sequence numbers are consecutive within a
 * batch, so an ACK finds its request by subtraction. The kernel's extended ACK text,
 * when it gives one, is added to the error.
 */
#include "tun/nlbatch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include "base/config.h"

#define NLB_WINDOW 64 /* requests in flight; their ACKs fit the default receive buffer */
#define NLB_LIMIT 16384 /* bytes of requests in one sendmsg */
#define NLB_RECV 32768 /* the kernel sizes dump datagrams after our buffer, up to 32 KiB */
#define NLB_TIMEOUT 10 /* seconds without an answer: something is badly wrong, not hang */

struct nlb_req {
	int ok[2]; /* errnos that count as success */
	char what[96];
};

struct nlb {
	struct mnl_socket *sk;
	uint32_t portid;
	uint32_t seq; /* of the next request */
	uint32_t first_seq; /* of req[0] */
	unsigned n; /* requests queued in the batch */
	bool failed;
	char *err;
	size_t errlen;
	struct mnl_nlmsg_batch *batch;
	struct nlb_req req[NLB_WINDOW];
	_Alignas(8) char buf[2 * NLB_LIMIT]; /* mnl_nlmsg_batch wants twice its limit */
	_Alignas(8) char rbuf[NLB_RECV];
};

static void nlb_fail(struct nlb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void nlb_fail(struct nlb *b, const char *fmt, ...)
{
	va_list ap;

	if (b->failed)
		return;
	b->failed = true;
	va_start(ap, fmt);
	vsnprintf(b->err, b->errlen, fmt, ap);
	va_end(ap);
}

struct nlb *nlb_open(char *err, size_t errlen)
{
	struct nlb *b = calloc(1, sizeof(*b));
	struct timeval tv = { .tv_sec = NLB_TIMEOUT };
	int one = 1;

	if (!b) {
		snprintf(err, errlen, "netlink: out of memory");
		return NULL;
	}
	b->err = err;
	b->errlen = errlen;
	b->sk = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!b->sk) {
		snprintf(err, errlen, "netlink: cannot open a socket: %s", strerror(errno));
		goto fail;
	}
	if (mnl_socket_bind(b->sk, 0, MNL_SOCKET_AUTOPID) < 0) {
		snprintf(err, errlen, "netlink: cannot bind the socket: %s", strerror(errno));
		goto fail;
	}
	/* Both are optional: the kernel's error text, and ACKs without our request echoed. */
	mnl_socket_setsockopt(b->sk, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(b->sk, NETLINK_CAP_ACK, &one, sizeof(one));
	if (setsockopt(mnl_socket_get_fd(b->sk), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		snprintf(err, errlen, "netlink: SO_RCVTIMEO: %s", strerror(errno));
		goto fail;
	}
	b->portid = mnl_socket_get_portid(b->sk);
	b->seq = (uint32_t)time(NULL);
	b->batch = mnl_nlmsg_batch_start(b->buf, NLB_LIMIT);
	if (!b->batch) {
		snprintf(err, errlen, "netlink: out of memory");
		goto fail;
	}
	return b;
fail:
	if (b->sk)
		mnl_socket_close(b->sk);
	free(b);
	return NULL;
}

void nlb_close(struct nlb *b)
{
	if (!b)
		return;
	mnl_nlmsg_batch_stop(b->batch);
	mnl_socket_close(b->sk);
	free(b);
}

struct nlmsghdr *nlb_put(struct nlb *b, uint16_t type, uint16_t flags, size_t room)
{
	struct nlmsghdr *nlh;

	if (b->failed)
		return NULL;
	if (b->n == NLB_WINDOW || mnl_nlmsg_batch_size(b->batch) + room > NLB_LIMIT) {
		if (nlb_flush(b) < 0)
			return NULL;
	}
	if (b->n == 0)
		b->first_seq = b->seq;
	nlh = mnl_nlmsg_put_header(mnl_nlmsg_batch_current(b->batch));
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nlh->nlmsg_seq = b->seq++;
	return nlh;
}

void nlb_done(struct nlb *b, int ok1, int ok2, const char *fmt, ...)
{
	struct nlb_req *r = &b->req[b->n++];
	va_list ap;

	r->ok[0] = ok1;
	r->ok[1] = ok2;
	va_start(ap, fmt);
	vsnprintf(r->what, sizeof(r->what), fmt, ap);
	va_end(ap);
	/* nlb_put left room for the whole request, so this never overflows. */
	mnl_nlmsg_batch_next(b->batch);
}

/* The kernel's extended-ACK message, or NULL. */
static const char *nlb_ext_msg(const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	size_t off = sizeof(*e);

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return NULL;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(e->msg);
	off = MNL_ALIGN(off);
	if (MNL_NLMSG_HDRLEN + off > nlh->nlmsg_len)
		return NULL;
	mnl_attr_for_each(a, nlh, off) {
		if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			return mnl_attr_get_str(a);
	}
	return NULL;
}

static void nlb_ack(struct nlb *b, const struct nlmsghdr *nlh, const struct nlb_req *r)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	const char *ext;
	int code;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e))) {
		nlb_fail(b, "%s: truncated acknowledgement", r->what);
		return;
	}
	code = -e->error;
	if (code == 0 || code == r->ok[0] || code == r->ok[1])
		return;
	ext = nlb_ext_msg(nlh);
	nlb_fail(b, "%s: %s%s%s%s", r->what, strerror(code), ext ? " (" : "", ext ? ext : "",
		 ext ? ")" : "");
}

int nlb_flush(struct nlb *b)
{
	bool acked[NLB_WINDOW] = { false };
	unsigned left = b->n;

	if (!b->n)
		return b->failed ? -1 : 0;
	if (mnl_socket_sendto(b->sk, mnl_nlmsg_batch_head(b->batch),
			      mnl_nlmsg_batch_size(b->batch)) < 0) {
		nlb_fail(b, "%s: netlink send: %s", b->req[0].what, strerror(errno));
		goto out;
	}
	while (left) {
		ssize_t n = mnl_socket_recvfrom(b->sk, b->rbuf, sizeof(b->rbuf));
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)b->rbuf;
		int len = (int)n;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			nlb_fail(b, "%s: netlink receive: %s%s", b->req[0].what, strerror(errno),
				 errno == ENOBUFS ? " (acknowledgements were lost)" : "");
			goto out;
		}
		for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
			uint32_t i = nlh->nlmsg_seq - b->first_seq;

			if (nlh->nlmsg_type != NLMSG_ERROR || i >= b->n || acked[i])
				continue;
			acked[i] = true;
			left--;
			nlb_ack(b, nlh, &b->req[i]);
		}
	}
out:
	b->n = 0;
	mnl_nlmsg_batch_reset(b->batch);
	return b->failed ? -1 : 0;
}

int nlb_dump(struct nlb *b, uint16_t type, const void *hdr, size_t hdrlen, mnl_cb_t cb,
	     void *data, int ok_errno, const char *what)
{
	_Alignas(8) char req[MNL_NLMSG_HDRLEN + 64];
	struct nlmsghdr *nlh;
	uint32_t seq;
	int rc = MNL_CB_OK;

	if (nlb_flush(b) < 0)
		return -1;
	nlh = mnl_nlmsg_put_header(req);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq = b->seq++;
	memcpy(mnl_nlmsg_put_extra_header(nlh, hdrlen), hdr, hdrlen);
	if (mnl_socket_sendto(b->sk, nlh, nlh->nlmsg_len) < 0) {
		nlb_fail(b, "%s: send: %s", what, strerror(errno));
		return -1;
	}
	do {
		ssize_t n = mnl_socket_recvfrom(b->sk, b->rbuf, sizeof(b->rbuf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			nlb_fail(b, "%s: receive: %s", what, strerror(errno));
			return -1;
		}
		rc = mnl_cb_run(b->rbuf, (size_t)n, seq, b->portid, cb, data);
	} while (rc > 0);
	if (rc < 0) {
		if (errno == ok_errno)
			return 0;
		nlb_fail(b, "%s: %s", what, strerror(errno));
		return -1;
	}
	return 0;
}

size_t nl_family_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

const char *nl_cidr_str(const struct cidr *c, char *out, size_t outlen)
{
	char ip[INET6_ADDRSTRLEN];

	inet_ntop(c->family, c->addr, ip, sizeof(ip));
	snprintf(out, outlen, "%s/%u", ip, c->prefix);
	return out;
}

unsigned nl_ifindex(const char *ifname, char *err, size_t errlen)
{
	unsigned idx = if_nametoindex(ifname);

	if (!idx)
		snprintf(err, errlen, "interface '%s': %s", ifname, strerror(errno));
	return idx;
}

/* pump.c -- the data path of a relayed session: each direction reads into the relay's
 * scratch buffer, transforms it (ss encode/decode) into the second one and writes it to
 * the other side; only a partial write copies the rest into a per-session buffer, and
 * while that buffer holds bytes the source is not read (backpressure), so an idle session
 * holds no buffers. A FIN becomes shutdown(SHUT_WR) on the other side while the other
 * direction flows on. Also where a session starts relaying after its handshake (and,
 * opened again through another upstream, sends what the client had sent). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "relay/internal.h"

/* A read or write on the upstream socket failed: before any byte came back another
 * upstream may take the session (dial.c), after that the failure is passed on. */
static void upstream_io_failed(struct session *s, enum log_level lvl, const char *what, int err)
{
	if (!s->bytes_down && err != ETIMEDOUT)
		session_upstream_failed(s, UPSTREAM_EARLY_CLOSE, CLOSE_RESET_CLIENT, lvl,
					"upstream %s failed: %s", what, strerror(err));
	else
		session_side_failed(s, CLOSE_RESET_CLIENT, lvl, "upstream", what, err);
}

static void io_set(struct ev_loop *loop, ev_io *w, int events)
{
	if (w->fd < 0)
		return;
	if ((w->events & (EV_READ | EV_WRITE)) == events && ev_is_active(w) == (events != 0))
		return;
	ev_io_stop(loop, w);
	ev_io_set(w, w->fd, events);
	if (events)
		ev_io_start(loop, w);
}

void upstream_want(struct session *s, bool rd, bool wr)
{
	io_set(s->relay->loop, &s->uio, (rd ? EV_READ : 0) | (wr ? EV_WRITE : 0));
}

void client_want(struct session *s, bool rd, bool wr)
{
	if (s->c_want_rd == rd && s->c_want_wr == wr)
		return;
	s->c_want_rd = rd;
	s->c_want_wr = wr;
	s->cops->want(s->c, rd, wr);
}

/* Arms exactly the notifications the session's state calls for: a side is read only
 * while the other side has nothing pending (backpressure), written only while
 * something waits for it. */
static void session_arm(struct session *s)
{
	bool up_pending = buf_used(&s->to_up) > 0;
	bool client_pending = buf_used(&s->to_client) > 0;

	client_want(s, !up_pending && !s->client_eof, client_pending);
	upstream_want(s, !client_pending && !s->upstream_eof, up_pending);
}

static void session_maybe_done(struct session *s)
{
	if (s->state == S_RELAY && s->up_shut && s->client_shut)
		session_close(s, CLOSE_CLEAN, LOG_DEBUG, "closed");
}

/* Writes what waits for the upstream. 1 drained, 0 still pending, -1 closed the session. */
int flush_to_up(struct session *s)
{
	while (buf_used(&s->to_up) > 0) {
		ssize_t n = send(s->ufd, buf_head(&s->to_up), buf_used(&s->to_up), MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			upstream_io_failed(s, LOG_WARN, "write", errno);
			return -1;
		}
		buf_consume(&s->to_up, (size_t)n);
	}
	return 1;
}

static void send_fin_up(struct session *s)
{
	if (s->up_shut)
		return;
	shutdown(s->ufd, SHUT_WR);
	s->up_shut = true;
	session_maybe_done(s);
}

/* Sends data to the upstream, keeping what the socket does not take. 0 or -1 (closed). */
static int write_up(struct session *s, const uint8_t *p, size_t len)
{
	ssize_t n = send(s->ufd, p, len, MSG_NOSIGNAL);

	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR) {
			upstream_io_failed(s, LOG_WARN, "write", errno);
			return -1;
		}
		n = 0;
	}
	if ((size_t)n < len && buf_append(&s->to_up, p + n, len - (size_t)n) < 0) {
		session_close(s, CLOSE_RESET_BOTH, LOG_ERROR, "out of memory");
		return -1;
	}
	return 0;
}

/* How much one read from the client takes: READ_MAX, cut to whole units of the proxy's
 * framing (ss: 4 chunks of 16383 bytes instead of 4 and a 4-byte fifth, whose length
 * and payload cost two more cipher calls). */
static size_t read_size(const struct proxy_ops *ops)
{
	size_t unit = ops->encode_unit;

	return unit && unit < READ_MAX ? READ_MAX - READ_MAX % unit : READ_MAX;
}

void pump_up(struct session *s)
{
	struct relay *r = s->relay;
	const struct proxy_ops *ops = s->proxy->ops;
	size_t len0 = 0;

	for (int round = 0; round < PUMP_ROUNDS; round++) {
		const uint8_t *data = r->scratch_in;
		size_t len;
		ssize_t n;

		if (buf_used(&s->to_up) > 0 || s->client_eof)
			break;
		n = s->cops->read(s->c, r->scratch_in, read_size(ops));
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			session_side_failed(s, CLOSE_RESET_UPSTREAM, LOG_INFO, "client", "read", errno);
			return;
		}
		if (n == 0) {
			s->client_eof = true;
			break;
		}
		len = (size_t)n;
		s->bytes_up += len;
		r->stats.bytes_up += len;
		if (!s->replay_off && (buf_used(&s->replay) + len > REPLAY_MAX ||
				       buf_append(&s->replay, r->scratch_in, len) < 0)) {
			s->replay_off = true; /* too much to send again: no failing over */
			buf_free(&s->replay);
		}
		if (!s->sniff_done)
			session_sniff(s, r->scratch_in, len);
		if (ops->encode) {
			ops->encode(s->pconn, r->scratch_in, len, r->scratch_out, &len);
			data = r->scratch_out;
		}
		if (write_up(s, data, len) < 0)
			return;
	}
	s->last_active = ev_now(r->loop);
	/* The client's end goes up the way the protocol ends a stream, then as a FIN. */
	if (s->client_eof && !s->up_finished) {
		s->up_finished = true;
		if (ops->finish) {
			ops->finish(s->pconn, r->scratch_out, &len0);
			if (len0 && write_up(s, r->scratch_out, len0) < 0)
				return;
		}
	}
	if (s->client_eof && buf_used(&s->to_up) == 0) {
		send_fin_up(s);
		if (s->state == S_CLOSED)
			return;
	}
	session_arm(s);
}

static void send_fin_client(struct session *s)
{
	if (s->client_shut)
		return;
	s->cops->shutdown_write(s->c);
	s->client_shut = true;
	session_maybe_done(s);
}

/* Writes decoded data to the client, keeping what it does not take. 0 or -1 (closed). */
static int write_client(struct session *s, const uint8_t *p, size_t len)
{
	ssize_t n = 0;

	if (buf_used(&s->to_client) == 0) {
		n = s->cops->write(s->c, p, len);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				session_side_failed(s, CLOSE_RESET_UPSTREAM, LOG_INFO, "client",
						    "write", errno);
				return -1;
			}
			n = 0;
		}
	}
	if ((size_t)n < len && buf_append(&s->to_client, p + n, len - (size_t)n) < 0) {
		session_close(s, CLOSE_RESET_BOTH, LOG_ERROR, "out of memory");
		return -1;
	}
	return 0;
}

/* Decodes (when the proxy transforms) and forwards upstream bytes. 0 or -1 (closed). */
static int deliver_down(struct session *s, const uint8_t *p, size_t len)
{
	struct relay *r = s->relay;
	const struct proxy_ops *ops = s->proxy->ops;
	char err[160];

	if (ops->decode) {
		size_t out = 0;
		int rc = ops->decode(s->pconn, p, len, r->scratch_out, &out, err, sizeof(err));

		if (rc == PROXY_EOF)
			s->upstream_eof = true; /* the FIN goes to the client once this is out */
		else if (rc != PROXY_OK) {
			if (!s->bytes_down)
				session_upstream_failed(s, UPSTREAM_FAILED, CLOSE_RESET_BOTH, LOG_WARN,
							"%s", err);
			else
				session_close(s, CLOSE_RESET_BOTH, LOG_WARN, "%s", err);
			return -1;
		}
		p = r->scratch_out;
		len = out;
	}
	if (!len)
		return 0;
	session_answered(s);
	s->bytes_down += len;
	r->stats.bytes_down += len;
	return write_client(s, p, len);
}

void pump_down(struct session *s)
{
	struct relay *r = s->relay;

	for (int round = 0; round < PUMP_ROUNDS; round++) {
		ssize_t n;

		if (buf_used(&s->to_client) > 0 || s->upstream_eof)
			break;
		n = recv(s->ufd, r->scratch_in, READ_MAX, 0);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			/* A RST from the upstream is passed on as a RST, unless nothing came
			 * back yet and another upstream can take the session. */
			upstream_io_failed(s, LOG_INFO, "read", errno);
			return;
		}
		if (n == 0) {
			/* Closed before any answer while the client still talks, and another
			 * upstream could take what it sent: that upstream (or its way to the
			 * target) failed. Otherwise (one upstream, more sent than kept, or
			 * after the client's FIN) the close is the answer, passed on. */
			if (!s->bytes_down && !s->client_eof && !s->replay_off) {
				session_upstream_failed(s, UPSTREAM_EARLY_CLOSE, CLOSE_RESET_CLIENT,
							LOG_INFO, "upstream closed before any answer");
				return;
			}
			s->upstream_eof = true;
			break;
		}
		if (deliver_down(s, r->scratch_in, (size_t)n) < 0)
			return;
	}
	s->last_active = ev_now(r->loop);
	if (s->upstream_eof && buf_used(&s->to_client) == 0) {
		send_fin_client(s);
		if (s->state == S_CLOSED)
			return;
	}
	session_arm(s);
}

/* Writes what waits for the client. 1 drained, 0 pending, -1 closed. */
static int flush_to_client(struct session *s)
{
	while (buf_used(&s->to_client) > 0) {
		ssize_t n = s->cops->write(s->c, buf_head(&s->to_client), buf_used(&s->to_client));
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			session_side_failed(s, CLOSE_RESET_UPSTREAM, LOG_INFO, "client", "write",
					    errno);
			return -1;
		}
		if (n <= 0)
			return 0;
		buf_consume(&s->to_client, (size_t)n);
	}
	return 1;
}

void relay_client_ready(struct session *s, bool readable, bool writable)
{
	if (s->state != S_RELAY)
		return;
	if (writable) {
		int rc = flush_to_client(s);
		if (rc < 0)
			return;
		if (rc > 0) {
			s->last_active = ev_now(s->relay->loop);
			pump_down(s); /* resumes the upstream and sends a pending FIN */
			if (s->state != S_RELAY) /* closed, or opened again elsewhere */
				return;
		}
	}
	if (readable)
		pump_up(s);
}

void relay_client_failed(struct session *s, int err)
{
	session_side_failed(s, CLOSE_RESET_UPSTREAM, LOG_INFO, "client", "connection", err);
}

void session_start_relay(struct session *s)
{
	struct relay *r = s->relay;
	size_t left = buf_used(&s->hs_in);

	s->state = S_RELAY;
	ev_timer_stop(r->loop, &s->timer);
	s->last_active = ev_now(r->loop);
	/* Opened again through another upstream: what the client sent goes once more. */
	if ((s->tried & (s->tried - 1)) && buf_used(&s->replay)) {
		const uint8_t *data = buf_head(&s->replay);
		size_t len = buf_used(&s->replay);

		if (s->proxy->ops->encode) {
			s->proxy->ops->encode(s->pconn, data, len, r->scratch_out, &len);
			data = r->scratch_out;
		}
		if (write_up(s, data, len) < 0)
			return;
	}
	/* A UDP association works once it is set up; nothing else may ever come back. */
	if (s->target.udp_associate)
		session_answered(s);
	if (s->proxy->cfg.idle_timeout > 0) {
		ev_timer_set(&s->timer, s->proxy->cfg.idle_timeout, 0.);
		ev_timer_start(r->loop, &s->timer);
	}
	/* Bytes that followed the handshake reply are stream data. */
	if (left > 0) {
		struct buf rest = s->hs_in;
		memset(&s->hs_in, 0, sizeof(s->hs_in));
		int rc = deliver_down(s, buf_head(&rest), left);
		buf_free(&rest);
		if (rc < 0)
			return;
	} else {
		static const uint8_t none[1];

		buf_free(&s->hs_in);
		/* A proxy that transforms may hold bytes that came with its reply (https:
		 * decrypted already, inside TLS): decode with nothing new gives them. */
		if (s->proxy->ops->decode && s->proxy->ops->handshake &&
		    deliver_down(s, none, 0) < 0)
			return;
	}
	/* Either may end the session or open it again through another upstream (then
	 * this runs once more when that one is ready). */
	pump_up(s);
	if (s->state == S_RELAY)
		pump_down(s);
	if (s->state == S_RELAY && s->cops->established)
		s->cops->established(s->c);
}

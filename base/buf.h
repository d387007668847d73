/* buf.h -- a growable byte buffer (consumed from the front) and a bounded read cursor. */
#ifndef SNET_BUF_H
#define SNET_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t off; /* first unconsumed byte */
	size_t len; /* end of valid bytes; valid range is data[off..len) */
	size_t cap;
};

static inline const uint8_t *buf_head(const struct buf *b) { return b->data + b->off; }
static inline size_t buf_used(const struct buf *b) { return b->len - b->off; }

/* Makes room for `extra` more bytes at the tail. 0 or -1 (ENOMEM). */
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *p, size_t n);
/* Drops n bytes from the front; frees the storage when it becomes empty. */
void buf_consume(struct buf *b, size_t n);
void buf_free(struct buf *b);

/* A read cursor over bytes it does not own; every fetch is bounds-checked. */
struct cursor {
	const uint8_t *p;
	size_t len;
	size_t off;
};

static inline struct cursor cursor_make(const void *p, size_t len)
{
	struct cursor c = { (const uint8_t *)p, len, 0 };
	return c;
}
static inline size_t cursor_left(const struct cursor *c) { return c->len - c->off; }
static inline bool cursor_u8(struct cursor *c, uint8_t *v)
{
	if (cursor_left(c) < 1)
		return false;
	*v = c->p[c->off++];
	return true;
}
static inline bool cursor_be16(struct cursor *c, uint16_t *v)
{
	if (cursor_left(c) < 2)
		return false;
	*v = (uint16_t)(c->p[c->off] << 8 | c->p[c->off + 1]);
	c->off += 2;
	return true;
}
static inline bool cursor_bytes(struct cursor *c, void *out, size_t n)
{
	if (cursor_left(c) < n)
		return false;
	for (size_t i = 0; i < n; i++)
		((uint8_t *)out)[i] = c->p[c->off + i];
	c->off += n;
	return true;
}
static inline bool cursor_skip(struct cursor *c, size_t n)
{
	if (cursor_left(c) < n)
		return false;
	c->off += n;
	return true;
}

#endif

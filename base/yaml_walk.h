/* yaml_walk.h -- a strict, table-driven walker over libyaml's event stream.
 *
 * A schema is a tree of walk_tables: one per YAML mapping, one walk_key per allowed key
 * (name, handler, offset of the field, range, nested table or per-item parser). The walker
 * rejects unknown and duplicate keys, aliases, embedded NULs and trailing documents; every
 * error is one line "FILE:LINE:COL: message" with libyaml's marks (1-based). Handlers run
 * with the value's first event current and consume exactly that value. */
#ifndef SNET_YAML_WALK_H
#define SNET_YAML_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#define WALK_MAX_KEYS 32
#define WALK_PATH_MAX 512
#define WALK_QUOTE_MAX 96 /* a quoted value in a message is cut to about this many bytes */
#define WALK_F_HEX 0x1u /* walk_uint: 0x hex allowed besides decimal */

struct walk {
	yaml_parser_t parser;
	yaml_event_t ev; /* the current event, valid while have_ev */
	bool have_ev;
	const char *name; /* FILE in messages */
	const unsigned char *input; /* to place reader (encoding) errors */
	size_t input_len;
	char *err;
	size_t errlen;
	bool failed;
	yaml_mark_t key_mark; /* mark of the key whose value is being walked */
	char path[WALK_PATH_MAX]; /* dotted key path of the current value, e.g. "proxy.port" */
	size_t path_len;
	const void *user; /* context for the schema's handlers */
};

struct walk_key;
/* Consumes the value whose first event is current; 0 or -1 (error already reported). */
typedef int (*walk_fn)(struct walk *w, const struct walk_key *k, void *base);
/* Parses one scalar item of a list into the list at base + k->off. */
typedef int (*walk_item_fn)(struct walk *w, const struct walk_key *k, void *base, const char *s,
			    size_t len);

struct walk_key {
	const char *name;
	walk_fn fn;
	size_t off; /* of the field inside the table's struct */
	size_t size; /* of the field: string buffers and integers */
	int64_t min, max; /* integers */
	const void *aux; /* walk_map: the nested walk_table; walk_enum: NULL-ended names */
	walk_item_fn item; /* walk_list: the item parser */
	unsigned flags; /* schema-specific */
};

struct walk_seen {
	bool seen;
	yaml_mark_t key;
	yaml_mark_t value;
};

struct walk_table {
	const struct walk_key *keys;
	size_t n;
	/* Runs after the mapping ends, and also when the mapping is absent (present false):
	 * cross-key checks, required keys, list defaults. owner is the mark of the key that
	 * holds the mapping (the mapping itself at top level; the parent's owner when absent). */
	int (*check)(struct walk *w, const struct walk_seen *seen, bool present, yaml_mark_t owner,
		     void *base);
};

/* The parser reads data[0..len) in place; data must outlive the walk. */
int walk_init(struct walk *w, const char *name, const char *data, size_t len, char *err,
	      size_t errlen);
void walk_fini(struct walk *w);
/* Walks a stream that must hold exactly one document whose top level is a mapping. */
int walk_document(struct walk *w, const struct walk_table *top, void *base);

/* Reports "FILE:LINE:COL: PATH: message" (PATH omitted at top level). Returns -1. */
int walk_fail_at(struct walk *w, yaml_mark_t mark, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Same, at the current event. */
int walk_fail(struct walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reports "FILE:LINE:COL: message" without the path. */
int walk_fail_plain(struct walk *w, yaml_mark_t mark, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Reports "OTHERFILE:LINE:COL: message", e.g. a bad line inside a file the config names. */
int walk_fail_in(struct walk *w, const char *file, size_t line, size_t col, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Quotes s for a message: printable ASCII kept, the rest escaped, long values cut. */
const char *walk_quote(const char *s, size_t len, char *buf, size_t size);

int walk_next(struct walk *w);
yaml_mark_t walk_mark(const struct walk *w);
/* A plain empty scalar, ~ or null. */
bool walk_is_null(const struct walk *w);
/* The current event must be a scalar (what names the expected kind in the error). */
int walk_scalar(struct walk *w, const char *what, const char **s, size_t *len);
/* A type error for the current event: "expected WHAT, got a sequence". */
int walk_fail_type(struct walk *w, const char *what);

size_t walk_path_push(struct walk *w, const char *name);
void walk_path_pop(struct walk *w, size_t saved);

/* Integer text: decimal, or 0x hex when hex; -1 when it is not an integer. A value beyond
 * int64 is clamped (so it fails any range check) rather than wrapped. */
int walk_parse_int(const char *s, size_t len, bool hex, int64_t *out);

/* Generic handlers. */
int walk_bool(struct walk *w, const struct walk_key *k, void *base); /* bool */
int walk_uint(struct walk *w, const struct walk_key *k, void *base); /* size 2/4/8, min..max */
int walk_str(struct walk *w, const struct walk_key *k, void *base); /* char[size], no cut */
int walk_enum(struct walk *w, const struct walk_key *k, void *base); /* int index into aux */
int walk_map(struct walk *w, const struct walk_key *k, void *base); /* nested table aux */
int walk_list(struct walk *w, const struct walk_key *k, void *base); /* sequence of scalars */

#endif

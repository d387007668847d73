/* yaml_walk.c -- the strict table-driven YAML walker: event pump, key lookup, one-line errors
 * and the generic value handlers (bool, integer range, bounded string, enum, mapping, list). */
#include "base/yaml_walk.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

_Static_assert(sizeof(unsigned) == 4, "walk_uint stores unsigned as 32 bits");

int walk_init(struct walk *w, const char *name, const char *data, size_t len, char *err,
	      size_t errlen)
{
	static const unsigned char empty[1];

	memset(w, 0, sizeof(*w));
	w->name = name;
	/* libyaml asserts on a NULL input; an empty one is simply an empty document. */
	if (!data)
		len = 0;
	w->input = data ? (const unsigned char *)data : empty;
	w->input_len = len;
	w->err = err;
	w->errlen = errlen;
	if (err && errlen)
		err[0] = '\0';
	if (!yaml_parser_initialize(&w->parser)) {
		yaml_mark_t m = { 0, 0, 0 };
		walk_fail_plain(w, m, "out of memory");
		return -1;
	}
	yaml_parser_set_input_string(&w->parser, w->input, len);
	return 0;
}

void walk_fini(struct walk *w)
{
	if (w->have_ev)
		yaml_event_delete(&w->ev);
	w->have_ev = false;
	yaml_parser_delete(&w->parser);
}

static void walk_vreport(struct walk *w, yaml_mark_t mark, bool with_path, const char *fmt,
			 va_list ap)
{
	int n;

	if (w->failed)
		return; /* the first error is the one reported */
	w->failed = true;
	if (!w->err || w->errlen == 0)
		return;
	n = snprintf(w->err, w->errlen, "%s:%zu:%zu: ", w->name, mark.line + 1, mark.column + 1);
	if (n < 0 || (size_t)n >= w->errlen)
		return;
	if (with_path && w->path_len > 0) {
		int m = snprintf(w->err + n, w->errlen - (size_t)n, "%s: ", w->path);
		if (m < 0 || (size_t)m >= w->errlen - (size_t)n)
			return;
		n += m;
	}
	vsnprintf(w->err + n, w->errlen - (size_t)n, fmt, ap);
}

int walk_fail_at(struct walk *w, yaml_mark_t mark, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	walk_vreport(w, mark, true, fmt, ap);
	va_end(ap);
	return -1;
}

int walk_fail(struct walk *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	walk_vreport(w, walk_mark(w), true, fmt, ap);
	va_end(ap);
	return -1;
}

int walk_fail_plain(struct walk *w, yaml_mark_t mark, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	walk_vreport(w, mark, false, fmt, ap);
	va_end(ap);
	return -1;
}

int walk_fail_in(struct walk *w, const char *file, size_t line, size_t col, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (w->failed)
		return -1;
	w->failed = true;
	if (!w->err || w->errlen == 0)
		return -1;
	n = snprintf(w->err, w->errlen, "%s:%zu:%zu: ", file, line, col);
	if (n < 0 || (size_t)n >= w->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(w->err + n, w->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

const char *walk_quote(const char *s, size_t len, char *buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	if (size < 8) {
		if (size)
			buf[0] = '\0';
		return buf;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		/* room for the widest escape, "..." and the NUL */
		if (o + 4 + 3 + 1 > size || o >= WALK_QUOTE_MAX) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
			buf[o++] = (char)c;
		} else if (c == '\\' || c == '\'') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		}
	}
	buf[o] = '\0';
	return buf;
}

/* libyaml gives reader (encoding) errors as a byte offset; turn it into line:col. */
static yaml_mark_t walk_offset_mark(const struct walk *w, size_t offset)
{
	yaml_mark_t m = { offset, 0, 0 };
	size_t i;

	for (i = 0; i < offset && i < w->input_len; i++) {
		if (w->input[i] == '\n') {
			m.line++;
			m.column = 0;
		} else if ((w->input[i] & 0xc0) != 0x80) {
			m.column++;
		}
	}
	return m;
}

static int walk_fail_syntax(struct walk *w)
{
	const yaml_parser_t *p = &w->parser;
	const char *problem = p->problem ? p->problem : "unknown problem";

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		return walk_fail_plain(w, p->mark, "out of memory while parsing");
	case YAML_READER_ERROR:
		if (p->problem_value >= 0)
			return walk_fail_plain(w, walk_offset_mark(w, p->problem_offset),
					       "invalid input: %s (#x%x)", problem,
					       (unsigned)p->problem_value);
		return walk_fail_plain(w, walk_offset_mark(w, p->problem_offset),
				       "invalid input: %s", problem);
	default:
		if (p->context)
			return walk_fail_plain(w, p->problem_mark,
					       "YAML syntax error: %s (%s at line %zu)", problem,
					       p->context, p->context_mark.line + 1);
		return walk_fail_plain(w, p->problem_mark, "YAML syntax error: %s", problem);
	}
}

int walk_next(struct walk *w)
{
	if (w->failed)
		return -1;
	if (w->have_ev) {
		yaml_event_delete(&w->ev);
		w->have_ev = false;
	}
	if (!yaml_parser_parse(&w->parser, &w->ev))
		return walk_fail_syntax(w);
	w->have_ev = true;
	if (w->ev.type == YAML_ALIAS_EVENT) {
		const char *a = (const char *)w->ev.data.alias.anchor;
		char q[WALK_QUOTE_MAX + 8];

		return walk_fail(w, "YAML aliases are not supported (*%s)",
				 walk_quote(a, a ? strlen(a) : 0, q, sizeof(q)));
	}
	return 0;
}

yaml_mark_t walk_mark(const struct walk *w)
{
	yaml_mark_t none = { 0, 0, 0 };

	return w->have_ev ? w->ev.start_mark : none;
}

bool walk_is_null(const struct walk *w)
{
	const char *s = (const char *)w->ev.data.scalar.value;
	size_t len = w->ev.data.scalar.length;

	if (!w->have_ev || w->ev.type != YAML_SCALAR_EVENT ||
	    w->ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return len == 0 || (len == 1 && s[0] == '~') ||
	       (len == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) ||
			     !memcmp(s, "NULL", 4)));
}

int walk_fail_type(struct walk *w, const char *what)
{
	char q[WALK_QUOTE_MAX + 8];

	switch (w->ev.type) {
	case YAML_MAPPING_START_EVENT:
		return walk_fail(w, "expected %s, got a mapping", what);
	case YAML_SEQUENCE_START_EVENT:
		return walk_fail(w, "expected %s, got a sequence", what);
	case YAML_SCALAR_EVENT:
		if (walk_is_null(w))
			return walk_fail(w, "expected %s, got an empty value", what);
		return walk_fail(w, "expected %s, got '%s'", what,
				 walk_quote((const char *)w->ev.data.scalar.value,
					    w->ev.data.scalar.length, q, sizeof(q)));
	default:
		return walk_fail(w, "expected %s", what);
	}
}

int walk_scalar(struct walk *w, const char *what, const char **s, size_t *len)
{
	if (w->ev.type != YAML_SCALAR_EVENT)
		return walk_fail_type(w, what);
	*s = (const char *)w->ev.data.scalar.value;
	*len = w->ev.data.scalar.length;
	if (memchr(*s, '\0', *len))
		return walk_fail(w, "value contains a NUL character");
	/* The packaged template's "<your-server>": never a real value of any key. */
	if (*len >= 3 && (*s)[0] == '<' && (*s)[*len - 1] == '>') {
		char q[WALK_QUOTE_MAX + 8];

		return walk_fail(w, "%s is a placeholder of the template: replace it with "
				 "your own value", walk_quote(*s, *len, q, sizeof(q)));
	}
	return 0;
}

size_t walk_path_push(struct walk *w, const char *name)
{
	size_t saved = w->path_len;
	int n = snprintf(w->path + w->path_len, sizeof(w->path) - w->path_len, "%s%s",
			 w->path_len ? "." : "", name);

	/* the path only labels messages: a long one is cut, never overflowed */
	if (n < 0 || (size_t)n >= sizeof(w->path) - w->path_len)
		w->path_len = strlen(w->path);
	else
		w->path_len += (size_t)n;
	return saved;
}

void walk_path_pop(struct walk *w, size_t saved)
{
	w->path_len = saved;
	w->path[saved] = '\0';
}

int walk_parse_int(const char *s, size_t len, bool hex, int64_t *out)
{
	unsigned base = 10;
	uint64_t v = 0;
	bool neg = false, big = false;
	size_t i = 0;

	if (len > 0 && s[0] == '-') {
		neg = true;
		i = 1;
	}
	if (hex && len - i > 2 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
		base = 16;
		i += 2;
	}
	if (i == len)
		return -1;
	for (; i < len; i++) {
		char c = s[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (base == 16 && c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return -1;
		if (d >= base)
			return -1;
		if (v > (uint64_t)INT64_MAX / 16)
			big = true;
		else
			v = v * base + d;
	}
	if (big || v > (uint64_t)INT64_MAX)
		v = (uint64_t)INT64_MAX;
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

/* Levenshtein distance, for "did you mean"; long strings are simply "far". */
static size_t walk_distance(const char *a, size_t la, const char *b)
{
	size_t lb = strlen(b), i, j, row[33];

	if (la > 32 || lb > 32)
		return 99;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static int walk_fail_unknown(struct walk *w, const struct walk_table *t, const char *key,
			     size_t len)
{
	const char *where = w->path_len ? w->path : "top level";
	const char *near = NULL;
	char q[WALK_QUOTE_MAX + 8];
	size_t i, best = 3;

	for (i = 0; i < t->n; i++) {
		size_t d = walk_distance(key, len, t->keys[i].name);

		if (d < best && d < strlen(t->keys[i].name)) {
			best = d;
			near = t->keys[i].name;
		}
	}
	walk_quote(key, len, q, sizeof(q));
	if (near)
		return walk_fail_plain(w, walk_mark(w), "unknown key '%s' in %s (did you mean '%s'?)",
				       q, where, near);
	return walk_fail_plain(w, walk_mark(w), "unknown key '%s' in %s", q, where);
}

static int walk_finish(struct walk *w, const struct walk_table *t, void *base,
		       const struct walk_seen *seen, bool present, yaml_mark_t owner);

/* Runs the checks of a mapping that is not in the file (and of its nested mappings). */
static int walk_absent(struct walk *w, const struct walk_table *t, void *base, yaml_mark_t owner)
{
	struct walk_seen seen[WALK_MAX_KEYS];

	memset(seen, 0, sizeof(seen));
	return walk_finish(w, t, base, seen, false, owner);
}

static int walk_finish(struct walk *w, const struct walk_table *t, void *base,
		       const struct walk_seen *seen, bool present, yaml_mark_t owner)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		const struct walk_key *k = &t->keys[i];
		size_t saved;
		int rc;

		if (seen[i].seen || k->fn != walk_map)
			continue;
		saved = walk_path_push(w, k->name);
		rc = walk_absent(w, k->aux, (char *)base + k->off, owner);
		walk_path_pop(w, saved);
		if (rc < 0)
			return -1;
	}
	return t->check ? t->check(w, seen, present, owner, base) : 0;
}

/* The current event is MAPPING_START; consumes up to its MAPPING_END. */
static int walk_body(struct walk *w, const struct walk_table *t, void *base, yaml_mark_t owner)
{
	struct walk_seen seen[WALK_MAX_KEYS];

	memset(seen, 0, sizeof(seen));
	if (t->n > WALK_MAX_KEYS)
		return walk_fail(w, "internal error: table too large");
	for (;;) {
		const char *key;
		size_t len, i, saved;
		char q[WALK_QUOTE_MAX + 8];

		if (walk_next(w) < 0)
			return -1;
		if (w->ev.type == YAML_MAPPING_END_EVENT)
			break;
		if (w->ev.type != YAML_SCALAR_EVENT)
			return walk_fail_plain(w, walk_mark(w), "a key must be a plain name in %s",
					       w->path_len ? w->path : "top level");
		key = (const char *)w->ev.data.scalar.value;
		len = w->ev.data.scalar.length;
		for (i = 0; i < t->n; i++)
			if (strlen(t->keys[i].name) == len && !memcmp(t->keys[i].name, key, len))
				break;
		if (i == t->n)
			return walk_fail_unknown(w, t, key, len);
		if (seen[i].seen)
			return walk_fail_plain(w, walk_mark(w),
					       "duplicate key '%s' in %s (first at line %zu)",
					       walk_quote(key, len, q, sizeof(q)),
					       w->path_len ? w->path : "top level",
					       seen[i].key.line + 1);
		seen[i].seen = true;
		seen[i].key = walk_mark(w);
		saved = walk_path_push(w, t->keys[i].name);
		if (walk_next(w) < 0)
			return -1;
		seen[i].value = walk_mark(w);
		w->key_mark = seen[i].key;
		if (t->keys[i].fn(w, &t->keys[i], base) < 0)
			return -1;
		walk_path_pop(w, saved);
	}
	return walk_finish(w, t, base, seen, true, owner);
}

int walk_document(struct walk *w, const struct walk_table *top, void *base)
{
	yaml_mark_t start;

	if (walk_next(w) < 0) /* STREAM-START */
		goto fail;
	if (walk_next(w) < 0)
		goto fail;
	if (w->ev.type == YAML_STREAM_END_EVENT) {
		walk_fail_plain(w, walk_mark(w), "empty document: expected a mapping of settings");
		goto fail;
	}
	if (walk_next(w) < 0) /* the node after DOCUMENT-START */
		goto fail;
	if (w->ev.type != YAML_MAPPING_START_EVENT) {
		if (walk_is_null(w))
			walk_fail_plain(w, walk_mark(w),
					"empty document: expected a mapping of settings");
		else
			walk_fail_type(w, "a mapping of settings at top level");
		goto fail;
	}
	start = walk_mark(w);
	if (walk_body(w, top, base, start) < 0)
		goto fail;
	if (walk_next(w) < 0) /* DOCUMENT-END */
		goto fail;
	if (walk_next(w) < 0)
		goto fail;
	if (w->ev.type != YAML_STREAM_END_EVENT) {
		walk_fail_plain(w, walk_mark(w), "only one YAML document is allowed");
		goto fail;
	}
	return 0;
fail:
	if (!w->failed)
		walk_fail_plain(w, walk_mark(w), "internal error");
	return -1;
}

int walk_bool(struct walk *w, const struct walk_key *k, void *base)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };
	bool *out = (bool *)((char *)base + k->off);
	const char *s = NULL;
	size_t len = 0, i;

	if (walk_scalar(w, "a boolean", &s, &len) < 0)
		return -1;
	for (i = 0; i < 3; i++) {
		if (strlen(yes[i]) == len && !strncasecmp(s, yes[i], len)) {
			*out = true;
			return 0;
		}
		if (strlen(no[i]) == len && !strncasecmp(s, no[i], len)) {
			*out = false;
			return 0;
		}
	}
	return walk_fail_type(w, "a boolean");
}

int walk_uint(struct walk *w, const struct walk_key *k, void *base)
{
	void *field = (char *)base + k->off;
	char q[WALK_QUOTE_MAX + 8];
	const char *s = NULL;
	size_t len = 0;
	int64_t v;

	if (walk_scalar(w, "an integer", &s, &len) < 0)
		return -1;
	if (walk_parse_int(s, len, k->flags & WALK_F_HEX, &v) < 0)
		return walk_fail_type(w, k->flags & WALK_F_HEX ? "an integer (decimal or 0x hex)"
							       : "an integer");
	if (v < k->min || v > k->max)
		return walk_fail(w, "%s is out of range %lld..%lld", walk_quote(s, len, q, sizeof(q)),
				 (long long)k->min, (long long)k->max);
	switch (k->size) {
	case 2: {
		uint16_t x = (uint16_t)v;
		memcpy(field, &x, 2);
		return 0;
	}
	case 4: {
		uint32_t x = (uint32_t)v;
		memcpy(field, &x, 4);
		return 0;
	}
	case 8: {
		uint64_t x = (uint64_t)v;
		memcpy(field, &x, 8);
		return 0;
	}
	default:
		return walk_fail(w, "internal error: integer field size %zu", k->size);
	}
}

int walk_str(struct walk *w, const struct walk_key *k, void *base)
{
	char *out = (char *)base + k->off;
	const char *s = NULL;
	size_t len = 0;

	if (walk_scalar(w, "a string", &s, &len) < 0)
		return -1;
	if (walk_is_null(w))
		len = 0;
	if (len >= k->size)
		return walk_fail(w, "too long (%zu bytes, at most %zu)", len, k->size - 1);
	memcpy(out, s, len);
	out[len] = '\0';
	return 0;
}

int walk_enum(struct walk *w, const struct walk_key *k, void *base)
{
	const char *const *names = k->aux;
	char q[WALK_QUOTE_MAX + 8], list[256];
	const char *s = NULL;
	size_t len = 0, o = 0;
	int i;

	if (walk_scalar(w, "a name", &s, &len) < 0)
		return -1;
	for (i = 0; names[i]; i++) {
		if (strlen(names[i]) == len && !memcmp(names[i], s, len)) {
			memcpy((char *)base + k->off, &i, sizeof(i));
			return 0;
		}
	}
	list[0] = '\0';
	for (i = 0; names[i] && o < sizeof(list); i++) {
		int n = snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", names[i]);

		if (n < 0)
			break;
		o += (size_t)n;
	}
	return walk_fail(w, "invalid value '%s' (expected one of: %s)",
			 walk_quote(s, len, q, sizeof(q)), list);
}

int walk_map(struct walk *w, const struct walk_key *k, void *base)
{
	const struct walk_table *t = k->aux;
	void *sub = (char *)base + k->off;
	yaml_mark_t owner = w->key_mark;
	struct walk_seen seen[WALK_MAX_KEYS];

	if (w->ev.type == YAML_MAPPING_START_EVENT)
		return walk_body(w, t, sub, owner);
	if (!walk_is_null(w))
		return walk_fail_type(w, "a mapping");
	memset(seen, 0, sizeof(seen));
	return walk_finish(w, t, sub, seen, true, owner);
}

int walk_list(struct walk *w, const struct walk_key *k, void *base)
{
	const char *s = NULL;
	size_t len = 0;

	if (walk_is_null(w))
		return 0;
	if (w->ev.type != YAML_SEQUENCE_START_EVENT)
		return walk_fail_type(w, "a sequence");
	for (;;) {
		if (walk_next(w) < 0)
			return -1;
		if (w->ev.type == YAML_SEQUENCE_END_EVENT)
			return 0;
		if (walk_scalar(w, "a single value in each list item", &s, &len) < 0)
			return -1;
		if (k->item(w, k, base, s, len) < 0)
			return -1;
	}
}

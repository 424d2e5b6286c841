/*
 * follow.c - tail -F with a resumable position (see follow.h).
 *
 * Offsets count bytes of the current file; the buffer holds the bytes
 * between the position (after the last complete line handed out) and what
 * has been read, i.e. at most one partial line.  Whenever the follower
 * leaves a file for good (rename rotation, end of a rotated remainder) a
 * partial last line is handed out as a line: that file will not grow again.
 */
#include "config.h"
#include "follow.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK 65536

static volatile sig_atomic_t *stop_flag;

void
follow_set_stop_flag(volatile sig_atomic_t *flag)
{
	stop_flag = flag;
}

struct lbuf {
	char *b;
	size_t len, cap;
	size_t max_line;
	int discarding;           /* inside the rest of a cut line */
};

struct follow {
	struct follow_opts o;
	char *path;
	char *rotated;            /* NULL: none */
	int fd;
	struct follow_pos pos;
	uint64_t read_off;        /* file offset read up to */
	struct lbuf lb;
	int rot_fd;               /* rotated remainder still to read, or -1 */
	uint64_t rot_off;
	/* while a rotated file's rest is unread (pending, or its reading was
	 * cut short by a stop), the position to save is in that file */
	int rot_unfinished;
	struct follow_pos rot_pos;
	struct follow_stats st;
};

/* FNV-1a, 64 bits: identity of a file's first bytes, not security. */
static uint64_t
fnv64(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ULL;

	while (n-- > 0) {
		h ^= *s++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Hash of the first n bytes of fd; -1 if fewer are there. */
static int
head_hash(int fd, uint32_t n, uint64_t *h)
{
	char buf[FOLLOW_HEAD_MAX];
	ssize_t r;
	size_t got = 0;

	if (n > FOLLOW_HEAD_MAX)
		n = FOLLOW_HEAD_MAX;
	while (got < n) {
		r = pread(fd, buf + got, n - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	*h = fnv64(buf, n);
	return 0;
}

/* ------------------------------------------------------------------ lines */

static void
lbuf_init(struct lbuf *l, size_t max_line)
{
	l->max_line = max_line < 256 ? 256 : max_line;
	l->cap = l->max_line + CHUNK;
	l->b = xmalloc(l->cap);
	l->len = 0;
	l->discarding = 0;
}

/*
 * Hand out the complete lines in the buffer; *consumed grows by the bytes
 * used.  final: the stream ends here, so a partial line is a line.
 */
static void
lbuf_lines(struct lbuf *l, int final, follow_line_fn fn, void *ud, uint64_t *consumed,
    struct follow_stats *st)
{
	size_t start = 0;
	char *nl;

	while (start < l->len) {
		nl = memchr(l->b + start, '\n', l->len - start);
		if (nl == NULL)
			break;
		{
			size_t n = (size_t)(nl - (l->b + start));
			if (l->discarding) {
				l->discarding = 0;
			} else if (n > l->max_line) {
				fn(ud, l->b + start, l->max_line);
				st->lines++;
				st->long_lines++;
				st->bytes += n + 1;
			} else {
				fn(ud, l->b + start, n);
				st->lines++;
				st->bytes += n + 1;
			}
			*consumed += n + 1;
			start += n + 1;
		}
	}
	if (start > 0) {
		memmove(l->b, l->b + start, l->len - start);
		l->len -= start;
	}
	if (l->len >= l->max_line) {
		/* a line longer than we accept: hand out its start, drop the rest */
		if (!l->discarding) {
			fn(ud, l->b, l->max_line);
			st->lines++;
			st->long_lines++;
			st->bytes += l->len;
		}
		*consumed += l->len;
		l->len = 0;
		l->discarding = 1;
	}
	if (final && l->len > 0) {
		if (!l->discarding) {
			fn(ud, l->b, l->len);
			st->lines++;
			st->bytes += l->len;
		}
		*consumed += l->len;
		l->len = 0;
	}
	if (final)
		l->discarding = 0;
}

/* Read fd from its file position to EOF, handing out lines.  0; 1 when a
 * stop cut it short (a partial line at the end is then kept, not handed
 * out as a line); -1 on a read error. */
static int
pump(struct lbuf *l, int fd, int final, follow_line_fn fn, void *ud, uint64_t *read_off,
    uint64_t *consumed, struct follow_stats *st)
{
	ssize_t r;
	int stopped = 0;

	for (;;) {
		if (stop_flag != NULL && *stop_flag) {
			stopped = 1;
			break;
		}
		if (l->cap - l->len < CHUNK / 2) {
			lbuf_lines(l, 0, fn, ud, consumed, st);
			if (l->cap - l->len < CHUNK / 2)
				return 0;     /* cannot happen: lbuf_lines empties past max_line */
		}
		r = read(fd, l->b + l->len, l->cap - l->len);
		if (r < 0 && errno == EINTR && stop_flag != NULL && *stop_flag) {
			stopped = 1;
			break;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		l->len += (size_t)r;
		if (read_off != NULL)
			*read_off += (uint64_t)r;
		lbuf_lines(l, 0, fn, ud, consumed, st);
	}
	lbuf_lines(l, final && !stopped, fn, ud, consumed, st);
	return stopped;
}

int
follow_read_fd(int fd, size_t max_line, follow_line_fn fn, void *ud,
    struct follow_stats *st, char *err, size_t errlen)
{
	struct lbuf l;
	uint64_t consumed = 0;
	int rc;

	lbuf_init(&l, max_line);
	rc = pump(&l, fd, 1, fn, ud, NULL, &consumed, st);
	if (rc > 0)
		rc = 0;       /* stopped: what was read counts */
	else if (rc != 0)
		snprintf(err, errlen, "read: %s", strerror(errno));
	free(l.b);
	return rc;
}

/* ------------------------------------------------------------------ files */

static int
open_ro(const char *path)
{
	int fd;

	do
		fd = open(path, O_RDONLY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	return fd;
}

/* Start following fd from offset (a line boundary, or end). */
static void
attach(struct follow *f, int fd, uint64_t offset, int mid_line)
{
	struct stat sb;

	f->fd = fd;
	memset(&f->pos, 0, sizeof f->pos);
	if (fstat(fd, &sb) == 0) {
		f->pos.dev = (uint64_t)sb.st_dev;
		f->pos.ino = (uint64_t)sb.st_ino;
	}
	f->pos.offset = offset;
	f->read_off = offset;
	f->lb.len = 0;
	f->lb.discarding = mid_line;
	(void)lseek(fd, (off_t)offset, SEEK_SET);
}

/* Keep the head hash up to date while the file is young. */
static void
update_head(struct follow *f)
{
	uint32_t want;
	uint64_t h;

	if (f->fd < 0 || f->pos.head_len >= FOLLOW_HEAD_MAX)
		return;
	want = f->read_off < FOLLOW_HEAD_MAX ? (uint32_t)f->read_off : FOLLOW_HEAD_MAX;
	if (want <= f->pos.head_len)
		return;
	if (head_hash(f->fd, want, &h) == 0) {
		f->pos.head_len = want;
		f->pos.head_hash = h;
	}
}

/* Does fd start with the bytes that p's head hash describes, and is it at
 * least p->offset long? */
static int
head_matches(int fd, const struct follow_pos *p)
{
	struct stat sb;
	uint64_t h;

	if (fstat(fd, &sb) != 0 || (uint64_t)sb.st_size < p->offset)
		return 0;
	if (p->head_len == 0)
		return 1;
	return head_hash(fd, p->head_len, &h) == 0 && h == p->head_hash;
}

/*
 * The rotated file that holds the rest of the file p described: same inode
 * (renamed), or same first bytes (a copy).  Its fd, or -1.
 */
static int
find_rotated(const struct follow *f, const struct follow_pos *p)
{
	struct stat sb;
	int fd;

	if (f->rotated == NULL)
		return -1;
	if ((fd = open_ro(f->rotated)) < 0)
		return -1;
	if (fstat(fd, &sb) == 0 && (uint64_t)sb.st_ino == p->ino && (uint64_t)sb.st_dev == p->dev &&
	    (uint64_t)sb.st_size >= p->offset)
		return fd;
	if (p->head_len > 0 && head_matches(fd, p))
		return fd;
	close(fd);
	return -1;
}

struct follow *
follow_open(const struct follow_opts *o, const struct follow_pos *saved, char *err, size_t errlen)
{
	struct follow *f;
	struct stat sb;
	int fd;

	f = xcalloc(1, sizeof *f);
	f->o = *o;
	f->path = xstrdup(o->path);
	f->o.path = f->path;
	if (o->rotated_suffix != NULL && o->rotated_suffix[0] != '\0')
		f->rotated = xasprintf("%s%s", o->path, o->rotated_suffix);
	f->fd = -1;
	f->rot_fd = -1;
	lbuf_init(&f->lb, o->max_line);

	fd = open_ro(f->path);
	if (fd < 0 && errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", f->path, strerror(errno));
		follow_close(f);
		return NULL;
	}
	if (fd >= 0 && (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))) {
		snprintf(err, errlen, "%s: not a regular file (use -r - or standard input for pipes)",
		    f->path);
		close(fd);
		follow_close(f);
		return NULL;
	}

	if (saved != NULL) {
		if (fd >= 0 && (uint64_t)sb.st_dev == saved->dev && (uint64_t)sb.st_ino == saved->ino &&
		    head_matches(fd, saved)) {
			attach(f, fd, saved->offset, 0);
			f->pos = *saved;
			return f;
		}
		/* rotated while we were away */
		f->rot_fd = find_rotated(f, saved);
		if (f->rot_fd >= 0) {
			f->rot_off = saved->offset;
			f->rot_unfinished = 1;
			f->rot_pos = *saved;
			log_notice("%s: rotated while stopped; reading the rest of %s from offset %" PRIu64,
			    f->path, f->rotated, saved->offset);
		} else if (saved->offset > 0) {
			f->st.reopen_unmatched++;
			log_warn("%s: the saved position (inode %" PRIu64 ", offset %" PRIu64 ") matches "
			    "neither this file nor %s; reading from the start", f->path, saved->ino,
			    saved->offset, f->rotated ? f->rotated : "a rotated file");
		}
		if (fd >= 0)
			attach(f, fd, 0, 0);
		return f;
	}
	if (fd >= 0) {
		if (o->start_at_end && sb.st_size > 0) {
			char last = '\n';
			(void)!pread(fd, &last, 1, sb.st_size - 1);
			attach(f, fd, (uint64_t)sb.st_size, last != '\n');
		} else {
			attach(f, fd, 0, 0);
		}
	}
	return f;
}

/*
 * The file a saved position is in, opened: the file at the path (same
 * inode and head, long enough) or, when the log has been rotated since,
 * the rotated file (find_rotated).  -1 when neither matches.
 */
static int
open_saved(const struct follow_opts *o, const struct follow_pos *p)
{
	struct follow tmp;
	struct stat sb;
	int fd;

	if ((fd = open_ro(o->path)) >= 0) {
		if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_dev == p->dev &&
		    (uint64_t)sb.st_ino == p->ino && head_matches(fd, p))
			return fd;
		close(fd);
	}
	memset(&tmp, 0, sizeof tmp);
	if (o->rotated_suffix != NULL && o->rotated_suffix[0] != '\0')
		tmp.rotated = xasprintf("%s%s", o->path, o->rotated_suffix);
	fd = find_rotated(&tmp, p);
	free(tmp.rotated);
	return fd;
}

long
follow_warm(const struct follow_opts *o, const struct follow_pos *saved, uint64_t max_bytes,
    follow_line_fn fn, void *ud, uint64_t *from, char *err, size_t errlen)
{
	struct lbuf l;
	struct follow_stats st;
	uint64_t start, left, consumed = 0;
	int fd, mid_line = 0;
	ssize_t r;

	*from = saved->offset;
	if (max_bytes == 0 || saved->offset == 0)
		return 0;
	if ((fd = open_saved(o, saved)) < 0)
		return 0;
	start = saved->offset > max_bytes ? saved->offset - max_bytes : 0;
	if (start > 0) {
		/* begin at a line start: the line cut by start is skipped */
		char prev = '\n';
		if (pread(fd, &prev, 1, (off_t)(start - 1)) != 1 || prev != '\n')
			mid_line = 1;
	}
	if (lseek(fd, (off_t)start, SEEK_SET) < 0) {
		snprintf(err, errlen, "%s: seek: %s", o->path, strerror(errno));
		close(fd);
		return -1;
	}
	*from = start;
	memset(&st, 0, sizeof st);
	lbuf_init(&l, o->max_line);
	l.discarding = mid_line;
	left = saved->offset - start;
	while (left > 0 && !(stop_flag != NULL && *stop_flag)) {
		size_t want = l.cap - l.len;
		if (want > left)
			want = (size_t)left;
		r = read(fd, l.b + l.len, want);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "%s: read: %s", o->path, strerror(errno));
			free(l.b);
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		l.len += (size_t)r;
		left -= (uint64_t)r;
		lbuf_lines(&l, 0, fn, ud, &consumed, &st);
	}
	/* the saved offset ends a line, or the part of an over-long line that
	 * was handed out (cut at max_line): the rest is one last line */
	lbuf_lines(&l, 1, fn, ud, &consumed, &st);
	free(l.b);
	close(fd);
	return (long)st.lines;
}

void
follow_close(struct follow *f)
{
	if (f == NULL)
		return;
	if (f->fd >= 0)
		close(f->fd);
	if (f->rot_fd >= 0)
		close(f->rot_fd);
	free(f->lb.b);
	free(f->path);
	free(f->rotated);
	free(f);
}

/* Read the rest of a rotated file from off, as a file of its own. */
static void
read_rotated(struct follow *f, int fd, const struct follow_pos *from, follow_line_fn fn, void *ud)
{
	struct lbuf l;
	uint64_t consumed = 0;
	uint64_t before = f->st.lines;
	struct follow_pos at = *from;
	int rc;

	if (lseek(fd, (off_t)from->offset, SEEK_SET) < 0) {
		close(fd);
		return;
	}
	lbuf_init(&l, f->o.max_line);
	rc = pump(&l, fd, 1, fn, ud, NULL, &consumed, &f->st);
	if (rc < 0)
		log_warn("%s: read: %s", f->rotated, strerror(errno));
	/* cut short by a stop: the position stays in this file, after its
	 * last complete line read, so that the next start reads the rest */
	f->rot_unfinished = rc == 1;
	at.offset += consumed;
	f->rot_pos = at;
	f->st.rotated_lines += f->st.lines - before;
	free(l.b);
	close(fd);
}

long
follow_poll(struct follow *f, follow_line_fn fn, void *ud)
{
	uint64_t before = f->st.lines;
	struct stat sb, psb;
	int fd;

	if (f->rot_fd >= 0) {
		struct follow_pos from = f->rot_pos;
		from.offset = f->rot_off;
		read_rotated(f, f->rot_fd, &from, fn, ud);
		f->rot_fd = -1;
	}
	if (f->fd < 0) {
		if ((fd = open_ro(f->path)) < 0)
			return (long)(f->st.lines - before);
		attach(f, fd, 0, 0);
	}
	if (pump(&f->lb, f->fd, 0, fn, ud, &f->read_off, &f->pos.offset, &f->st) < 0)
		log_warn("%s: read: %s", f->path, strerror(errno));
	update_head(f);

	/* truncated in place (copytruncate), or rewritten from the start? */
	if (fstat(f->fd, &sb) == 0) {
		uint64_t h;
		int truncated = (uint64_t)sb.st_size < f->read_off;
		if (!truncated && f->pos.head_len > 0 &&
		    (head_hash(f->fd, f->pos.head_len, &h) != 0 || h != f->pos.head_hash))
			truncated = 1;
		if (truncated) {
			struct follow_pos old = f->pos;
			f->st.rotations_truncate++;
			log_info("%s: truncated (copytruncate) at offset %" PRIu64, f->path, old.offset);
			/* the unread rest is in the copy, if it is there */
			if ((fd = find_rotated(f, &old)) >= 0 && fd != f->fd)
				read_rotated(f, fd, &old, fn, ud);
			attach(f, f->fd, 0, 0);
			if (pump(&f->lb, f->fd, 0, fn, ud, &f->read_off, &f->pos.offset, &f->st) < 0)
				log_warn("%s: read: %s", f->path, strerror(errno));
			update_head(f);
		}
	}

	/* renamed away, and a new file in its place? */
	if (stat(f->path, &psb) == 0 &&
	    ((uint64_t)psb.st_ino != f->pos.ino || (uint64_t)psb.st_dev != f->pos.dev)) {
		f->st.rotations_rename++;
		log_info("%s: rotated (new inode %" PRIu64 "); finishing the old file at offset %" PRIu64,
		    f->path, (uint64_t)psb.st_ino, f->pos.offset);
		int rc = pump(&f->lb, f->fd, 1, fn, ud, &f->read_off, &f->pos.offset, &f->st);
		if (rc < 0)
			log_warn("%s: read: %s", f->path, strerror(errno));
		if (rc == 1)       /* stopped: stay in the old file; a restart finds it rotated */
			return (long)(f->st.lines - before);
		close(f->fd);
		f->fd = -1;
		if ((fd = open_ro(f->path)) >= 0) {
			attach(f, fd, 0, 0);
			if (pump(&f->lb, f->fd, 0, fn, ud, &f->read_off, &f->pos.offset, &f->st) < 0)
				log_warn("%s: read: %s", f->path, strerror(errno));
			update_head(f);
		}
	}
	return (long)(f->st.lines - before);
}

void
follow_position(const struct follow *f, struct follow_pos *out)
{
	*out = f->rot_unfinished ? f->rot_pos : f->pos;
}

void
follow_get_stats(const struct follow *f, struct follow_stats *out)
{
	*out = f->st;
}

/* ------------------------------------------------------------------ state file */

int
follow_save(const char *state_path, const char *log_path, const struct follow_pos *p,
    const char *tag, char *err, size_t errlen)
{
	char *tmp = xasprintf("%s.tmp", state_path);
	FILE *fp;
	int fd, rc = -1;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	fp = fdopen(fd, "w");
	if (fp == NULL) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		close(fd);
		goto out;
	}
	fprintf(fp, "botsentry-logwatch-state 1\npath %s\ndev %" PRIu64 "\nino %" PRIu64
	    "\noffset %" PRIu64 "\nhead_len %" PRIu32 "\nhead_hash %016" PRIx64 "\n",
	    log_path, p->dev, p->ino, p->offset, p->head_len, p->head_hash);
	if (tag != NULL && tag[0] != '\0')
		fprintf(fp, "tag %s\n", tag);
	if (fflush(fp) != 0 || fsync(fd) != 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		fclose(fp);
		goto out;
	}
	if (fclose(fp) != 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (rename(tmp, state_path) != 0) {
		snprintf(err, errlen, "rename %s -> %s: %s", tmp, state_path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

int
follow_load(const char *state_path, const char *log_path, struct follow_pos *p,
    char *tag, size_t tagsize, char *err, size_t errlen)
{
	FILE *fp;
	char line[4200], key[32];
	int lineno = 0, have = 0, version = 0;
	char path[4096] = "";

	memset(p, 0, sizeof *p);
	if (tag != NULL && tagsize > 0)
		tag[0] = '\0';
	fp = fopen(state_path, "r");
	if (fp == NULL) {
		if (errno == ENOENT)
			return 1;
		snprintf(err, errlen, "%s: %s", state_path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof line, fp) != NULL) {
		char *val;
		size_t n = strlen(line);

		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		val = strchr(line, ' ');
		if (lineno == 1 && (val == NULL || strncmp(line, "botsentry-logwatch-state ", 25) != 0)) {
			snprintf(err, errlen, "%s:1: not a botsentry-logwatch state file (version 1)",
			    state_path);
			fclose(fp);
			return -1;
		}
		if (val == NULL || (size_t)(val - line) >= sizeof key) {
			snprintf(err, errlen, "%s:%d: expected \"key value\"", state_path, lineno);
			fclose(fp);
			return -1;
		}
		memcpy(key, line, (size_t)(val - line));
		key[val - line] = '\0';
		val++;
		if (lineno == 1) {
			if (strcmp(key, "botsentry-logwatch-state") != 0 || sscanf(val, "%d", &version) != 1 ||
			    version != 1) {
				snprintf(err, errlen, "%s:1: not a botsentry-logwatch state file (version 1)",
				    state_path);
				fclose(fp);
				return -1;
			}
			continue;
		}
		if (strcmp(key, "path") == 0) {
			bs_strlcpy(path, val, sizeof path);
			have |= 1;
		} else if (strcmp(key, "dev") == 0 && sscanf(val, "%" SCNu64, &p->dev) == 1) {
			have |= 2;
		} else if (strcmp(key, "ino") == 0 && sscanf(val, "%" SCNu64, &p->ino) == 1) {
			have |= 4;
		} else if (strcmp(key, "offset") == 0 && sscanf(val, "%" SCNu64, &p->offset) == 1) {
			have |= 8;
		} else if (strcmp(key, "head_len") == 0 && sscanf(val, "%" SCNu32, &p->head_len) == 1 &&
		    p->head_len <= FOLLOW_HEAD_MAX) {
			have |= 16;
		} else if (strcmp(key, "head_hash") == 0 && sscanf(val, "%" SCNx64, &p->head_hash) == 1) {
			have |= 32;
		} else if (strcmp(key, "tag") == 0) {
			if (tag != NULL && tagsize > 0)
				bs_strlcpy(tag, val, tagsize);
		} else {
			snprintf(err, errlen, "%s:%d: unexpected or malformed \"%s\"", state_path, lineno, key);
			fclose(fp);
			return -1;
		}
	}
	fclose(fp);
	if (have != 63) {
		snprintf(err, errlen, "%s: incomplete state file (missing keys)", state_path);
		return -1;
	}
	if (strcmp(path, log_path) != 0) {
		snprintf(err, errlen, "%s: saved for %s, not %s; starting afresh", state_path, path, log_path);
		return 1;
	}
	return 0;
}

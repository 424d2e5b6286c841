/*
 * follow.h - read a log file the way `tail -F` does, and remember where.
 *
 * A follower hands out complete lines.  Its position is the identity of
 * the file (device, inode, and a hash of its first bytes) and the offset
 * just after the last complete line handed out.  The caller saves a
 * position (follow_save) only once everything that those lines produced is
 * safely stored; after a restart the follower resumes there (follow_open):
 *
 *   - the same file, grown:            continue at the offset;
 *   - the file was rotated by rename   the old file is found under its
 *     (mv + create) or by copytruncate: rotated name (PATH + suffix, by
 *                                       inode or by its first bytes), the
 *                                       rest of it is read, then the new
 *                                       file from its start;
 *   - the file was replaced and the    the new file is read from its start
 *     old one is gone:                  (lines may be read again; none are
 *                                       skipped).
 *
 * While running it polls (the caller's interval; no inotify): each poll
 * reads what was appended, then looks at the path.  A new inode at the path
 * means rename rotation: the old file is drained and the new one opened.  A
 * file that shrank, or whose first bytes changed, was truncated in place
 * (copytruncate): the lines between the offset and the truncation are read
 * from the rotated copy when it is there and matches, then the file is read
 * from its start.  Lines that the writer appends to the old file after the
 * switch are lost, as with tail -F; lines written between copytruncate's
 * copy and its truncation are lost for every reader.
 *
 * A line longer than max_line is cut there and its rest discarded (counted).
 */
#ifndef BS_LOGWATCH_FOLLOW_H
#define BS_LOGWATCH_FOLLOW_H

#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#define FOLLOW_HEAD_MAX 1024

struct follow_pos {
	uint64_t dev, ino;
	uint64_t offset;          /* after the last complete line handed out */
	uint32_t head_len;        /* bytes hashed at the start of the file */
	uint64_t head_hash;
};

struct follow_opts {
	const char *path;
	const char *rotated_suffix;   /* ".1"; NULL or "": no rotated file is looked for */
	int start_at_end;             /* with no saved position: 1 skip what is there */
	size_t max_line;
};

struct follow_stats {
	uint64_t lines, bytes;
	uint64_t long_lines;          /* cut at max_line */
	uint64_t rotations_rename, rotations_truncate;
	uint64_t rotated_lines;       /* read from the rotated file */
	uint64_t reopen_unmatched;    /* saved position matched nothing: read from the start */
};

/* Called for each complete line (without its newline); the return value is
 * ignored (return 0). */
typedef int (*follow_line_fn)(void *ud, const char *line, size_t len);

struct follow;

/*
 * Open path, resuming at *saved when it is not NULL (see above).  Lines of
 * the rotated file that resuming requires are handed out by the first
 * follow_poll.  NULL and a message in err when the path cannot be opened
 * for another reason than not existing (a missing file is waited for).
 */
struct follow *follow_open(const struct follow_opts *o, const struct follow_pos *saved,
    char *err, size_t errlen);
void follow_close(struct follow *f);     /* NULL is fine */

/*
 * Hand out again the lines just before a saved position, at most max_bytes
 * of them (starting at a line start), so that the caller can rebuild what
 * it kept in memory (the detectors' windows) after a restart.  Only the
 * file the position is in is read (at the path, or the rotated file when
 * the log was rotated since).  The number of lines, 0 when there is no
 * such file, -1 with a message on a read error; *from: where reading
 * began.
 */
long follow_warm(const struct follow_opts *o, const struct follow_pos *saved, uint64_t max_bytes,
    follow_line_fn fn, void *ud, uint64_t *from, char *err, size_t errlen);

/* Hand out what is new; returns the number of lines (0: nothing new). */
long follow_poll(struct follow *f, follow_line_fn fn, void *ud);
/* Current position (after the last line handed out). */
void follow_position(const struct follow *f, struct follow_pos *out);
void follow_get_stats(const struct follow *f, struct follow_stats *out);

/* State file: written to PATH.tmp, synced, renamed over PATH, with the
 * caller's tag (one line of text, NULL or "" for none) kept beside the
 * position.  0, or -1 with a message. */
int follow_save(const char *state_path, const char *log_path, const struct follow_pos *p,
    const char *tag, char *err, size_t errlen);
/* 0 and *p (and the tag saved with it, "" when none, in tag); 1 when there
 * is no state file; -1 with a message when it is unreadable or not ours (a
 * bad state file is an error, not a fresh start). */
int follow_load(const char *state_path, const char *log_path, struct follow_pos *p,
    char *tag, size_t tagsize, char *err, size_t errlen);

/* A flag (set by a signal handler) that makes a blocking read of a stream
 * give up: interrupted reads return instead of being retried. */
void follow_set_stop_flag(volatile sig_atomic_t *flag);

/*
 * Read a whole stream (standard input, or a file for -r) to its end, line
 * by line, with the same line rules; a last line without a newline counts.
 * Returns 0, or -1 with a message on a read error.
 */
int follow_read_fd(int fd, size_t max_line, follow_line_fn fn, void *ud,
    struct follow_stats *st, char *err, size_t errlen);

#endif

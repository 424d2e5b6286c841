/*
 * store_sqlite_desk.c - the queries the abuse desk's command needs beyond
 * the core store: the allowlist, complaints from other networks (ARF),
 * login names, per-subscriber lease history and statistics.
 *
 * Tables from db/sqlite/002-desk.sql; statements through the helpers of
 * store_sqlite_int.h.  Iterators that call back into user code use private
 * statements (sq_prep_once) so that a callback may query the store again.
 */
#include "config.h"
#include "allowlist.h"
#include "store_sqlite_int.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- allowlist */

#define AL_COLS "id, type, subject, scope, created_ms, expires_ms, owner, reason"

static const char SQL_AL_ADD[] =
    "INSERT INTO allowlist (type, subject, scope, created_ms, expires_ms, owner, reason) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_AL_GET[] = "SELECT " AL_COLS " FROM allowlist WHERE id = ?1";
static const char SQL_AL_DEL[] = "DELETE FROM allowlist WHERE id = ?1";

static void
al_from_row(sqlite3_stmt *s, struct allowlist_entry *e)
{
	memset(e, 0, sizeof *e);
	e->id = sq_col_int64(s, 0);
	e->type = allowlist_type_parse(sq_col_text(s, 1));
	e->subject = sq_col_strdup(s, 2);
	e->scope = sq_col_strdup(s, 3);
	e->created_ms = sq_col_int64(s, 4);
	e->expires_ms = sq_col_int64(s, 5);
	e->owner = sq_col_strdup(s, 6);
	e->reason = sq_col_strdup(s, 7);
}

int
sqlite_allowlist_add(struct store *st, const struct allowlist_entry *e, int64_t *id)
{
	sqlite3_stmt *s;

	if (allowlist_type_parse(allowlist_type_name(e->type)) == 0)
		return sq_errf(st, "allowlist: unknown subject type");
	if ((s = sq_prep(st, SQL_AL_ADD)) == NULL)
		return STORE_ERR;
	sq_bind_text(s, 1, allowlist_type_name(e->type));
	sq_bind_text(s, 2, e->subject);
	sq_bind_text(s, 3, e->scope ? e->scope : "*");
	sq_bind_int64(s, 4, e->created_ms);
	sq_bind_int64(s, 5, e->expires_ms);
	sq_bind_text(s, 6, e->owner ? e->owner : "");
	sq_bind_text(s, 7, e->reason ? e->reason : "");
	if (sq_step_done(st, s, "storing an allowlist entry") != 0)
		return STORE_ERR;
	if (id != NULL)
		*id = sqlite3_last_insert_rowid(st->db);
	return 0;
}

int
sqlite_allowlist_get(struct store *st, int64_t id, struct allowlist_entry *out)
{
	sqlite3_stmt *s;
	int rc;

	memset(out, 0, sizeof *out);
	if ((s = sq_prep(st, SQL_AL_GET)) == NULL)
		return STORE_ERR;
	sq_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		al_from_row(s, out);
	else if (rc != SQLITE_DONE)
		sq_err(st, "reading an allowlist entry");
	sq_reset(s);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? STORE_NOTFOUND : STORE_ERR;
}

int
sqlite_allowlist_remove(struct store *st, int64_t id)
{
	sqlite3_stmt *s;

	if ((s = sq_prep(st, SQL_AL_DEL)) == NULL)
		return STORE_ERR;
	sq_bind_int64(s, 1, id);
	if (sq_step_done(st, s, "removing an allowlist entry") != 0)
		return STORE_ERR;
	return sqlite3_changes(st->db) > 0 ? 0 : STORE_NOTFOUND;
}

int
sqlite_allowlist_each(struct store *st, int64_t active_at_ms,
    int (*fn)(void *ud, const struct allowlist_entry *e), void *ud)
{
	struct allowlist_entry e;
	sqlite3_stmt *s;
	int rc, ret = 0;

	s = sq_prep_once(st, "SELECT " AL_COLS " FROM allowlist "
	    "WHERE ?1 <= 0 OR expires_ms = 0 OR expires_ms > ?1 ORDER BY id");
	if (s == NULL)
		return STORE_ERR;
	sq_bind_int64(s, 1, active_at_ms);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		al_from_row(s, &e);
		ret = fn(ud, &e);
		allowlist_entry_clear(&e);
		if (ret != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = sq_err(st, "listing the allowlist");
	sqlite3_finalize(s);
	return ret;
}

/* ---------------------------------------------------------------- complaints */

#define FBL_COLS "id, received_ms, status, reporter, user_agent, feedback_type, source_ip, " \
	"arrival_ms, reported_domain, report_message_id, msg_message_id, subscriber, " \
	"attributed_by, attributed_ip, event_id, detail, dedup_key"

static const char SQL_FBL_ADD[] =
    "INSERT OR IGNORE INTO fbl_complaints (received_ms, status, reporter, user_agent, feedback_type, "
    "source_ip, arrival_ms, reported_domain, report_message_id, msg_message_id, subscriber, "
    "attributed_by, attributed_ip, event_id, detail, dedup_key) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";
static const char SQL_FBL_PRUNE[] = "DELETE FROM fbl_complaints WHERE received_ms < ?1";

static const char *
nz(const char *s)
{
	return s != NULL ? s : "";
}

int
sqlite_fbl_complaint_add(struct store *st, const struct fbl_complaint *c, int64_t *id)
{
	sqlite3_stmt *s;

	if ((s = sq_prep(st, SQL_FBL_ADD)) == NULL)
		return STORE_ERR;
	sq_bind_int64(s, 1, c->received_ms);
	sq_bind_text(s, 2, c->status ? c->status : "unattributed");
	sq_bind_text(s, 3, nz(c->reporter));
	sq_bind_text(s, 4, nz(c->user_agent));
	sq_bind_text(s, 5, nz(c->feedback_type));
	sq_bind_text(s, 6, nz(c->source_ip));
	sq_bind_int64(s, 7, c->arrival_ms);
	sq_bind_text(s, 8, nz(c->reported_domain));
	sq_bind_text(s, 9, nz(c->report_message_id));
	sq_bind_text(s, 10, nz(c->msg_message_id));
	sq_bind_text(s, 11, nz(c->subscriber));
	sq_bind_text(s, 12, nz(c->attributed_by));
	sq_bind_text(s, 13, nz(c->attributed_ip));
	if (c->event_id > 0)
		sq_bind_int64(s, 14, c->event_id);
	else
		sq_bind_text(s, 14, NULL);
	sq_bind_text(s, 15, nz(c->detail));
	sq_bind_text(s, 16, nz(c->dedup_key));
	if (sq_step_done(st, s, "storing a complaint") != 0)
		return STORE_ERR;
	if (sqlite3_changes(st->db) == 0)
		return STORE_NOTFOUND;
	if (id != NULL)
		*id = sqlite3_last_insert_rowid(st->db);
	return 0;
}

int
sqlite_fbl_complaints_each(struct store *st, const char *status, int64_t since_ms, int limit,
    int (*fn)(void *ud, const struct fbl_complaint *c), void *ud)
{
	struct fbl_complaint c;
	sqlite3_stmt *s;
	int rc, ret = 0;

	s = sq_prep_once(st, "SELECT " FBL_COLS " FROM fbl_complaints "
	    "WHERE (?1 IS NULL OR status = ?1) AND received_ms >= ?2 ORDER BY id LIMIT ?3");
	if (s == NULL)
		return STORE_ERR;
	sq_bind_text(s, 1, status);
	sq_bind_int64(s, 2, since_ms);
	sq_bind_int64(s, 3, limit > 0 ? limit : -1);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&c, 0, sizeof c);
		c.id = sq_col_int64(s, 0);
		c.received_ms = sq_col_int64(s, 1);
		c.status = sq_col_text(s, 2);
		c.reporter = sq_col_text(s, 3);
		c.user_agent = sq_col_text(s, 4);
		c.feedback_type = sq_col_text(s, 5);
		c.source_ip = sq_col_text(s, 6);
		c.arrival_ms = sq_col_int64(s, 7);
		c.reported_domain = sq_col_text(s, 8);
		c.report_message_id = sq_col_text(s, 9);
		c.msg_message_id = sq_col_text(s, 10);
		c.subscriber = sq_col_text(s, 11);
		c.attributed_by = sq_col_text(s, 12);
		c.attributed_ip = sq_col_text(s, 13);
		c.event_id = sq_col_int64(s, 14);
		c.detail = sq_col_text(s, 15);
		c.dedup_key = sq_col_text(s, 16);
		if ((ret = fn(ud, &c)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = sq_err(st, "listing complaints");
	sqlite3_finalize(s);
	return ret;
}

int
sqlite_fbl_complaints_prune(struct store *st, int64_t before_ms, int64_t *n)
{
	sqlite3_stmt *s;

	if ((s = sq_prep(st, SQL_FBL_PRUNE)) == NULL)
		return STORE_ERR;
	sq_bind_int64(s, 1, before_ms);
	if (sq_step_done(st, s, "pruning complaints") != 0)
		return STORE_ERR;
	if (n != NULL)
		*n = sqlite3_changes(st->db);
	return 0;
}

/* ---------------------------------------------------------------- logins, leases */

static const char SQL_LOGIN_GET[] =
    "SELECT subscriber FROM subscriber_logins WHERE login = ?1 "
    "UNION ALL SELECT id FROM subscribers WHERE id = ?1 LIMIT 1";
static const char SQL_LOGIN_SET[] =
    "INSERT INTO subscriber_logins (login, subscriber) VALUES (?1, ?2) "
    "ON CONFLICT (login) DO UPDATE SET subscriber = excluded.subscriber";

int
sqlite_subscriber_by_login(struct store *st, const char *login, char **id)
{
	sqlite3_stmt *s;
	int rc;

	*id = NULL;
	if ((s = sq_prep(st, SQL_LOGIN_GET)) == NULL)
		return STORE_ERR;
	sq_bind_text(s, 1, login);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*id = sq_col_strdup(s, 0);
	else if (rc != SQLITE_DONE)
		sq_err(st, "looking up a login");
	sq_reset(s);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? STORE_NOTFOUND : STORE_ERR;
}

int
sqlite_subscriber_login_set(struct store *st, const char *login, const char *subscriber)
{
	sqlite3_stmt *s;

	if ((s = sq_prep(st, SQL_LOGIN_SET)) == NULL)
		return STORE_ERR;
	sq_bind_text(s, 1, login);
	sq_bind_text(s, 2, subscriber);
	return sq_step_done(st, s, "storing a login");
}

int
sqlite_leases_of(struct store *st, const char *subscriber,
    int (*fn)(void *ud, const struct lease *l), void *ud)
{
	struct lease l;
	sqlite3_stmt *s;
	int rc, ret = 0;

	s = sq_prep_once(st, "SELECT prefix, subscriber, valid_from, valid_to, source FROM leases "
	    "WHERE subscriber = ?1 ORDER BY valid_from, id");
	if (s == NULL)
		return STORE_ERR;
	sq_bind_text(s, 1, subscriber);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&l, 0, sizeof l);
		bs_strlcpy(l.prefix, sq_col_text(s, 0), sizeof l.prefix);
		bs_strlcpy(l.subscriber, sq_col_text(s, 1), sizeof l.subscriber);
		l.valid_from = sq_col_int64(s, 2);
		l.valid_to = sq_col_int64(s, 3);
		bs_strlcpy(l.source, sq_col_text(s, 4), sizeof l.source);
		if ((ret = fn(ud, &l)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = sq_err(st, "listing a subscriber's leases");
	sqlite3_finalize(s);
	return ret;
}

/* ---------------------------------------------------------------- statistics */

static const char *const stat_sql[] = {
	[STORE_STAT_INCIDENTS_BY_STATE] =
	    "SELECT state, '', count(*) FROM incidents WHERE opened_ms >= ?1 GROUP BY state ORDER BY state",
	[STORE_STAT_INCIDENTS_BY_LEVEL] =
	    "SELECT CAST(level AS TEXT), '', count(*) FROM incidents WHERE opened_ms >= ?1 "
	    "GROUP BY level ORDER BY level",
	/* split the comma list of kinds with a recursive CTE */
	[STORE_STAT_INCIDENTS_BY_KIND] =
	    "WITH RECURSIVE split(id, kind, rest) AS ("
	    " SELECT id, '', kinds || ',' FROM incidents WHERE opened_ms >= ?1"
	    " UNION ALL SELECT id, substr(rest, 1, instr(rest, ',') - 1), substr(rest, instr(rest, ',') + 1)"
	    " FROM split WHERE rest <> '') "
	    "SELECT kind, '', count(DISTINCT id) FROM split WHERE kind <> '' GROUP BY kind ORDER BY kind",
	[STORE_STAT_INCIDENTS_BY_DAY] =
	    "SELECT strftime('%Y-%m-%d', opened_ms / 1000, 'unixepoch'), '', count(*) FROM incidents "
	    "WHERE opened_ms >= ?1 GROUP BY 1 ORDER BY 1",
	[STORE_STAT_EVENTS_BY_KIND] =
	    "SELECT kind, source, count(*) FROM events WHERE ts_ms >= ?1 GROUP BY kind, source ORDER BY kind, source",
	[STORE_STAT_EVENTS_BY_DAY] =
	    "SELECT strftime('%Y-%m-%d', ts_ms / 1000, 'unixepoch'), kind, count(*) FROM events "
	    "WHERE ts_ms >= ?1 GROUP BY 1, 2 ORDER BY 1, 2",
	[STORE_STAT_OPEN_BY_AGE] =
	    "SELECT CASE WHEN ?2 - opened_ms < 86400000 THEN '<1d' "
	    " WHEN ?2 - opened_ms < 7 * 86400000 THEN '1-7d' "
	    " WHEN ?2 - opened_ms < 30 * 86400000 THEN '7-30d' ELSE '>30d' END, "
	    " CAST(level AS TEXT), count(*) FROM incidents "
	    "WHERE state IN ('open', 'notified', 'acknowledged') GROUP BY 1, 2 "
	    "ORDER BY min(?2 - opened_ms), 2",
	[STORE_STAT_NOTIFICATIONS_BY_STATUS] =
	    "SELECT status, kind, count(*) FROM notifications WHERE created_ms >= ?1 "
	    "GROUP BY status, kind ORDER BY status, kind",
	[STORE_STAT_COMPLAINTS_BY_STATUS] =
	    "SELECT status, feedback_type, count(*) FROM fbl_complaints WHERE received_ms >= ?1 "
	    "GROUP BY status, feedback_type ORDER BY status, feedback_type",
};

int
sqlite_stats(struct store *st, enum store_stat which, int64_t since_ms, int64_t now_ms,
    int (*fn)(void *ud, const char *key, const char *sub, int64_t n), void *ud)
{
	sqlite3_stmt *s;
	int rc, ret = 0;

	if ((size_t)which >= BS_ARRAY_LEN(stat_sql) || stat_sql[which] == NULL)
		return sq_errf(st, "stats: unknown statistic %d", (int)which);
	if ((s = sq_prep_once(st, stat_sql[which])) == NULL)
		return STORE_ERR;
	if (sqlite3_bind_parameter_count(s) >= 1)
		sq_bind_int64(s, 1, since_ms);
	if (sqlite3_bind_parameter_count(s) >= 2)
		sq_bind_int64(s, 2, now_ms);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((ret = fn(ud, sq_col_text(s, 0), sq_col_text(s, 1), sq_col_int64(s, 2))) != 0)
			break;
	if (ret == 0 && rc != SQLITE_DONE)
		ret = sq_err(st, "computing statistics");
	sqlite3_finalize(s);
	return ret;
}

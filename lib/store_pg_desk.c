/*
 * store_pg_desk.c - the abuse desk's queries beyond the core store on
 * PostgreSQL: the allowlist, complaints from other networks (ARF), login
 * names, per-subscriber lease history and statistics.  Tables from
 * db/postgresql/002-desk.sql; the same semantics as store_sqlite_desk.c.
 * Results are read whole before any callback runs, so a callback may query
 * the store again.
 */
#include "config.h"
#include "allowlist.h"
#include "store_pg_int.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- allowlist */

#define AL_COLS "id, type, subject, scope, created_ms, expires_ms, owner, reason"

static const char SQL_AL_ADD[] =
    "INSERT INTO allowlist (type, subject, scope, created_ms, expires_ms, owner, reason) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
static const char SQL_AL_GET[] = "SELECT " AL_COLS " FROM allowlist WHERE id = $1";
static const char SQL_AL_DEL[] = "DELETE FROM allowlist WHERE id = $1";
static const char SQL_AL_EACH[] = "SELECT " AL_COLS " FROM allowlist "
    "WHERE $1::bigint <= 0 OR expires_ms = 0 OR expires_ms > $1::bigint ORDER BY id";

static void
al_from_row(const PGresult *r, int row, struct allowlist_entry *e)
{
	memset(e, 0, sizeof *e);
	e->id = pg_int(r, row, 0);
	e->type = allowlist_type_parse(pg_text(r, row, 1));
	e->subject = pg_strdup(r, row, 2);
	e->scope = pg_strdup(r, row, 3);
	e->created_ms = pg_int(r, row, 4);
	e->expires_ms = pg_int(r, row, 5);
	e->owner = pg_strdup(r, row, 6);
	e->reason = pg_strdup(r, row, 7);
}

int
pg_allowlist_add(struct store *st, const struct allowlist_entry *e, int64_t *id)
{
	struct pg_params p = PG_PARAMS_INIT;
	PGresult *r;

	if (allowlist_type_parse(allowlist_type_name(e->type)) == 0)
		return pg_errf(st, "allowlist: unknown subject type");
	pp_text(&p, allowlist_type_name(e->type));
	pp_text(&p, e->subject);
	pp_text(&p, e->scope ? e->scope : "*");
	pp_int(&p, e->created_ms);
	pp_int(&p, e->expires_ms);
	pp_text(&p, e->owner ? e->owner : "");
	pp_text(&p, e->reason ? e->reason : "");
	if ((r = pg_exec(st, SQL_AL_ADD, &p, "storing an allowlist entry")) == NULL)
		return STORE_ERR;
	if (id != NULL)
		*id = pg_int(r, 0, 0);
	PQclear(r);
	return 0;
}

int
pg_allowlist_get(struct store *st, int64_t id, struct allowlist_entry *out)
{
	struct pg_params p = PG_PARAMS_INIT;
	PGresult *r;
	int rc;

	memset(out, 0, sizeof *out);
	pp_int(&p, id);
	if ((r = pg_exec(st, SQL_AL_GET, &p, "reading an allowlist entry")) == NULL)
		return STORE_ERR;
	rc = PQntuples(r) > 0 ? 0 : STORE_NOTFOUND;
	if (rc == 0)
		al_from_row(r, 0, out);
	PQclear(r);
	return rc;
}

int
pg_allowlist_remove(struct store *st, int64_t id)
{
	struct pg_params p = PG_PARAMS_INIT;
	int64_t n;

	pp_int(&p, id);
	if (pg_do(st, SQL_AL_DEL, &p, "removing an allowlist entry", &n) != 0)
		return STORE_ERR;
	return n > 0 ? 0 : STORE_NOTFOUND;
}

int
pg_allowlist_each(struct store *st, int64_t active_at_ms,
    int (*fn)(void *ud, const struct allowlist_entry *e), void *ud)
{
	struct pg_params p = PG_PARAMS_INIT;
	struct allowlist_entry e;
	PGresult *r;
	int i, ret = 0;

	pp_int(&p, active_at_ms);
	if ((r = pg_exec(st, SQL_AL_EACH, &p, "listing the allowlist")) == NULL)
		return STORE_ERR;
	for (i = 0; i < PQntuples(r) && ret == 0; i++) {
		al_from_row(r, i, &e);
		ret = fn(ud, &e);
		allowlist_entry_clear(&e);
	}
	PQclear(r);
	return ret;
}

/* ---------------------------------------------------------------- complaints */

#define FBL_COLS "id, received_ms, status, reporter, user_agent, feedback_type, source_ip, " \
	"arrival_ms, reported_domain, report_message_id, msg_message_id, subscriber, " \
	"attributed_by, attributed_ip, event_id, detail, dedup_key"

static const char SQL_FBL_ADD[] =
    "INSERT INTO fbl_complaints (received_ms, status, reporter, user_agent, feedback_type, "
    "source_ip, arrival_ms, reported_domain, report_message_id, msg_message_id, subscriber, "
    "attributed_by, attributed_ip, event_id, detail, dedup_key) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) "
    "ON CONFLICT (dedup_key) DO NOTHING RETURNING id";
static const char SQL_FBL_EACH[] = "SELECT " FBL_COLS " FROM fbl_complaints "
    "WHERE ($1::text IS NULL OR status = $1::text) AND received_ms >= $2 ORDER BY id LIMIT $3";
static const char SQL_FBL_PRUNE[] = "DELETE FROM fbl_complaints WHERE received_ms < $1";

static const char *
nz(const char *s)
{
	return s != NULL ? s : "";
}

int
pg_fbl_complaint_add(struct store *st, const struct fbl_complaint *c, int64_t *id)
{
	struct pg_params p = PG_PARAMS_INIT;
	PGresult *r;
	int rc;

	pp_int(&p, c->received_ms);
	pp_text(&p, c->status ? c->status : "unattributed");
	pp_text(&p, nz(c->reporter));
	pp_text(&p, nz(c->user_agent));
	pp_text(&p, nz(c->feedback_type));
	pp_text(&p, nz(c->source_ip));
	pp_int(&p, c->arrival_ms);
	pp_text(&p, nz(c->reported_domain));
	pp_text(&p, nz(c->report_message_id));
	pp_text(&p, nz(c->msg_message_id));
	pp_text(&p, nz(c->subscriber));
	pp_text(&p, nz(c->attributed_by));
	pp_text(&p, nz(c->attributed_ip));
	if (c->event_id > 0)
		pp_int(&p, c->event_id);
	else
		pp_text(&p, NULL);
	pp_text(&p, nz(c->detail));
	pp_text(&p, nz(c->dedup_key));
	if ((r = pg_exec(st, SQL_FBL_ADD, &p, "storing a complaint")) == NULL)
		return STORE_ERR;
	rc = PQntuples(r) > 0 ? 0 : STORE_NOTFOUND;
	if (rc == 0 && id != NULL)
		*id = pg_int(r, 0, 0);
	PQclear(r);
	return rc;
}

int
pg_fbl_complaints_each(struct store *st, const char *status, int64_t since_ms, int limit,
    int (*fn)(void *ud, const struct fbl_complaint *c), void *ud)
{
	struct pg_params p = PG_PARAMS_INIT;
	struct fbl_complaint c;
	PGresult *r;
	int i, ret = 0;

	pp_text(&p, status);
	pp_int(&p, since_ms);
	if (limit > 0)
		pp_int(&p, limit);
	else
		pp_text(&p, NULL);
	if ((r = pg_exec(st, SQL_FBL_EACH, &p, "listing complaints")) == NULL)
		return STORE_ERR;
	for (i = 0; i < PQntuples(r) && ret == 0; i++) {
		memset(&c, 0, sizeof c);
		c.id = pg_int(r, i, 0);
		c.received_ms = pg_int(r, i, 1);
		c.status = pg_text(r, i, 2);
		c.reporter = pg_text(r, i, 3);
		c.user_agent = pg_text(r, i, 4);
		c.feedback_type = pg_text(r, i, 5);
		c.source_ip = pg_text(r, i, 6);
		c.arrival_ms = pg_int(r, i, 7);
		c.reported_domain = pg_text(r, i, 8);
		c.report_message_id = pg_text(r, i, 9);
		c.msg_message_id = pg_text(r, i, 10);
		c.subscriber = pg_text(r, i, 11);
		c.attributed_by = pg_text(r, i, 12);
		c.attributed_ip = pg_text(r, i, 13);
		c.event_id = pg_int(r, i, 14);
		c.detail = pg_text(r, i, 15);
		c.dedup_key = pg_text(r, i, 16);
		ret = fn(ud, &c);
	}
	PQclear(r);
	return ret;
}

int
pg_fbl_complaints_prune(struct store *st, int64_t before_ms, int64_t *n)
{
	struct pg_params p = PG_PARAMS_INIT;
	int64_t changed;

	pp_int(&p, before_ms);
	if (pg_do(st, SQL_FBL_PRUNE, &p, "pruning complaints", &changed) != 0)
		return STORE_ERR;
	if (n != NULL)
		*n = changed;
	return 0;
}

/* ---------------------------------------------------------------- logins, leases */

static const char SQL_LOGIN_GET[] =
    "(SELECT subscriber FROM subscriber_logins WHERE login = $1) "
    "UNION ALL (SELECT id FROM subscribers WHERE id = $1) LIMIT 1";
static const char SQL_LOGIN_SET[] =
    "INSERT INTO subscriber_logins (login, subscriber) VALUES ($1, $2) "
    "ON CONFLICT (login) DO UPDATE SET subscriber = excluded.subscriber";
static const char SQL_LEASES_OF[] =
    "SELECT prefix, subscriber, valid_from, valid_to, source FROM leases "
    "WHERE subscriber = $1 ORDER BY valid_from, id";

int
pg_subscriber_by_login(struct store *st, const char *login, char **id)
{
	struct pg_params p = PG_PARAMS_INIT;
	PGresult *r;
	int rc;

	*id = NULL;
	pp_text(&p, login);
	if ((r = pg_exec(st, SQL_LOGIN_GET, &p, "looking up a login")) == NULL)
		return STORE_ERR;
	rc = PQntuples(r) > 0 ? 0 : STORE_NOTFOUND;
	if (rc == 0)
		*id = pg_strdup(r, 0, 0);
	PQclear(r);
	return rc;
}

int
pg_subscriber_login_set(struct store *st, const char *login, const char *subscriber)
{
	struct pg_params p = PG_PARAMS_INIT;

	pp_text(&p, login);
	pp_text(&p, subscriber);
	return pg_do(st, SQL_LOGIN_SET, &p, "storing a login", NULL);
}

int
pg_leases_of(struct store *st, const char *subscriber,
    int (*fn)(void *ud, const struct lease *l), void *ud)
{
	struct pg_params p = PG_PARAMS_INIT;
	struct lease l;
	PGresult *r;
	int i, ret = 0;

	pp_text(&p, subscriber);
	if ((r = pg_exec(st, SQL_LEASES_OF, &p, "listing a subscriber's leases")) == NULL)
		return STORE_ERR;
	for (i = 0; i < PQntuples(r) && ret == 0; i++) {
		memset(&l, 0, sizeof l);
		bs_strlcpy(l.prefix, pg_text(r, i, 0), sizeof l.prefix);
		bs_strlcpy(l.subscriber, pg_text(r, i, 1), sizeof l.subscriber);
		l.valid_from = pg_int(r, i, 2);
		l.valid_to = pg_int(r, i, 3);
		bs_strlcpy(l.source, pg_text(r, i, 4), sizeof l.source);
		ret = fn(ud, &l);
	}
	PQclear(r);
	return ret;
}

/* ---------------------------------------------------------------- statistics */

#define PG_DAY(col) "to_char(to_timestamp(" col " / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"

/* $1 since_ms, $2 now_ms in every query (typed, so that an unused one is fine). */
static const char *const stat_sql[] = {
	[STORE_STAT_INCIDENTS_BY_STATE] =
	    "SELECT state, '', count(*) FROM incidents WHERE opened_ms >= $1::bigint "
	    "AND $2::bigint IS NOT NULL GROUP BY state ORDER BY state",
	[STORE_STAT_INCIDENTS_BY_LEVEL] =
	    "SELECT level::text, '', count(*) FROM incidents WHERE opened_ms >= $1::bigint "
	    "AND $2::bigint IS NOT NULL GROUP BY level ORDER BY level",
	[STORE_STAT_INCIDENTS_BY_KIND] =
	    "SELECT k, '', count(DISTINCT id) FROM incidents, "
	    "unnest(string_to_array(kinds, ',')) AS u(k) WHERE opened_ms >= $1::bigint "
	    "AND $2::bigint IS NOT NULL AND k <> '' GROUP BY k ORDER BY k",
	[STORE_STAT_INCIDENTS_BY_DAY] =
	    "SELECT " PG_DAY("opened_ms") ", '', count(*) FROM incidents "
	    "WHERE opened_ms >= $1::bigint AND $2::bigint IS NOT NULL GROUP BY 1 ORDER BY 1",
	[STORE_STAT_EVENTS_BY_KIND] =
	    "SELECT kind, source, count(*) FROM events WHERE ts_ms >= $1::bigint "
	    "AND $2::bigint IS NOT NULL GROUP BY kind, source ORDER BY kind, source",
	[STORE_STAT_EVENTS_BY_DAY] =
	    "SELECT " PG_DAY("ts_ms") ", kind, count(*) FROM events "
	    "WHERE ts_ms >= $1::bigint AND $2::bigint IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2",
	[STORE_STAT_OPEN_BY_AGE] =
	    "SELECT CASE WHEN $2::bigint - opened_ms < 86400000 THEN '<1d' "
	    " WHEN $2::bigint - opened_ms < 7 * 86400000 THEN '1-7d' "
	    " WHEN $2::bigint - opened_ms < 30 * 86400000::bigint THEN '7-30d' ELSE '>30d' END, "
	    " level::text, count(*) FROM incidents "
	    "WHERE state IN ('open', 'notified', 'acknowledged') AND $1::bigint IS NOT NULL "
	    "GROUP BY 1, 2 ORDER BY min($2::bigint - opened_ms), 2",
	[STORE_STAT_NOTIFICATIONS_BY_STATUS] =
	    "SELECT status, kind, count(*) FROM notifications WHERE created_ms >= $1::bigint "
	    "AND $2::bigint IS NOT NULL GROUP BY status, kind ORDER BY status, kind",
	[STORE_STAT_COMPLAINTS_BY_STATUS] =
	    "SELECT status, feedback_type, count(*) FROM fbl_complaints WHERE received_ms >= $1::bigint "
	    "AND $2::bigint IS NOT NULL GROUP BY status, feedback_type ORDER BY status, feedback_type",
};

int
pg_stats(struct store *st, enum store_stat which, int64_t since_ms, int64_t now_ms,
    int (*fn)(void *ud, const char *key, const char *sub, int64_t n), void *ud)
{
	struct pg_params p = PG_PARAMS_INIT;
	PGresult *r;
	int i, ret = 0;

	if ((size_t)which >= BS_ARRAY_LEN(stat_sql) || stat_sql[which] == NULL)
		return pg_errf(st, "stats: unknown statistic %d", (int)which);
	pp_int(&p, since_ms);
	pp_int(&p, now_ms);
	if ((r = pg_exec(st, stat_sql[which], &p, "computing statistics")) == NULL)
		return STORE_ERR;
	for (i = 0; i < PQntuples(r) && ret == 0; i++)
		ret = fn(ud, pg_text(r, i, 0), pg_text(r, i, 1), pg_int(r, i, 2));
	PQclear(r);
	return ret;
}

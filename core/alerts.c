/*
 * alerts.c: rule verdicts -> alert states -> announcements.
 *
 * The life of one alert (a rule in one scope), per run:
 *
 *   verdict   state before        state after   announced
 *   holds     none / resolved     pending, or firing when the hold is met   FIRING if firing
 *   holds     pending             firing when the hold is met               FIRING then
 *   holds     firing              firing        again after repeat_every
 *   clear     firing              resolved      RESOLVED (once)
 *   clear     pending             none          -
 *   unknown   any                 unchanged     -   (no value, or sample < min_sample)
 *   failed    any                 unchanged     the failure, as a message
 *
 * The hold is a number of consecutive runs (holds >= hold_runs) or a
 * duration (now - since >= hold_seconds).  All state changes of a run are
 * written in one transaction before anything is announced, so a crash
 * can lose an announcement but never repeat one.
 */
#include "alerts.h"
#include "cube.h"
#include "error.h"
#include "i18n.h"
#include "jsonout.h"
#include "timeconv.h"
#include "utf8.h"
#include "vec.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;


/* ---- labels and messages ----------------------------------------------------- */

static const char *id_name(char **names, uint32_t n, int64_t id)
{
	if (id < 0 || (uint64_t)id >= n || names[id] == NULL)
		return NULL;
	return names[id];
}

const char *se_alert_label(const se_alert *a, const char *key)
{
	if (strcmp(key, "rule") == 0)
		return a->rule ? a->rule->name : NULL;
	if (strcmp(key, "severity") == 0)
		return a->rule ? a->rule->severity : NULL;
	if (strcmp(key, "funnel") == 0)
		return a->funnel;
	if (strcmp(key, "manager") == 0)
		return a->manager;
	if (strcmp(key, "source") == 0)
		return a->source;
	for (int i = 0; a->rule && i < a->rule->n_labels; i++)
		if (strcmp(a->rule->label_keys[i], key) == 0)
			return a->rule->label_values[i];
	return NULL;
}

/* Does the rule's number read as a percentage?  The built-in conversion
 * and metrics declared with format = "percent". */
static int is_percent(const se_rules *r, const se_alert_rule *rule)
{
	int m;

	if (rule != NULL && rule->format >= 0)
		return rule->format == SE_FORMAT_PERCENT;
	if (rule == NULL || rule->metric == NULL)
		return 0;
	if (strcmp(rule->metric, "conversion") == 0)
		return 1;
	m = se_rules_metric_index(r, rule->metric);
	return m >= 0 && r->metrics[m].format == SE_FORMAT_PERCENT;
}

/* How a rule's value reads to people (enum se_metric_format): the hooks'
 * value_text.  Built-in money metrics are money; the rest as is_percent. */
static int value_format(const se_rules *r, const se_alert_rule *rule)
{
	static const char *const money[] = { "revenue", "presale_amount", "forecast" };
	int m;

	if (is_percent(r, rule))
		return SE_FORMAT_PERCENT;
	if (rule == NULL || rule->format >= 0 || rule->metric == NULL)
		return rule && rule->format >= 0 ? rule->format : SE_FORMAT_NUMBER;
	for (size_t i = 0; i < sizeof money / sizeof money[0]; i++)
		if (strcmp(rule->metric, money[i]) == 0)
			return SE_FORMAT_MONEY;
	m = se_rules_metric_index(r, rule->metric);
	return m >= 0 ? r->metrics[m].format : SE_FORMAT_NUMBER;
}

/* A value as people read it: a percentage with one decimal, money with
 * two, a count whole (other numbers with two decimals). */
static void people_number(double v, int format, se_lang lang, char *buf, size_t size)
{
	if (format == SE_FORMAT_PERCENT)
		se_fmt_percent(lang, v, buf, size);
	else if (format == SE_FORMAT_MONEY)
		se_fmt_money(lang, v, buf, size);
	else
		se_fmt_fixed(lang, v, v == floor(v) ? 0 : 2, buf, size);
}

static void format_number(double v, int percent, char *buf, size_t size)
{
	if (isnan(v))
		snprintf(buf, size, "-");
	else if (percent)
		snprintf(buf, size, "%.1f%%", v * 100.0);
	else if (v == floor(v) && fabs(v) < 1e15)
		snprintf(buf, size, "%.0f", v);
	else
		snprintf(buf, size, fabs(v) >= 1 ? "%.2f" : "%.3f", v);
}

static const char *const op_names[] = { "<", "<=", ">", ">=", "==", "~=" };

/* Appends text to a growing heap string; returns 0 on out of memory. */
typedef struct sbuf {
	char *s;
	size_t len, cap;
	int nomem;
} sbuf;

static void sb_add(sbuf *b, const char *t, size_t n)
{
	if (b->nomem)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *ns = realloc(b->s, cap);

		if (ns == NULL) {
			b->nomem = 1;
			return;
		}
		b->s = ns;
		b->cap = cap;
	}
	memcpy(b->s + b->len, t, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/* The placeholder {key} of a message template, or NULL when unknown (it
 * is then left as written, so a typo shows). */
static const char *placeholder(const se_rules *r, const se_alert *a, const char *key, char *buf,
                               size_t size)
{
	int pct = is_percent(r, a->rule);

	if (strcmp(key, "value") == 0) {
		format_number(a->value, pct, buf, size);
		return buf;
	}
	if (strcmp(key, "threshold") == 0 && a->rule && a->rule->has_threshold) {
		format_number(a->rule->threshold, pct, buf, size);
		return buf;
	}
	if (strcmp(key, "op") == 0 && a->rule)
		return op_names[a->rule->op];
	if (strcmp(key, "sample") == 0 && a->sample >= 0) {
		snprintf(buf, size, "%lld", (long long)a->sample);
		return buf;
	}
	if (strcmp(key, "metric") == 0 && a->rule && a->rule->metric)
		return a->rule->metric;
	if (strcmp(key, "state") == 0)
		return a->state;
	if (strcmp(key, "manager") == 0 || strcmp(key, "source") == 0 || strcmp(key, "funnel") == 0)
		return se_alert_label(a, key) ? se_alert_label(a, key) : "all";
	return se_alert_label(a, key);
}

static char *render_message(const se_rules *r, const se_alert *a)
{
	const char *tpl = a->rule && a->rule->message ? a->rule->message
	                  : a->rule && a->rule->has_threshold ? "{rule}: {value} {op} {threshold}"
	                                                      : "{rule}: {value}";
	sbuf b = { NULL, 0, 0, 0 };

	sb_add(&b, "", 0);
	for (const char *p = tpl; *p;) {
		const char *close = *p == '{' ? strchr(p, '}') : NULL;
		char key[64], buf[64];
		const char *v = NULL;

		if (close != NULL && (size_t)(close - p - 1) < sizeof key) {
			snprintf(key, sizeof key, "%.*s", (int)(close - p - 1), p + 1);
			v = placeholder(r, a, key, buf, sizeof buf);
		}
		if (v == NULL) {
			sb_add(&b, p, 1);
			p++;
			continue;
		}
		sb_add(&b, v, strlen(v));
		p = close + 1;
	}
	if (b.nomem) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

/* ---- the state machine --------------------------------------------------------------- */

static void scope_key(se_alert *a)
{
	snprintf(a->scope, sizeof a->scope, "funnel=%s%s%s%s%s", a->funnel ? a->funnel : "",
	         a->manager ? ";manager=" : "", a->manager ? a->manager : "",
	         a->source ? ";source=" : "", a->source ? a->source : "");
}

static int hold_met(const se_alert_rule *rule, const se_alert_state *s, int64_t now)
{
	if (rule->hold_seconds > 0)
		return now - s->since >= rule->hold_seconds;
	return s->holds >= rule->hold_runs;
}

/* Advances one alert; writes its new state to the store. */
static int advance(se_store *st, se_alert *a, int64_t now, se_error *err)
{
	const se_alert_rule *rule = a->rule;
	se_alert_state s;
	int found, rc;

	if ((rc = se_store_alert_get(st, rule->name, a->scope, &s, &found, err)) != SE_OK)
		return rc;
	if (!found)
		s.state[0] = '\0';
	snprintf(a->state, sizeof a->state, "%s", s.state);
	a->since = s.since;
	if (a->status == SE_RULE_UNKNOWN || a->status == SE_RULE_FAILED)
		return SE_OK;
	if (a->status == SE_RULE_CLEAR) {
		if (strcmp(s.state, "firing") == 0) {
			snprintf(s.state, sizeof s.state, "resolved");
			s.changed = now;
			s.holds = 0;
			s.value = a->value;
			s.notified = now;
			a->announce = SE_ANNOUNCE_RESOLVED;
			snprintf(a->state, sizeof a->state, "resolved");
			return se_store_alert_put(st, rule->name, a->scope, &s, err);
		}
		if (strcmp(s.state, "pending") == 0) {
			a->state[0] = '\0';
			return se_store_alert_delete(st, rule->name, a->scope, err);
		}
		if (strcmp(s.state, "resolved") == 0)
			a->state[0] = '\0'; /* announced before: quiet now */
		return SE_OK;
	}
	/* Holds. */
	if (strcmp(s.state, "pending") != 0 && strcmp(s.state, "firing") != 0) {
		snprintf(s.state, sizeof s.state, "pending");
		s.since = s.changed = now;
		s.holds = 0;
		s.notified = 0;
	}
	s.holds++;
	s.value = a->value;
	if (strcmp(s.state, "pending") == 0 && hold_met(rule, &s, now)) {
		snprintf(s.state, sizeof s.state, "firing");
		s.changed = now;
		s.notified = now;
		a->announce = SE_ANNOUNCE_FIRING;
	} else if (strcmp(s.state, "firing") == 0 && rule->repeat_seconds > 0 &&
	           now - s.notified >= rule->repeat_seconds) {
		s.notified = now;
		a->announce = SE_ANNOUNCE_REPEAT;
	}
	snprintf(a->state, sizeof a->state, "%s", s.state);
	a->since = s.since;
	return se_store_alert_put(st, rule->name, a->scope, &s, err);
}

static int fill_alert(const se_report *rep, const se_rule_result *res, se_alert *a)
{
	const se_rules *r = rep->rules;

	memset(a, 0, sizeof *a);
	a->rule = res->rule >= 0 ? &r->alerts[res->rule] : NULL;
	a->funnel = res->funnel >= 0 ? r->funnels[res->funnel].name : NULL;
	a->manager = id_name(rep->managers, rep->n_manager, res->manager);
	a->source = id_name(rep->sources, rep->n_source, res->source);
	a->status = res->status;
	a->value = res->value;
	a->sample = res->sample;
	scope_key(a);
	if (res->status == SE_RULE_FAILED)
		a->message = strdup(res->message);
	return res->status == SE_RULE_FAILED && a->message == NULL ? SE_ENOMEM : SE_OK;
}

int se_alerts_evaluate(se_script *sc, se_store *st, const se_report *rep, se_alert_run *run,
                       se_error *err)
{
	se_rule_result *res = NULL;
	size_t n = 0;
	int rc;

	memset(run, 0, sizeof *run);
	run->now = rep->as_of;
	if ((rc = se_script_eval_rules(sc, rep, &res, &n, err)) != SE_OK)
		return rc;
	if (n > 0 && (run->v = calloc(n, sizeof *run->v)) == NULL) {
		free(res);
		return se_error_set(err, SE_ENOMEM, "out of memory");
	}
	if ((rc = se_store_begin(st, err)) != SE_OK)
		goto out;
	for (size_t i = 0; i < n && rc == SE_OK; i++) {
		se_alert *a = &run->v[run->n++];

		if ((rc = fill_alert(rep, &res[i], a)) != SE_OK) {
			se_error_set(err, rc, "out of memory");
			break;
		}
		if (a->rule != NULL && (rc = advance(st, a, run->now, err)) == SE_OK &&
		    a->status != SE_RULE_FAILED && (a->message = render_message(rep->rules, a)) == NULL)
			rc = se_error_set(err, SE_ENOMEM, "out of memory");
	}
	if (rc == SE_OK)
		rc = se_store_commit(st, err);
	else
		se_store_rollback(st);
out:
	free(res);
	return rc;
}

void se_alerts_free(se_alert_run *run)
{
	for (size_t i = 0; i < run->n; i++)
		free(run->v[i].message);
	free(run->v);
	memset(run, 0, sizeof *run);
}

/* ---- announcing ------------------------------------------------------------------------ */

static const char *announce_name(int announce)
{
	switch (announce) {
	case SE_ANNOUNCE_FIRING: return "firing";
	case SE_ANNOUNCE_REPEAT: return "firing_again";
	case SE_ANNOUNCE_RESOLVED: return "resolved";
	default: return "none";
	}
}

static void json_num(FILE *out, double v)
{
	if (isnan(v) || !isfinite(v))
		fputs("null", out);
	else
		se_json_number(out, v);
}

/* What a hook reads besides the printed object: the value's format and
 * the value and threshold as people read them, in the run's language. */
typedef struct hook_text {
	int format;          /* enum se_metric_format */
	se_lang lang;
} hook_text;

/* One alert as a JSON object on one line (also what a hook reads; with
 * hook set, plus "format", "value_text" and "threshold_text"). */
static void write_json_alert(FILE *out, const se_alert *a, int64_t now, const hook_text *hook)
{
	char t[32];

	se_time_format_utc(now, t, sizeof t);
	fputs("{\"event\": ", out);
	se_json_string(out, a->status == SE_RULE_FAILED ? "failed" : a->announce ? announce_name(a->announce)
	                                                                   : a->state);
	fprintf(out, ", \"at\": \"%s\", \"rule\": ", t);
	if (a->rule)
		se_json_string(out, a->rule->name);
	else
		fputs("null", out);
	if (a->rule) {
		fputs(", \"severity\": ", out);
		se_json_string(out, a->rule->severity);
	}
	fputs(", \"labels\": {", out);
	{
		int first = 1;
		const char *keys[] = { "funnel", "manager", "source" };

		for (int i = 0; i < 3; i++)
			if (se_alert_label(a, keys[i])) {
				fprintf(out, "%s\"%s\": ", first ? "" : ", ", keys[i]);
				se_json_string(out, se_alert_label(a, keys[i]));
				first = 0;
			}
		for (int i = 0; a->rule && i < a->rule->n_labels; i++) {
			fputs(first ? "" : ", ", out);
			se_json_string(out, a->rule->label_keys[i]);
			fputs(": ", out);
			se_json_string(out, a->rule->label_values[i]);
			first = 0;
		}
	}
	fputs("}, \"value\": ", out);
	json_num(out, a->value);
	fputs(", \"threshold\": ", out);
	json_num(out, a->rule && a->rule->has_threshold ? a->rule->threshold : NAN);
	fputs(", \"sample\": ", out);
	if (a->sample >= 0)
		fprintf(out, "%lld", (long long)a->sample);
	else
		fputs("null", out);
	if (a->since > 0) {
		se_time_format_utc(a->since, t, sizeof t);
		fprintf(out, ", \"since\": \"%s\"", t);
	}
	fputs(", \"message\": ", out);
	se_json_string(out, a->message ? a->message : "");
	if (hook != NULL) {
		static const char *const formats[] = { "number", "percent", "money" };
		char v[SE_FMT_SIZE];

		fprintf(out, ", \"format\": \"%s\", \"value_text\": ", formats[hook->format]);
		people_number(a->value, hook->format, hook->lang, v, sizeof v);
		se_json_string(out, isnan(a->value) ? "" : v);
		fputs(", \"threshold_text\": ", out);
		if (a->rule && a->rule->has_threshold) {
			people_number(a->rule->threshold, hook->format, hook->lang, v, sizeof v);
			se_json_string(out, v);
		} else {
			fputs("null", out);
		}
	}
	fputs("}\n", out);
}

static void write_line_alert(FILE *out, const se_alert *a)
{
	const char *what = a->announce == SE_ANNOUNCE_RESOLVED ? "RESOLVED"
	                   : a->announce != SE_ANNOUNCE_NONE   ? "FIRING"
	                   : strcmp(a->state, "firing") == 0  ? "firing"
	                                                       : "pending";

	/* Names and the message come from the data: shown with their control
	 * characters escaped, so a manager called "x\nRESOLVED ..." cannot
	 * print a line of its own. */
	const char *text[4] = { a->funnel ? a->funnel : "", a->manager, a->source,
		                a->message ? a->message : "" };
	char *scratch[4] = { NULL, NULL, NULL, NULL };
	size_t cap[4] = { 0, 0, 0, 0 };

	for (int i = 0; i < 4; i++)
		if (text[i] != NULL)
			text[i] = se_utf8_visible(text[i], &scratch[i], &cap[i]);
	fprintf(out, "%-8s [%s] %s (%s%s%s%s%s): %s\n", what, a->rule->severity, a->rule->name, text[0],
	        text[1] ? ", manager " : "", text[1] ? text[1] : "", text[2] ? ", source " : "",
	        text[2] ? text[2] : "", text[3]);
	for (int i = 0; i < 4; i++)
		free(scratch[i]);
}

/* A message for the caller (the library never prints). */
static void say(const se_alert_opts *opts, const char *fmt, ...) SE_PRINTF(2, 3);
static void say(const se_alert_opts *opts, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	if (opts->on_message == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	opts->on_message(opts->ud, msg);
}

static double monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Feeds the hook its input without ever blocking: the pipe is
 * non-blocking and each write waits in poll() no longer than the time
 * left, so a hook that never reads cannot hold us past the deadline.
 * Returns when everything is written, the hook stopped reading, or the
 * deadline passed. */
static void feed_hook(int fd, const char *buf, size_t len, pid_t pid, double deadline,
                      int *status, int *exited)
{
	size_t done = 0;

	while (done < len && !*exited) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		double left = deadline - monotonic_ms();
		ssize_t n;

		if (left <= 0)
			return;
		/* Short waits: a hook that exits without reading is noticed. */
		if (poll(&p, 1, left < 50 ? (int)left + 1 : 50) < 0 && errno != EINTR)
			return;
		if (waitpid(pid, status, WNOHANG) == pid) {
			*exited = 1;
			return;
		}
		if (!(p.revents & (POLLOUT | POLLERR | POLLHUP)))
			continue;
		n = write(fd, buf + done, len - done);
		if (n > 0)
			done += (size_t)n;
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			return; /* EPIPE: the hook closed its input */
	}
}

/* Runs a rule's command with the alert as JSON on its stdin: argv as
 * declared, never a shell, in a process group of its own, killed with
 * that group when the timeout passes whatever it is doing (reading, not
 * reading, or having started children). */
static void run_hook(const se_alert_opts *opts, const se_alert *a, int64_t now,
                     const hook_text *text)
{
	int timeout_ms = opts->hook_timeout_ms > 0 ? opts->hook_timeout_ms
	                                           : SE_ALERT_DEFAULT_HOOK_TIMEOUT_MS;
	int fds[2] = { -1, -1 };
	pid_t pid;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	void (*old_pipe)(int);
	char *json = NULL;
	size_t json_len = 0;
	FILE *mem;
	double deadline;
	int status = 0, exited = 0, spawned;

	/* The input is built first, so writing it is only a matter of time. */
	if ((mem = open_memstream(&json, &json_len)) == NULL) {
		say(opts, "rule '%s': command: %s", a->rule->name, strerror(errno));
		return;
	}
	write_json_alert(mem, a, now, text);
	if (fclose(mem) != 0) {
		say(opts, "rule '%s': command: out of memory", a->rule->name);
		free(json);
		return;
	}
	if (pipe(fds) != 0) {
		say(opts, "rule '%s': command: %s", a->rule->name, strerror(errno));
		free(json);
		return;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[0], STDIN_FILENO);
	posix_spawn_file_actions_addclose(&fa, fds[1]);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&attr, 0);
	spawned = posix_spawnp(&pid, a->rule->command[0], &fa, &attr, a->rule->command, environ) == 0;
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[0]);
	if (!spawned) {
		say(opts, "rule '%s': cannot run %s", a->rule->name, a->rule->command[0]);
		close(fds[1]);
		free(json);
		return;
	}
	deadline = monotonic_ms() + timeout_ms;
	/* A hook that does not read its input must not kill us with SIGPIPE. */
	old_pipe = signal(SIGPIPE, SIG_IGN);
	if (fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK) == 0)
		feed_hook(fds[1], json, json_len, pid, deadline, &status, &exited);
	close(fds[1]);
	signal(SIGPIPE, old_pipe);
	free(json);
	while (!exited && monotonic_ms() < deadline) {
		struct timespec ts = { 0, 10 * 1000000L };

		if (waitpid(pid, &status, WNOHANG) == pid)
			exited = 1;
		else
			nanosleep(&ts, NULL);
	}
	if (!exited) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		say(opts, "rule '%s': command %s killed after %g s", a->rule->name, a->rule->command[0],
		    timeout_ms / 1000.0);
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		say(opts, "rule '%s': command %s failed (status %d)", a->rule->name,
		    a->rule->command[0], WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	}
}

static void count(se_alert_summary *sum, const se_alert *a)
{
	if (a->status == SE_RULE_FAILED)
		sum->failed++;
	else if (strcmp(a->state, "firing") == 0)
		sum->firing++;
	else if (strcmp(a->state, "pending") == 0)
		sum->pending++;
	if (a->announce == SE_ANNOUNCE_FIRING)
		sum->fired++;
	else if (a->announce == SE_ANNOUNCE_RESOLVED)
		sum->resolved++;
}

int se_alerts_run(se_script *sc, se_store *st, const se_report *rep, const se_alert_opts *opts,
                  FILE *out, se_alert_summary *sum, se_error *err)
{
	se_alert_run run;
	int rc, warned_hooks = 0;

	memset(sum, 0, sizeof *sum);
	if ((rc = se_alerts_evaluate(sc, st, rep, &run, err)) != SE_OK)
		return rc;
	for (size_t i = 0; i < run.n; i++) {
		const se_alert *a = &run.v[i];
		int listed = a->announce != SE_ANNOUNCE_NONE ||
		             (opts->all && a->status != SE_RULE_FAILED && a->state[0] != '\0' &&
		              strcmp(a->state, "resolved") != 0);

		count(sum, a);
		if (a->status == SE_RULE_FAILED)
			say(opts, "%s", a->message);
		if (opts->format == SE_OUTPUT_JSON && (listed || a->status == SE_RULE_FAILED))
			write_json_alert(out, a, run.now, NULL);
		else if (listed)
			write_line_alert(out, a);
		if (a->announce == SE_ANNOUNCE_NONE || a->rule->command == NULL)
			continue;
		if (opts->allow_commands) {
			hook_text text = { value_format(se_script_rules(sc), a->rule),
			                   opts->language == SE_LANG_RU ? SE_LANG_RU : SE_LANG_EN };

			run_hook(opts, a, run.now, &text);
		}
		else if (!warned_hooks++)
			say(opts, "rule '%s' has a command; pass --allow-commands to run "
			        "command hooks", a->rule->name);
	}
	se_alerts_free(&run);
	if (fflush(out) != 0 || ferror(out))
		return se_error_set(err, SE_EIO, "writing alerts failed");
	return SE_OK;
}

/* ---- firing now, for the digest and the page ------------------------------------------ */

typedef struct firing_list {
	se_firing_alert *v;
	size_t n, cap;
} firing_list;

static int add_firing(void *ud, const char *rule, const char *scope, int64_t since, double value)
{
	firing_list *l = ud;

	if (SE_VEC_RESERVE(l->v, l->cap, l->n + 1, 16) != SE_OK)
		return SE_ENOMEM;
	l->v[l->n].rule = strdup(rule ? rule : "");
	l->v[l->n].scope = strdup(scope ? scope : "");
	l->v[l->n].since = since;
	l->v[l->n].value = value;
	if (l->v[l->n].rule == NULL || l->v[l->n].scope == NULL) {
		free(l->v[l->n].rule);
		free(l->v[l->n].scope);
		return SE_ENOMEM;
	}
	l->n++;
	return SE_OK;
}

int se_alerts_firing(se_store *st, se_firing_alert **out, size_t *n, se_error *err)
{
	firing_list l = { NULL, 0, 0 };
	int rc = se_store_alert_each_firing(st, add_firing, &l, err);

	if (rc == SE_ENOMEM)
		se_error_set(err, rc, "out of memory reading alert state");
	if (rc != SE_OK) {
		se_firing_free(l.v, l.n);
		*out = NULL;
		*n = 0;
		return rc;
	}
	*out = l.v;
	*n = l.n;
	return SE_OK;
}

void se_firing_free(se_firing_alert *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].rule);
		free(v[i].scope);
	}
	free(v);
}

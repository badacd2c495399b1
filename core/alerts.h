/*
 * alerts.h: alert rules' state machine and announcements.
 *
 * Owns: turning the script's verdicts (script.h) into alerts with a state
 * kept in the store across runs (pending until the rule's hold is met,
 * firing, resolved), deciding what to announce (a newly firing alert once,
 * again after repeat_every, its resolution once), rendering messages,
 * writing announcements as lines or JSON lines, and running command hooks
 * (argv, JSON on stdin, never a shell) when allowed.
 *
 * Never: evaluates Lua (the Lua host does) or computes a number.
 */
#ifndef SE_ALERTS_H
#define SE_ALERTS_H

#include "script.h"
#include "store.h"

enum se_announce { SE_ANNOUNCE_NONE = 0, SE_ANNOUNCE_FIRING, SE_ANNOUNCE_REPEAT, SE_ANNOUNCE_RESOLVED };

/* One rule in one scope after this run. */
typedef struct se_alert {
	const se_alert_rule *rule;   /* NULL for a rules file that failed to load */
	const char *funnel, *manager, *source; /* names; NULL when the scope is all */
	char scope[512];             /* the state key: "funnel=...;manager=..." */
	int status;                  /* enum se_rule_status of this evaluation */
	char state[16];              /* "pending", "firing", "resolved", or "" (inactive) */
	int announce;                /* enum se_announce */
	double value;
	int64_t sample, since;
	char *message;               /* rendered; the failure for SE_RULE_FAILED */
} se_alert;

typedef struct se_alert_run {
	se_alert *v;
	size_t n;
	int64_t now;
} se_alert_run;

/* Evaluates and advances every alert; the store keeps their state. */
int se_alerts_evaluate(se_script *sc, se_store *st, const se_report *rep, se_alert_run *run,
                       se_error *err);
void se_alerts_free(se_alert_run *run);

/* The label value of an alert: rule, severity, funnel, manager, source or
 * one of the rule's labels; NULL when it has none. */
const char *se_alert_label(const se_alert *a, const char *key);

#endif

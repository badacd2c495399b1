/*
 * rules.h: what a script declares, as plain C data.
 *
 * Owns: the funnel model (ordered stages, aliases, lost and non-target
 * statuses, pre-sale flags, pipelines, conversion pairs) and the report
 * settings.  The Lua host (core/lua/) fills it while the script loads and validates every
 * piece with the script's line numbers; counting and reports only read it.
 *
 * Never: holds a lua_State or anything that points into one.
 */
#ifndef SE_RULES_H
#define SE_RULES_H

#include "salesengine.h"
#include "strmap.h"

#define SE_MAX_STAGES 64
#define SE_MAX_FUNNELS 32

/* What a status name means in a funnel, packed in the strmap's value:
 * class in the high bits, stage index in the low 16 bits. */
enum se_status_class {
	SE_CLASS_UNKNOWN = 0,
	SE_CLASS_STAGE = 1,
	SE_CLASS_LOST = 2,
	SE_CLASS_NONTARGET = 3
};
#define SE_STATUS_CODE(cls, stage) (((int64_t)(cls) << 16) | (int64_t)(stage))
#define SE_STATUS_CLASS(code) ((int)((code) >> 16))
#define SE_STATUS_STAGE(code) ((int)((code) & 0xFFFF))

typedef struct se_stage {
	char *name;
	int presale;
	double probability;  /* forecast (a): chance to win from here; < 0 = not set */
} se_stage;

typedef struct se_pair {
	int from, to;       /* stage indexes, from < to */
	se_mode mode;       /* SE_MODE_DEFAULT: the report's mode */
	int64_t window;     /* seconds; 0 = no window */
	int extra;          /* declared in pairs{}, not an adjacent step */
} se_pair;

typedef struct se_funnel {
	char *name;
	se_stage stages[SE_MAX_STAGES];
	int n_stages;
	int won;              /* index of the won stage */
	char **pipelines;     /* empty: events of any pipeline resolve here */
	int n_pipelines;
	se_strmap *statuses;  /* status name -> SE_STATUS_CODE */
	se_pair *pairs;       /* adjacent steps first, then the extra pairs */
	int n_pairs;
} se_funnel;

/* How a custom metric's values are printed. */
enum se_metric_format {
	SE_FORMAT_NUMBER = 0, /* up to two decimals */
	SE_FORMAT_PERCENT,    /* a ratio printed as a percentage */
	SE_FORMAT_MONEY       /* two decimals */
};

/* metric{}: the function itself stays in the script (the Lua host keeps it by
 * the metric's index). */
typedef struct se_metric_decl {
	char *name;
	char *title;          /* column header; the name when not given */
	int format;           /* enum se_metric_format */
	int funnel;           /* index, or -1 for every funnel */
} se_metric_decl;

enum se_scope_kind {
	SE_SCOPE_TEAM = 0,    /* once per funnel, all managers and sources */
	SE_SCOPE_MANAGER,     /* once per manager with data, per funnel */
	SE_SCOPE_SOURCE,      /* once per source with data, per funnel */
	SE_SCOPE_FUNNEL       /* like team; says the funnel is the subject */
};

enum se_rule_window {
	SE_WINDOW_CURRENT = 0, /* the period bucket holding "now" */
	SE_WINDOW_PREVIOUS,    /* the bucket before it (a completed week, month) */
	SE_WINDOW_ALL          /* the whole report range */
};

enum se_compare { SE_CMP_LT = 0, SE_CMP_LE, SE_CMP_GT, SE_CMP_GE, SE_CMP_EQ, SE_CMP_NE };

/* rule{}: an alert rule.  The condition is either a metric (a built-in
 * name or a metric{} name) compared with a threshold, or a Lua function
 * kept by the Lua host by the rule's index. */
typedef struct se_alert_rule {
	char *name;
	char *where;          /* "file:line" of the declaration */
	int scope;            /* enum se_scope_kind */
	int funnel;           /* index, or -1 for every funnel */
	int window;           /* enum se_rule_window */
	char *metric;         /* NULL when the condition is a function */
	char *from, *to;      /* stages of the built-in "conversion" metric */
	se_mode mode;         /* counting mode of the rule's numbers; DEFAULT: the report's */
	int64_t within;       /* "conversion": the pair's window in seconds; -1: the plain pair */
	int format;           /* enum se_metric_format for {value}; -1: from the metric */
	int op;               /* enum se_compare */
	double threshold;
	int has_threshold;
	int64_t min_sample;   /* below it the rule stays silent */
	int hold_runs;        /* consecutive evaluations before firing (>= 1) */
	int64_t hold_seconds; /* or: held this long before firing (0 = by runs) */
	int64_t repeat_seconds; /* announce a firing alert again after this; 0 = never */
	char *severity;
	char **label_keys, **label_values;
	int n_labels;
	char *message;        /* template: {manager} {source} {funnel} {value} ... */
	char **command;       /* argv of the hook, NULL-terminated; NULL = none */
} se_alert_rule;
/* Ad spend of one source in one calendar month (docs/METRICS.md 4j). */
typedef struct se_spend {
	char *source;
	int64_t month;         /* year * 12 + month - 1 */
	int64_t kopecks;
} se_spend;

#define SE_DEFAULT_SLA 86400        /* seconds at the first stage before "unprocessed" */
#define SE_DEFAULT_STALE_MULTIPLE 3.0
#define SE_DEFAULT_SHRINKAGE 10.0   /* prior strength, in closed deals */
#define SE_DEFAULT_HORIZON (30 * 86400) /* time-aware forecast: revenue won within it */

struct se_rules {
	se_funnel funnels[SE_MAX_FUNNELS];
	int n_funnels;
	se_metric_decl *metrics;
	int n_metrics;
	se_alert_rule *alerts;
	int n_alerts;
	char *timezone;        /* report zone, NULL = UTC */
	char *input_timezone;  /* zone for naive import times, NULL = UTC */
	se_mode mode;
	se_period period;
	int64_t sla;           /* seconds; 0 = SE_DEFAULT_SLA */
	double stale_multiple; /* 0 = SE_DEFAULT_STALE_MULTIPLE */
	double shrinkage;      /* < 0 = SE_DEFAULT_SHRINKAGE */
	int64_t horizon;       /* seconds; 0 = SE_DEFAULT_HORIZON */
	se_spend *spend;       /* settings{spend=} and --spend rows, in the order given */
	size_t n_spend;
	se_colmap *columns;    /* columns{}: an export's header names, NULL = none */
	se_script_defaults defaults; /* settings{reports, format, language}: the command line's */
};

se_rules *se_rules_new(void);
void se_rules_free(se_rules *r);

/* Adds funnel; the funnel's fields are then filled in place. */
se_funnel *se_rules_add_funnel(se_rules *r, const char *name);
/* Finds a stage by its name or an alias; -1 when unknown. */
int se_funnel_stage_index(const se_funnel *f, const char *name);
/* Appends the adjacent pairs (0->1, 1->2, ...) before any extra pair. */
int se_funnel_add_adjacent_pairs(se_funnel *f);
int se_funnel_add_pair(se_funnel *f, const se_pair *p);

/* Appends a metric / an alert rule (copied shallowly: the rules own the
 * strings from then on).  0 or SE_ENOMEM. */
int se_rules_add_metric(se_rules *r, const se_metric_decl *m);
int se_rules_add_alert(se_rules *r, const se_alert_rule *a);
void se_alert_rule_clear(se_alert_rule *a);
/* Index of a metric{} by name, or -1. */
int se_rules_metric_index(const se_rules *r, const char *name);
/* Appends one spend row (the source name is copied); amounts of the same
 * source and month add up. */
int se_rules_add_spend(se_rules *r, const char *source, int64_t month, int64_t kopecks);
/* The same on any spend list (the report merges the script's and a file's). */
int se_spend_add(se_spend **v, size_t *n, const char *source, int64_t month, int64_t kopecks);
/* "2025-01" -> 2025 * 12 + 0; SE_EUSAGE when not a month. */
int se_parse_month(const char *s, int64_t *month);
/* Effective settings: the script's, else the defaults above. */
int64_t se_rules_sla(const se_rules *r);
double se_rules_stale_multiple(const se_rules *r);
double se_rules_shrinkage(const se_rules *r);
int64_t se_rules_horizon(const se_rules *r);

const char *se_mode_name(se_mode m);
const char *se_period_name(se_period p);

#endif

/*
 * salesengine.h: the one public header of salesengine.
 *
 * Data flows one way:
 *
 *   readers (CSV, JSON Lines) --se_import_file--> event store (SQLite)
 *   event store --se_report_build + rules from a Lua script--> report
 *   report --se_report_write--> table / CSV / JSON
 *
 * Every handle is opaque.  Every function that can fail returns 0 on success
 * or a negative SE_E* code, and writes a message into a caller-owned
 * se_error; nothing in the library prints (except the optional progress
 * line an import is asked for) or exits.
 */
#ifndef SALESENGINE_H
#define SALESENGINE_H

#include <stdint.h>
#include <stdio.h>

#define SE_VERSION "0.1.0"

enum se_code {
	SE_OK = 0,
	SE_ERR = -1,      /* anything not listed below */
	SE_ENOMEM = -2,   /* out of memory */
	SE_EIO = -3,      /* reading or writing a file */
	SE_EDB = -4,      /* SQLite said no */
	SE_ESCRIPT = -5,  /* the Lua script is wrong */
	SE_EINPUT = -6,   /* malformed input data */
	SE_ELIMIT = -7,   /* a sandbox limit was hit */
	SE_EUSAGE = -8    /* a bad option value */
};

typedef struct se_error {
	int code;
	char msg[1024];
} se_error;

/* ---- time zones -------------------------------------------------------- */

typedef struct se_tz se_tz;

/* ---- the event store ---------------------------------------------------- */

typedef struct se_store se_store;

enum se_store_flags {
	/* Report only: opened with SQLITE_OPEN_READONLY, never writes, so a
	 * read-only file can be reported on (when not even the -wal and -shm
	 * files beside it can be made, it is opened as immutable).  A stale or
	 * corrupt history cache is an error then: open it writable to fix it. */
	SE_STORE_READONLY = 1
};

/* Opens (creating when missing) the SQLite file at path. */
int se_store_open(se_store **out, const char *path, unsigned flags, se_error *err);
void se_store_close(se_store *st);

/* Where the store sends warnings (a corrupt history cache it rebuilt from
 * the events): fn gets one message per warning.  None set: dropped. */
void se_store_on_warning(se_store *st, void (*fn)(void *ud, const char *message), void *ud);

/* Brings the per-deal history cache up to date with the events table.  Import
 * does this itself; it is exposed for recovery after an interrupted import. */
int se_store_refresh(se_store *st, se_error *err);

/* Commits what an import with hold_last left open (and what was written
 * since); nothing when nothing is held.  Closing the store without it
 * rolls that back. */
int se_store_release(se_store *st, se_error *err);

/* ---- import ------------------------------------------------------------ */

typedef struct se_colmap se_colmap;

typedef enum se_input_format {
	SE_INPUT_AUTO = 0, /* by extension: .jsonl, .ndjson or .json is JSON Lines, else CSV */
	SE_INPUT_CSV,
	SE_INPUT_JSONL
} se_input_format;

typedef struct se_import_opts {
	se_input_format format;
	int delimiter;             /* CSV: ',', ';', '\t', or 0 to detect */
	const se_tz *zone;         /* for timestamps without an offset; NULL = UTC */
	int batch_rows;            /* rows per transaction; 0 = 100000 */
	/* Called at most four times a second while a file is read, and once
	 * with done set at its end (to clear a progress line); percent is -1
	 * when the size is unknown (a pipe).  NULL: no progress. */
	void (*on_progress)(void *ud, const char *file, long long rows, double percent, int done);
	/* Called once per rejected row with "file:line: column: reason".  NULL:
	 * rejections are only counted. */
	void (*on_reject)(void *ud, const char *message);
	void *ud;
	const char *encoding;      /* of the input files (iconv name, e.g. "cp1251"); NULL = UTF-8 */
	/* CSV: the export's own column names for the canonical fields
	 * (columns{} of the rules script: se_rules_columns); NULL = the
	 * canonical names. */
	const se_colmap *columns;
	/* CSV and JSON Lines files (se_import_file): the last commit and the
	 * cache refresh are left open for se_store_release(), so what the
	 * caller writes next (a report's kept partial counts) commits with
	 * the last events.  Ignored past 1,000,000 rows read: the refresh
	 * then commits as it goes, to bound the WAL. */
	int hold_last;
	/* Import adapters only (se_import_with): */
	const char *snapshot_time; /* when the inputs were taken; NULL = the date in each file's name */
} se_import_opts;

typedef struct se_import_stats {
	int64_t read;        /* data rows seen (header excluded) */
	int64_t imported;    /* new events stored */
	int64_t duplicates;  /* rows whose event_id was already stored */
	int64_t rejected;    /* malformed rows, each reported */
	int64_t records;     /* se_import_with: input records the adapter saw */
	int64_t not_utf8;    /* of the rejected, those for text that is not UTF-8 */
	/* hold_last: of imported + duplicates, the rows of the commit left
	 * open; they are stored only if se_store_release() succeeds, so a
	 * caller whose release fails tells the user they were not. */
	int64_t held;
} se_import_stats;

/* Imports one file ("-" is stdin).  Good rows are stored in batches, each in
 * its own transaction, so an interruption keeps every committed batch and a
 * rerun completes the rest; read == imported + duplicates + rejected always.
 * Returns 0 even when rows were rejected (see stats); an error return means
 * the file could not be read or stored, and stats say how far it got. */
int se_import_file(se_store *st, const char *path, const se_import_opts *opts,
                   se_import_stats *stats, se_error *err);

typedef struct se_script_limits se_script_limits;

/* Imports files through an adapter: a Lua module that turns a CRM's own
 * records (JSON API dumps, CSV exports) into canonical events
 * (docs/IMPORTERS.md).  adapter is a name ("bluesales": the bundled
 * scripts/importers/bluesales.lua) or a path to a .lua file.  All files go
 * through one run of the adapter, in order (a two-table export: leads, then
 * deals).  Emitted events are checked and stored exactly like the canonical
 * import's rows; for adapters "read" counts emitted events plus records the
 * adapter failed on, and read == imported + duplicates + rejected still
 * holds.  A failing record is reported as "file:record N: adapter.lua:LINE:
 * message" and the rest go on. */
int se_import_with(se_store *st, const char *adapter, const char *const *files, int n_files,
                   const se_import_opts *opts, const se_script_limits *limits,
                   se_import_stats *stats, se_error *err);

/* Fetches new data from a CRM's HTTP API and imports it through the CRM's
 * bundled adapter with the same checks and dedup as files (docs/IMPORTERS.md,
 * core/sync/).  Credentials come from SALESENGINE_<CRM>_* environment
 * variables or an owner-only config file, never from arguments. */
typedef struct se_sync_opts {
	const char *crm;                  /* bluesales, amocrm, bitrix24, pipedrive, hubspot */
	const se_import_opts *import;     /* on_reject, zone: as for se_import_with */
	const se_script_limits *limits;
	int64_t now;                      /* 0: the clock (the window's end; BlueSales' snapshot) */
	/* Progress and retries, one line each; may be NULL. */
	void (*note)(void *ud, const char *msg);
	void *ud;
} se_sync_opts;

int se_sync(se_store *st, const se_sync_opts *opts, se_import_stats *stats, se_error *err);

/* ---- rules: a Lua script describing funnels ------------------------------ */

typedef struct se_script se_script;
typedef struct se_rules se_rules;

struct se_script_limits {
	uint64_t instructions;  /* VM instructions per call into the script; 0 = default */
	size_t memory;          /* bytes the script may hold; 0 = default */
	double seconds;         /* wall-clock seconds per call into the script; 0 = default */
	/* Where the script's print() goes: one call per print, the text with
	 * its newline.  NULL: discarded (the library never prints). */
	void (*on_print)(void *ud, const char *text, size_t len);
	void *print_ud;
};

#define SE_SCRIPT_DEFAULT_INSTRUCTIONS 50000000u
#define SE_SCRIPT_DEFAULT_MEMORY (64u << 20)
#define SE_SCRIPT_DEFAULT_SECONDS 10.0

/* Loads and runs the script at path in a sandbox; what it declares is
 * validated and becomes the rules.  Errors read "path:LINE: message". */
int se_script_load(se_script **out, const char *path, const se_script_limits *limits,
                   se_error *err);
const se_rules *se_script_rules(const se_script *sc);
void se_script_free(se_script *sc);

/* The zone for import timestamps without an offset the script asked for
 * (settings{input_timezone=}), or NULL. */
const char *se_rules_input_timezone(const se_rules *rules);

/* The script's columns{} (the export's own header names), or NULL. */
const se_colmap *se_rules_columns(const se_rules *rules);

/* settings{ reports = , format = , language = }: what the command line
 * does when it says nothing itself. */
typedef struct se_script_defaults {
	unsigned reports;        /* se_report_kind bits; 0: none given */
	int digest;              /* reports listed "digest" */
	int format;              /* se_output, -1: none given */
	int language;            /* 0 English, 1 Russian, -1: none given */
} se_script_defaults;
void se_rules_defaults(const se_rules *rules, se_script_defaults *out);

/* How many rule{}s the script declares. */
int se_rules_alert_count(const se_rules *rules);

/* How many rules_file()s failed to load (their rules are missing); the
 * first one's "file:line: message" goes into first. */
int se_script_failed_files(se_script *sc, se_error *first);

/* A short description of what the rules declare, for --check. */
void se_rules_describe(const se_rules *rules, FILE *out);

/* ---- reports ------------------------------------------------------------ */

typedef enum se_period {
	SE_PERIOD_DEFAULT = 0, /* the script's setting, else total */
	SE_PERIOD_TOTAL,       /* one bucket for the whole range */
	SE_PERIOD_DAY,
	SE_PERIOD_WEEK,        /* ISO weeks, Monday to Sunday */
	SE_PERIOD_MONTH
} se_period;

typedef enum se_mode {
	SE_MODE_DEFAULT = 0,   /* the pair's / script's setting, else reached */
	SE_MODE_REACHED,       /* reached-or-beyond */
	SE_MODE_TOUCHED        /* only stages actually entered */
} se_mode;

typedef enum se_output {
	SE_OUTPUT_TABLE = 0,
	SE_OUTPUT_CSV,
	SE_OUTPUT_JSON,
	SE_OUTPUT_PROMETHEUS,  /* text exposition format, a gauge per number */
	SE_OUTPUT_HTML,        /* one self-contained page with charts */
	SE_OUTPUT_XLSX         /* an Excel workbook, a sheet per report */
} se_output;

enum se_report_kind {
	SE_REPORT_LEADS = 1,
	SE_REPORT_CONVERSION = 2,
	SE_REPORT_PRESALE = 4,
	SE_REPORT_SOURCES = 8,
	SE_REPORT_UNKNOWN = 16,  /* statuses no funnel knows */
	SE_REPORT_HANDLING = 32,     /* leads at the first stage: taken, released, unprocessed */
	SE_REPORT_DIAGNOSTICS = 64,  /* managers against the team: intervals, growth point, style */
	SE_REPORT_VELOCITY = 128,    /* time in stages, time to won, stale deals */
	SE_REPORT_FORECAST = 256,    /* pre-sale forecast by stage probability and shrunk rates */
	SE_REPORT_BACKTEST = 512,    /* that forecast replayed as of past dates, with its error */
	SE_REPORT_CHANNELS = 1024,   /* sources: steps, spend, CPL, CPS, ROMI, weak sources */
	SE_REPORT_COMPARE = 2048,    /* each bucket next to the previous one, with the change */
	SE_REPORT_METRICS = 4096,    /* the script's metric{} values */
	SE_REPORT_CLASSIC = 31,      /* the five foundation reports */
	SE_REPORT_DEFAULT = 31 | 4096, /* without --report: the foundation reports and metric{}s */
	SE_REPORT_ALL = 8191
};

/* The --report names ("leads", "velocity", ...; "all"): the bit a name asks
 * for, 0 or SE_EUSAGE for a name no report has.  Names come from the
 * library's table of reports, so the program never lists them itself. */
int se_report_flag(const char *name, unsigned *bit);
/* The i-th --report name in documented order (without "all"); NULL after
 * the last. */
const char *se_report_option(size_t i);

typedef struct se_report_opts {
	unsigned reports;        /* se_report_kind bits; 0 = all */
	se_period period;
	se_mode mode;            /* overrides every pair's mode when not DEFAULT */
	const char *from;        /* first local day "YYYY-MM-DD", or NULL */
	const char *to;          /* last local day, inclusive, or NULL */
	const char *timezone;    /* overrides the script's zone, or NULL */
	const char *funnel;      /* only this funnel, or NULL for all */
	int64_t as_of;           /* UTC seconds "now" for open windows; 0 = wall clock */
	const char *spend_csv;   /* ad spend rows (source,month,amount) besides the script's, or NULL */
	int recount;             /* count every deal again: neither read nor keep the stored
	                          * per-chunk partial aggregates (docs/HACKING.md) */
} se_report_opts;

typedef struct se_report se_report;

int se_report_build(se_report **out, se_store *st, const se_rules *rules,
                    const se_report_opts *opts, se_error *err);
/* Computes the script's metric{} values for every period, manager and
 * source of a built report, so se_report_write prints them.  A metric
 * that raises fails the call with "metric 'name': file:line: message". */
int se_script_fill_metrics(se_script *sc, se_report *rep, se_error *err);

int se_report_write(const se_report *rep, FILE *out, se_output format, se_error *err);
void se_report_free(se_report *rep);

/* An alert firing as of the last --alerts run (the store's alert state). */
typedef struct se_firing_alert {
	char *rule;
	char *scope;             /* "funnel=...;manager=...;source=..." */
	int64_t since;           /* UTC seconds */
	double value;            /* NAN when none */
} se_firing_alert;

typedef struct se_write_options {
	int language;            /* 0 English, 1 Russian: words and numbers for people */
	int excel;               /* CSV for Excel: BOM and CRLF; Russian: ';' and decimal commas */
	int delimiter;           /* CSV field separator; 0: ',' (';' for Excel in Russian) */
	int digest;              /* table and HTML: the morning digest first */
	unsigned reports;        /* reports to print; 0: those the report was built for */
	const se_report *daily;  /* the same data by day (leads): the digest's last days */
	const se_firing_alert *firing;
	size_t n_firing;
} se_write_options;

/* se_report_write with options (opts may be NULL: the defaults). */
int se_report_write_with(const se_report *rep, FILE *out, se_output format,
                         const se_write_options *opts, se_error *err);
/* Alerts firing now, by the state the last --alerts run stored; free with
 * se_firing_free. */
int se_alerts_firing(se_store *st, se_firing_alert **out, size_t *n, se_error *err);
void se_firing_free(se_firing_alert *v, size_t n);

/* ---- alerts: the script's rule{}s -------------------------------------------- */

typedef struct se_alert_opts {
	se_output format;        /* table/csv: readable lines; json: one JSON object per line */
	int allow_commands;      /* run rules' command hooks (never through a shell) */
	int all;                 /* also list alerts that are pending or still firing */
	int language;            /* 0 English, 1 Russian: the hooks' value_text (core/i18n.h) */
	/* A failing rule, a hook that failed or was killed, hooks not allowed:
	 * one message each, without a program name.  NULL: not reported (the
	 * summary still counts failed rules). */
	void (*on_message)(void *ud, const char *message);
	void *ud;
	int hook_timeout_ms;     /* a hook still running then is killed; 0 = the default */
} se_alert_opts;

#define SE_ALERT_DEFAULT_HOOK_TIMEOUT_MS 10000

typedef struct se_alert_summary {
	int firing;              /* alerts firing after this run */
	int fired;               /* of them, newly firing this run */
	int pending;
	int resolved;            /* resolved this run */
	int failed;              /* rules (or rule files) that failed */
} se_alert_summary;

/* Evaluates every rule{} of the script against rep (built with the same
 * rules, as of the evaluation time), advances each alert's state kept in
 * the store (pending -> firing -> resolved), writes the announcements to
 * out and runs command hooks when allowed.  A failing rule is reported
 * through opts->on_message and counted; the others still run.  An error return means the
 * state could not be kept. */
int se_alerts_run(se_script *sc, se_store *st, const se_report *rep, const se_alert_opts *opts,
                  FILE *out, se_alert_summary *sum, se_error *err);

#endif

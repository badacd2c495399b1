-- reference.sql: the benchmark's independent answer, in plain SQL.
--
-- Owns: computing from the raw events alone, with every definition of
-- docs/METRICS.md, the CSV rows (docs/OUTPUT.md) that
--
--   salesengine --format csv --period month --as-of 2026-01-01T00:00:00Z
--               --mode MODE tests/bench/bench_rules.lua
--
-- prints: the five header rows, the data rows of leads, conversion,
-- presale, sources and unknown, and an empty line between blocks.  It shares
-- nothing with the engine, so when the two disagree one of them is wrong.
-- It is also the "obvious alternative" run_bench.sh times the engine
-- against: plain SQL over the imported table with sqlite3's default
-- settings (no pragmas), plus the temp tables and indexes it needs, all of
-- which count in the time.
--
-- Input: the table `.import --csv events.csv events` creates from the
-- canonical CSV (every column TEXT, '' for an empty cell).  It only reads
-- that table; all it creates is TEMP.
--
-- Parameters: a TEMP table bench_args(mode, as_of) made before this script
-- runs (run_bench.sh does it with sqlite3 -cmd); the defaults below apply
-- otherwise.  mode is 'reached' or 'touched' and applies to every pair, as
-- --mode does.
--
-- Relies on: ts always written "YYYY-MM-DDTHH:MM:SSZ" (UTC, fixed width), so
-- text order is time order and substr(ts, 1, 7) is the month bucket (the
-- report zone is UTC); the funnel below is bench_rules.lua encoded by hand:
-- change both together.
--
-- Numbers are exact, never float sums: amounts are carried in integer
-- kopecks and every rounded figure is rounded half up from the exact
-- fraction:
--   percentage  num/den       -> tenths = (2000*num + den) / (2*den)
--   forecast of a manager's stage row = kopecks * won / closed, to the kopeck
--                                  = (2*kopecks*won + closed) / (2*closed)
--   `*` and team presale rows add up the (rounded) forecasts of the
--   manager/stage rows they cover; their win rate is forecast / amount
--   (an empty field when the amount is 0).
-- (SQLite's printf() cannot be used for this: it rounds 0.15 up to 0.2
-- where C's printf gives 0.1, and its CSV mode quotes every non-ASCII field,
-- so this script formats and quotes every field itself.)

.bail on
.headers off
.mode list

CREATE TEMP TABLE IF NOT EXISTS bench_args AS
	SELECT 'reached' AS mode, '2026-01-01T00:00:00Z' AS as_of;
CREATE TEMP TABLE arg_check (
	mode TEXT CHECK (mode IN ('reached', 'touched')),
	as_of TEXT CHECK (unixepoch(as_of) IS NOT NULL)
);
INSERT INTO arg_check SELECT mode, as_of FROM bench_args;

-- ---- the funnel of bench_rules.lua -------------------------------------

-- Every status name of the funnel and its class: ordered stage 0..5 (aliases
-- map to their stage), 6 = lost, 7 = non-target.
CREATE TEMP TABLE status_class (name TEXT PRIMARY KEY, code INTEGER NOT NULL)
	WITHOUT ROWID;
INSERT INTO status_class VALUES
	('Новый лид', 0), ('Новая заявка', 0), ('New lead', 0),
	('Квалификация', 1), ('Презентация', 2), ('КП отправлено', 3),
	('Счёт выставлен', 4), ('Оплачено', 5),
	('Отказ', 6), ('Закрыто и не реализовано', 6),
	('Нецелевой', 7), ('Спам', 7);

CREATE TEMP TABLE stage (code INTEGER PRIMARY KEY, name TEXT NOT NULL,
                         presale INTEGER NOT NULL);
INSERT INTO stage VALUES
	(0, 'Новый лид', 0), (1, 'Квалификация', 0), (2, 'Презентация', 0),
	(3, 'КП отправлено', 1), (4, 'Счёт выставлен', 1), (5, 'Оплачено', 0);
-- won = 'Оплачено' (code 5, the last stage): "won" below is "reached 5".

-- Adjacent steps first, then the script's extra pairs, in report order;
-- window_s NULL = no window; window is how the pair's label names it
-- ("FROM -> TO within 30d").
CREATE TEMP TABLE pair (ord INTEGER PRIMARY KEY, a INTEGER NOT NULL,
                        b INTEGER NOT NULL, window_s INTEGER, window TEXT);
INSERT INTO pair VALUES
	(1, 0, 1, NULL, NULL), (2, 1, 2, NULL, NULL), (3, 2, 3, NULL, NULL),
	(4, 3, 4, NULL, NULL), (5, 4, 5, NULL, NULL), (6, 0, 5, NULL, NULL),
	(7, 2, 5, 30 * 86400, '30d');
CREATE TEMP VIEW pair_label AS
SELECT p.ord, sa.name || ' -> ' || sb.name
              || coalesce(' within ' || p.window, '') AS label
FROM pair AS p
JOIN stage AS sa ON sa.code = p.a
JOIN stage AS sb ON sb.code = p.b;

-- ---- 1. one row per deal: the facts that do not depend on the mode ------

-- METRICS order is (ts, event_id), both compared byte by byte.  With ts of
-- fixed width, the text ts || event_id (a "key") sorts exactly in that
-- order, so min/max of keys find a deal's first/last event of a kind, and
-- key || char(1) || value carries the value of that event along (char(1)
-- sorts below every character of an id, so a shorter id that is a prefix of
-- a longer one still sorts first).  An event whose trimmed status the funnel
-- does not know has code NULL: it resolves nowhere and counts only in
-- `unknown` (it still carries manager, source and amount; see the end).
CREATE TEMP TABLE deal AS
SELECT ev.deal_id AS deal_id,
       -- the first resolving event (of any class); the last one's class
       min(CASE WHEN c.code IS NOT NULL THEN ev.ts END) AS first_ts,
       max(CASE WHEN c.code IS NOT NULL
                THEN ev.ts || ev.event_id || char(1) || c.code END) AS last_k,
       -- touched(s): the key of the first event at stage s
       min(CASE WHEN c.code = 0 THEN ev.ts || ev.event_id END) AS k0,
       min(CASE WHEN c.code = 1 THEN ev.ts || ev.event_id END) AS k1,
       min(CASE WHEN c.code = 2 THEN ev.ts || ev.event_id END) AS k2,
       min(CASE WHEN c.code = 3 THEN ev.ts || ev.event_id END) AS k3,
       min(CASE WHEN c.code = 4 THEN ev.ts || ev.event_id END) AS k4,
       min(CASE WHEN c.code = 5 THEN ev.ts || ev.event_id END) AS k5,
       -- the last event at stage s: an event at B comes after touched(A)
       -- exactly when the last one does
       max(CASE WHEN c.code = 1 THEN ev.ts || ev.event_id END) AS l1,
       max(CASE WHEN c.code = 2 THEN ev.ts || ev.event_id END) AS l2,
       max(CASE WHEN c.code = 3 THEN ev.ts || ev.event_id END) AS l3,
       max(CASE WHEN c.code = 4 THEN ev.ts || ev.event_id END) AS l4,
       max(CASE WHEN c.code = 5 THEN ev.ts || ev.event_id END) AS l5,
       -- attributes: latest manager, earliest source, latest amount, each
       -- among the events that have one
       max(CASE WHEN ev.manager <> ''
                THEN ev.ts || ev.event_id || char(1) || ev.manager END) AS manager_k,
       min(CASE WHEN ev.source <> ''
                THEN ev.ts || ev.event_id || char(1) || ev.source END) AS source_k,
       max(CASE WHEN ev.amount <> ''
                THEN ev.ts || ev.event_id || char(1) || ev.amount END) AS amount_k
FROM events AS ev
LEFT JOIN status_class AS c ON c.name = trim(ev.stage, ' ')
GROUP BY ev.deal_id;
CREATE UNIQUE INDEX temp.deal_id ON deal (deal_id);

-- The windowed pair Презентация -> Оплачено in touched mode needs the time
-- of the first event at Оплачено after touched(Презентация), not just
-- whether there is one.
CREATE TEMP TABLE after_k2_paid AS
SELECT ev.deal_id AS deal_id, min(ev.ts) AS ts
FROM events AS ev
JOIN status_class AS c ON c.name = trim(ev.stage, ' ') AND c.code = 5
JOIN deal AS d ON d.deal_id = ev.deal_id
WHERE ev.ts || ev.event_id > d.k2
GROUP BY ev.deal_id;
CREATE UNIQUE INDEX temp.after_k2_paid_id ON after_k2_paid (deal_id);

-- ---- 2. the same deals under the chosen mode ----------------------------

-- f<s>: the time of the deal's cohort event for stage s, reached_m(s) (NULL
-- when the deal never got there).  ok<p>: the deal counts in reached_to of
-- pair p (cohort event f<A>, window included).  Deals none of whose events
-- resolve (first_ts NULL) are in no report.
CREATE TEMP TABLE dm AS
WITH t AS (
	-- touched(s) as a time: the ts part (20 characters) of its key
	SELECT deal.*,
	       substr(k0, 1, 20) AS t0, substr(k1, 1, 20) AS t1,
	       substr(k2, 1, 20) AS t2, substr(k3, 1, 20) AS t3,
	       substr(k4, 1, 20) AS t4, substr(k5, 1, 20) AS t5
	FROM deal
	WHERE first_ts IS NOT NULL
), d AS (
	-- reached(s): the earliest touched(s') over s' >= s ('~' sorts after
	-- every ts and stands for "never")
	SELECT t.*,
	       nullif(min(coalesce(t1, '~'), coalesce(t2, '~'), coalesce(t3, '~'),
	                  coalesce(t4, '~'), coalesce(t5, '~')), '~') AS r1,
	       nullif(min(coalesce(t2, '~'), coalesce(t3, '~'), coalesce(t4, '~'),
	                  coalesce(t5, '~')), '~') AS r2,
	       nullif(min(coalesce(t3, '~'), coalesce(t4, '~'), coalesce(t5, '~')),
	              '~') AS r3,
	       nullif(min(coalesce(t4, '~'), coalesce(t5, '~')), '~') AS r4,
	       a.mode = 'touched' AS touched, x.ts AS x25,
	       (SELECT window_s FROM pair WHERE ord = 7) AS w7
	FROM t
	CROSS JOIN bench_args AS a
	LEFT JOIN after_k2_paid AS x ON x.deal_id = t.deal_id
)
SELECT deal_id,
       coalesce(substr(manager_k, instr(manager_k, char(1)) + 1), '(none)') AS manager,
       coalesce(substr(source_k, instr(source_k, char(1)) + 1), '(none)') AS source,
       amount_k IS NOT NULL AS has_amount,
       coalesce(CAST(round(CAST(substr(amount_k, instr(amount_k, char(1)) + 1)
                                AS REAL) * 100) AS INTEGER), 0) AS kop,
       t5 IS NOT NULL AS won,
       CAST(substr(last_k, -1) AS INTEGER) >= 5 AS closed, -- won, lost, non-target
       CASE WHEN CAST(substr(last_k, -1) AS INTEGER) < 5
            THEN CAST(substr(last_k, -1) AS INTEGER) END AS open_stage,
       CASE WHEN touched THEN t0 ELSE first_ts END AS f0,
       CASE WHEN touched THEN t1 ELSE r1 END AS f1,
       CASE WHEN touched THEN t2 ELSE r2 END AS f2,
       CASE WHEN touched THEN t3 ELSE r3 END AS f3,
       CASE WHEN touched THEN t4 ELSE r4 END AS f4,
       t5 AS f5,
       -- reached mode: reached(B) exists (it is never before reached(A));
       -- touched mode: an event at B later than touched(A)
       CASE WHEN touched THEN l1 > k0 ELSE r1 IS NOT NULL END AS ok1,
       CASE WHEN touched THEN l2 > k1 ELSE r2 IS NOT NULL END AS ok2,
       CASE WHEN touched THEN l3 > k2 ELSE r3 IS NOT NULL END AS ok3,
       CASE WHEN touched THEN l4 > k3 ELSE r4 IS NOT NULL END AS ok4,
       CASE WHEN touched THEN l5 > k4 ELSE t5 IS NOT NULL END AS ok5,
       CASE WHEN touched THEN l5 > k0 ELSE t5 IS NOT NULL END AS ok6,
       CASE WHEN touched
            THEN x25 IS NOT NULL AND unixepoch(x25) <= unixepoch(t2) + w7
            ELSE t5 IS NOT NULL AND unixepoch(t5) <= unixepoch(r2) + w7
       END AS ok7
FROM d;

-- Every name a row can carry, as one CSV field: quoted (RFC 4180) only
-- when it must be.
CREATE TEMP TABLE name_field (name TEXT PRIMARY KEY, field TEXT NOT NULL)
	WITHOUT ROWID;
INSERT INTO name_field
SELECT name,
       CASE WHEN instr(name, ',') OR instr(name, '"') OR instr(name, char(10))
                 OR instr(name, char(13))
            THEN '"' || replace(name, '"', '""') || '"'
            ELSE name END
FROM (SELECT manager AS name FROM dm UNION SELECT source FROM dm
      UNION SELECT name FROM stage UNION SELECT label FROM pair_label
      UNION SELECT '*');

-- ---- 3. leads -----------------------------------------------------------

SELECT 'report,funnel,period,dimension,name,leads';
WITH l AS MATERIALIZED (
	SELECT substr(f0, 1, 7) AS period, manager, source, count(*) AS leads
	FROM dm WHERE f0 IS NOT NULL
	GROUP BY 1, 2, 3
), r AS (
	SELECT period, 0 AS dim, '*' AS name, sum(leads) AS leads
	FROM l GROUP BY period
	UNION ALL
	SELECT period, 1, manager, sum(leads) FROM l GROUP BY period, manager
	UNION ALL
	SELECT period, 2, source, sum(leads) FROM l GROUP BY period, source
)
SELECT 'leads,sales,' || r.period || ','
       || CASE r.dim WHEN 0 THEN 'team' WHEN 1 THEN 'manager' ELSE 'source' END
       || ',' || n.field || ',' || r.leads
FROM r JOIN name_field AS n ON n.name = r.name
ORDER BY r.period, r.dim, r.name;
SELECT '';

-- ---- 4. conversion ------------------------------------------------------

SELECT 'report,funnel,pair,mode,period,dimension,name,from_stage,to_stage,'
       || 'reached_from,reached_to,conversion_pct,window_open';
WITH
-- per cohort stage A (pairs 1 and 6 start at stage 0, 3 and 7 at stage 2),
-- month and manager: the deals in the cohort, the time of the latest cohort
-- event (for window_open), and the deals counted in reached_to of each pair
-- that starts at A
m0 AS MATERIALIZED (
	SELECT substr(f0, 1, 7) AS period, manager, count(*) AS n, max(f0) AS last,
	       sum(coalesce(ok1, 0)) AS ok1, sum(coalesce(ok6, 0)) AS ok6
	FROM dm WHERE f0 IS NOT NULL GROUP BY 1, 2
), m1 AS (
	SELECT substr(f1, 1, 7) AS period, manager, count(*) AS n, max(f1) AS last,
	       sum(coalesce(ok2, 0)) AS ok2
	FROM dm WHERE f1 IS NOT NULL GROUP BY 1, 2
), m2 AS MATERIALIZED (
	SELECT substr(f2, 1, 7) AS period, manager, count(*) AS n, max(f2) AS last,
	       sum(coalesce(ok3, 0)) AS ok3, sum(coalesce(ok7, 0)) AS ok7
	FROM dm WHERE f2 IS NOT NULL GROUP BY 1, 2
), m3 AS (
	SELECT substr(f3, 1, 7) AS period, manager, count(*) AS n, max(f3) AS last,
	       sum(coalesce(ok4, 0)) AS ok4
	FROM dm WHERE f3 IS NOT NULL GROUP BY 1, 2
), m4 AS (
	SELECT substr(f4, 1, 7) AS period, manager, count(*) AS n, max(f4) AS last,
	       sum(coalesce(ok5, 0)) AS ok5
	FROM dm WHERE f4 IS NOT NULL GROUP BY 1, 2
), m AS (
	SELECT 1 AS ord, period, manager, n AS n_from, ok1 AS n_to, last FROM m0
	UNION ALL SELECT 2, period, manager, n, ok2, last FROM m1
	UNION ALL SELECT 3, period, manager, n, ok3, last FROM m2
	UNION ALL SELECT 4, period, manager, n, ok4, last FROM m3
	UNION ALL SELECT 5, period, manager, n, ok5, last FROM m4
	UNION ALL SELECT 6, period, manager, n, ok6, last FROM m0
	UNION ALL SELECT 7, period, manager, n, ok7, last FROM m2
), r AS (
	SELECT ord, period, 0 AS dim, '*' AS name, sum(n_from) AS n_from,
	       sum(n_to) AS n_to, max(last) AS last
	FROM m GROUP BY ord, period
	UNION ALL
	SELECT ord, period, 1, manager, n_from, n_to, last FROM m
)
-- window_open: some deal of the row has its cohort event less than W
-- before as-of, so it may still convert inside its window.
SELECT 'conversion,sales,' || fl.field || ',' || a.mode
       || ',' || r.period || ',' || CASE r.dim WHEN 0 THEN 'team' ELSE 'manager' END
       || ',' || n.field || ',' || fa.field || ',' || fb.field
       || ',' || r.n_from || ',' || r.n_to
       || ',' || ((2000 * r.n_to + r.n_from) / (2 * r.n_from) / 10)
       || '.' || ((2000 * r.n_to + r.n_from) / (2 * r.n_from) % 10)
       || ',' || (p.window_s IS NOT NULL
                  AND unixepoch(r.last) + p.window_s > unixepoch(a.as_of))
FROM r
JOIN pair AS p ON p.ord = r.ord
JOIN pair_label AS pl ON pl.ord = r.ord
JOIN name_field AS fl ON fl.name = pl.label
JOIN stage AS sa ON sa.code = p.a
JOIN stage AS sb ON sb.code = p.b
JOIN name_field AS fa ON fa.name = sa.name
JOIN name_field AS fb ON fb.name = sb.name
JOIN name_field AS n ON n.name = r.name
CROSS JOIN bench_args AS a
ORDER BY r.ord, r.period, r.dim, r.name;
SELECT '';

-- ---- 5. presale ---------------------------------------------------------

SELECT 'report,funnel,stage,dimension,name,deals,amount,win_rate_pct,'
       || 'win_rate_basis,forecast,no_amount';
WITH reach AS (
	-- every deal x pre-sale stage it reached in the report mode
	SELECT s.code AS stage, dm.manager, dm.closed, dm.won
	FROM stage AS s JOIN dm
	  ON (CASE s.code WHEN 0 THEN dm.f0 WHEN 1 THEN dm.f1 WHEN 2 THEN dm.f2
	                  WHEN 3 THEN dm.f3 WHEN 4 THEN dm.f4 WHEN 5 THEN dm.f5
	      END) IS NOT NULL
	WHERE s.presale
), mrate AS (
	SELECT stage, manager, sum(closed) AS closed, sum(closed AND won) AS won
	FROM reach GROUP BY stage, manager
), trate AS (
	SELECT stage, sum(closed) AS closed, sum(won) AS won
	FROM mrate GROUP BY stage
), op AS (
	-- deals open at a pre-sale stage, per manager and stage
	SELECT dm.open_stage AS stage, dm.manager, count(*) AS deals,
	       sum(dm.kop) AS kop, sum(NOT dm.has_amount) AS no_amount
	FROM dm JOIN stage AS s ON s.code = dm.open_stage AND s.presale
	GROUP BY dm.open_stage, dm.manager
), ms AS (
	-- manager x stage rows with the rate they use: won / closed of the
	-- manager, else of the team, else none (0)
	SELECT op.*,
	       CASE WHEN mr.closed > 0 THEN 'manager'
	            WHEN tr.closed > 0 THEN 'team' ELSE 'none' END AS basis,
	       CASE WHEN mr.closed > 0 THEN mr.won
	            WHEN tr.closed > 0 THEN tr.won ELSE 0 END AS rw,
	       CASE WHEN mr.closed > 0 THEN mr.closed
	            WHEN tr.closed > 0 THEN tr.closed ELSE 0 END AS rc
	FROM op
	LEFT JOIN mrate AS mr ON mr.stage = op.stage AND mr.manager = op.manager
	LEFT JOIN trate AS tr ON tr.stage = op.stage
), msf AS (
	SELECT ms.*,
	       CASE WHEN rc > 0 THEN (2 * kop * rw + rc) / (2 * rc) ELSE 0 END AS fc,
	       CASE WHEN rc > 0 THEN (2000 * rw + rc) / (2 * rc) ELSE 0 END AS tenths
	FROM ms
), r AS (
	-- stage_ord: pre-sale stages in funnel order, then the `*` rows
	SELECT stage AS stage_ord, 1 AS dim, manager AS name, deals, kop,
	       tenths, basis, fc, no_amount
	FROM msf
	UNION ALL
	SELECT 99, 1, manager, sum(deals), sum(kop),
	       CASE WHEN sum(kop) > 0
	            THEN (2000 * sum(fc) + sum(kop)) / (2 * sum(kop)) END,
	       CASE WHEN min(basis) = max(basis) THEN min(basis) ELSE 'mixed' END,
	       sum(fc), sum(no_amount)
	FROM msf GROUP BY manager
	UNION ALL
	SELECT stage, 0, '*', sum(deals), sum(kop),
	       CASE WHEN sum(kop) > 0
	            THEN (2000 * sum(fc) + sum(kop)) / (2 * sum(kop)) END,
	       CASE WHEN min(basis) = max(basis) THEN min(basis) ELSE 'mixed' END,
	       sum(fc), sum(no_amount)
	FROM msf GROUP BY stage
	UNION ALL
	SELECT 99, 0, '*', sum(deals), sum(kop),
	       CASE WHEN sum(kop) > 0
	            THEN (2000 * sum(fc) + sum(kop)) / (2 * sum(kop)) END,
	       CASE WHEN min(basis) = max(basis) THEN min(basis) ELSE 'mixed' END,
	       sum(fc), sum(no_amount)
	FROM msf
	HAVING count(*) > 0
)
SELECT 'presale,sales,' || coalesce(sf.field, '*')
       || ',' || CASE r.dim WHEN 0 THEN 'team' ELSE 'manager' END
       || ',' || n.field || ',' || r.deals
       || ',' || (r.kop / 100) || '.' || printf('%02d', r.kop % 100)
       || ',' || coalesce((r.tenths / 10) || '.' || (r.tenths % 10), '')
       || ',' || r.basis
       || ',' || (r.fc / 100) || '.' || printf('%02d', r.fc % 100)
       || ',' || r.no_amount
FROM r
LEFT JOIN stage AS s ON s.code = r.stage_ord
LEFT JOIN name_field AS sf ON sf.name = s.name
JOIN name_field AS n ON n.name = r.name
ORDER BY r.stage_ord, r.dim, r.name;
SELECT '';

-- ---- 6. sources ---------------------------------------------------------

SELECT 'report,funnel,period,dimension,name,leads,won,conversion_pct,revenue';
WITH l AS (
	SELECT substr(f0, 1, 7) AS period, source, won,
	       CASE WHEN won THEN kop ELSE 0 END AS revenue
	FROM dm WHERE f0 IS NOT NULL
), s AS (
	SELECT period, source, count(*) AS leads, sum(won) AS won,
	       sum(revenue) AS revenue
	FROM l GROUP BY period, source
), r AS (
	SELECT period, 0 AS dim, '*' AS name, sum(leads) AS leads, sum(won) AS won,
	       sum(revenue) AS revenue
	FROM s GROUP BY period
	UNION ALL
	SELECT period, 1, source, leads, won, revenue FROM s
)
SELECT 'sources,sales,' || r.period || ','
       || CASE r.dim WHEN 0 THEN 'team' ELSE 'source' END
       || ',' || n.field || ',' || r.leads || ',' || r.won
       || ',' || ((2000 * r.won + r.leads) / (2 * r.leads) / 10)
       || '.' || ((2000 * r.won + r.leads) / (2 * r.leads) % 10)
       || ',' || (r.revenue / 100) || '.' || printf('%02d', r.revenue % 100)
FROM r JOIN name_field AS n ON n.name = r.name
ORDER BY r.period, r.dim, r.name;
SELECT '';

-- ---- 7. unknown statuses ------------------------------------------------

-- With one funnel and no pipelines listed, "unknown" is simply a status the
-- funnel does not name.  Most events first; example deal: the smallest
-- deal_id (byte order) among them.
SELECT 'report,status,events,deals,example_deal';
WITH u AS (
	SELECT trim(stage, ' ') AS status, count(*) AS events,
	       count(DISTINCT deal_id) AS deals, min(deal_id) AS example
	FROM events
	WHERE trim(stage, ' ') NOT IN (SELECT name FROM status_class)
	GROUP BY trim(stage, ' ')
)
SELECT 'unknown,'
       || CASE WHEN instr(status, ',') OR instr(status, '"')
                    OR instr(status, char(10)) OR instr(status, char(13))
               THEN '"' || replace(status, '"', '""') || '"' ELSE status END
       || ',' || events || ',' || deals || ','
       || CASE WHEN instr(example, ',') OR instr(example, '"')
                    OR instr(example, char(10)) OR instr(example, char(13))
               THEN '"' || replace(example, '"', '""') || '"' ELSE example END
FROM u ORDER BY events DESC, status;

-- Notes on choices the docs leave open (reported to the engine side):
-- * manager / source / amount are taken from all of a deal's events, those
--   with a status the funnel does not know included;
-- * "(none)" is a manager like any other for presale win rates;
-- * presale rows: pre-sale stages in funnel order, then the `*` rows; in
--   each, the team row first, then managers by name;
-- * win_rate_basis of a `*` or team row: the basis its deals share, or
--   `mixed` when they differ;
-- * forecasts are rounded (half up, to the kopeck) once per manager/stage
--   row, and `*`/team rows add those rounded forecasts up, so the column
--   adds up as printed;
-- * leads: team, then managers by name, then sources by name;
-- * events after --as-of are counted like any other (the bench data has
--   none).

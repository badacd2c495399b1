-- expected.sql: the report salesengine should print for the Olist marketing
-- funnel imported through scripts/importers/two_table.lua, computed straight
-- from the two raw files, for the funnel of olist_rules.lua (Lead -> Won,
-- and the same pair within 60 days).  It never reads the engine's events:
-- docs/METRICS.md restated over the files' columns.
--
-- Input: tables mql (olist_marketing_qualified_leads_dataset.csv) and
-- closed (olist_closed_deals_dataset.csv), imported unchanged; parameters
-- @mode (reached or touched), @period (total, day, week or month) and
-- @as_of.  Output: the lines of
--   salesengine --format csv --mode @mode --period @period --as-of @as_of olist_rules.lua
-- in no particular order (run.sh sorts both sides).
--
-- What a deal's events are (two_table.lua): "<id>:lead" at
-- first_contact_date (midnight UTC) with source = origin; "<id>:won" at
-- won_date (UTC) with manager = sr_id.  So a deal's manager is its sr_id
-- when won, else none; its source is its origin; no amounts.
--
-- Modes (METRICS.md section 2), for the first stage Lead:
--   reached: cohort = the earlier of the lead and won events;
--            converted = won at all; the windowed arrival is won_date.
--   touched: cohort = the lead event; converted = a won event after it
--            (same time: "<id>:lead" sorts before "<id>:won", so >=).
-- The data's one deal won two days before its first contact is where the
-- two modes differ.

CREATE TEMP TABLE expected_assumption (
  name TEXT NOT NULL,
  ok INTEGER NOT NULL,
  CONSTRAINT "@mode is reached or touched" CHECK (ok OR name <> 'mode'),
  CONSTRAINT "@period is total, day, week or month" CHECK (ok OR name <> 'period'),
  CONSTRAINT "each mql_id once per file" CHECK (ok OR name <> 'unique'),
  CONSTRAINT "every won deal has a lead" CHECK (ok OR name <> 'joined'),
  CONSTRAINT "dates present and well formed" CHECK (ok OR name <> 'dates')
);
INSERT INTO expected_assumption VALUES ('mode', @mode IN ('reached', 'touched'));
INSERT INTO expected_assumption VALUES ('period', @period IN ('total', 'day', 'week', 'month'));
INSERT INTO expected_assumption
SELECT 'unique', (SELECT count(*) = count(DISTINCT mql_id) FROM mql)
             AND (SELECT count(*) = count(DISTINCT mql_id) FROM closed);
INSERT INTO expected_assumption
SELECT 'joined', count(*) = 0 FROM closed WHERE mql_id NOT IN (SELECT mql_id FROM mql);
INSERT INTO expected_assumption
SELECT 'dates', (SELECT count(*) = 0 FROM mql WHERE date(first_contact_date) IS NOT first_contact_date)
            AND (SELECT count(*) = 0 FROM closed WHERE datetime(won_date) IS NOT won_date);

-- One row per lead: its lead time, its won time (NULL: not won), manager
-- and source as reported.
CREATE TEMP TABLE deal AS
SELECT m.mql_id AS id, m.first_contact_date AS lead_ts, c.won_date AS won_ts,
       coalesce(nullif(trim(c.sr_id), ''), '(none)') AS manager,
       coalesce(nullif(trim(m.origin), ''), '(none)') AS source
  FROM mql m LEFT JOIN closed c ON c.mql_id = m.mql_id;

CREATE TEMP TABLE lead AS
SELECT id, manager, source, cohort, converted,
       converted AND julianday(won_ts) <= julianday(cohort) + 60 AS converted_60,
       won_ts IS NOT NULL AS won,
       CASE @period
         WHEN 'total' THEN 'all'
         WHEN 'month' THEN substr(cohort, 1, 7)
         WHEN 'day' THEN substr(cohort, 1, 10)
         WHEN 'week' THEN strftime('%Y', date(cohort, '-3 days', 'weekday 4')) || '-W' ||
                          printf('%02d', (strftime('%j', date(cohort, '-3 days', 'weekday 4')) - 1) / 7 + 1)
       END AS bucket
  FROM (SELECT d.*,
               CASE WHEN @mode = 'reached' AND won_ts < lead_ts THEN won_ts ELSE lead_ts END AS cohort,
               CASE @mode
                 WHEN 'reached' THEN won_ts IS NOT NULL
                 ELSE won_ts IS NOT NULL AND won_ts >= lead_ts
               END AS converted
          FROM deal d);

CREATE TEMP TABLE leads_out AS
SELECT bucket, 'team' AS dim, '*' AS name, count(*) AS leads FROM lead GROUP BY bucket
UNION ALL
SELECT bucket, 'manager', manager, count(*) FROM lead GROUP BY bucket, manager
UNION ALL
SELECT bucket, 'source', source, count(*) FROM lead GROUP BY bucket, source;

CREATE TEMP TABLE conversion_out AS
SELECT 'Lead -> Won' AS pair, bucket, 'team' AS dim, '*' AS name, count(*) AS n_from,
       sum(converted) AS n_to, 0 AS window_open
  FROM lead GROUP BY bucket
UNION ALL
SELECT 'Lead -> Won', bucket, 'manager', manager, count(*), sum(converted), 0
  FROM lead GROUP BY bucket, manager
UNION ALL
SELECT 'Lead -> Won within 60d', bucket, 'team', '*', count(*), sum(converted_60),
       julianday(max(cohort)) + 60 > julianday(@as_of)
  FROM lead GROUP BY bucket
UNION ALL
SELECT 'Lead -> Won within 60d', bucket, 'manager', manager, count(*), sum(converted_60),
       julianday(max(cohort)) + 60 > julianday(@as_of)
  FROM lead GROUP BY bucket, manager;

CREATE TEMP TABLE sources_out AS
SELECT bucket, 'team' AS dim, '*' AS name, count(*) AS leads, sum(won) AS won FROM lead GROUP BY bucket
UNION ALL
SELECT bucket, 'source', source, count(*), sum(won) FROM lead GROUP BY bucket, source;

-- Percentages: the nearest tenth, halves up, in integers (docs/OUTPUT.md).
CREATE TEMP TABLE pct AS
SELECT num, den, (2000 * num + den) / (2 * den) AS tenths
  FROM (SELECT n_to AS num, n_from AS den FROM conversion_out
        UNION SELECT won, leads FROM sources_out);

.mode list
.headers off
.nullvalue ''

-- Names here are hex ids and origin words: none needs CSV quoting.  No
-- stage is pre-sale and every status is the funnel's, so those two blocks
-- are headers alone.
WITH header(line) AS (
  VALUES ('report,funnel,period,dimension,name,leads'),
         ('report,funnel,pair,mode,period,dimension,name,from_stage,to_stage,reached_from,reached_to,conversion_pct,window_open'),
         ('report,funnel,stage,dimension,name,deals,amount,win_rate_pct,win_rate_basis,forecast,no_amount'),
         ('report,funnel,period,dimension,name,leads,won,conversion_pct,revenue'),
         ('report,status,events,deals,example_deal'),
         (''), (''), (''), ('')
)
SELECT line FROM header
UNION ALL
SELECT 'leads,olist,' || bucket || ',' || dim || ',' || name || ',' || leads FROM leads_out
UNION ALL
SELECT 'conversion,olist,' || pair || ',' || @mode || ',' || bucket || ',' || dim || ',' || name ||
       ',Lead,Won,' || n_from || ',' || n_to || ',' || (p.tenths / 10) || '.' || (p.tenths % 10) || ',' ||
       window_open
  FROM conversion_out JOIN pct p ON p.num = n_to AND p.den = n_from
UNION ALL
SELECT 'sources,olist,' || bucket || ',' || dim || ',' || name || ',' || leads || ',' || won || ',' ||
       (p.tenths / 10) || '.' || (p.tenths % 10) || ',0.00'
  FROM sources_out JOIN pct p ON p.num = won AND p.den = leads;

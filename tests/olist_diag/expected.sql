-- expected.sql: the handling and channels reports of the Olist funnel,
-- computed straight from the two raw tables (mql, closed) and a spend
-- table, without salesengine and without to_events.sql's view: an
-- independent reading of docs/METRICS.md 4f and 4j.  Prints the same CSV
-- lines as
--   salesengine --format csv --report handling,channels --period @period
--               --as-of @as_of --spend spend.csv olist_rules.lua
-- (compared sorted by run.sh).  Parameters: @period (total or month),
-- @as_of (unix seconds), @sla (seconds).

-- One row per lead, with what the engine derives from its two events.
CREATE TEMP TABLE lead AS
WITH raw AS (
  SELECT m.mql_id AS deal, unixepoch(m.first_contact_date) AS contact,
         unixepoch(c.won_date) AS won_ts, nullif(c.sdr_id, '') AS sdr, nullif(c.sr_id, '') AS sr,
         coalesce(nullif(m.origin, ''), '(none)') AS source
    FROM mql m LEFT JOIN closed c ON c.mql_id = m.mql_id)
SELECT deal, source,
       -- the lead event is the deal's first event: the won event when a
       -- deal was won before its first contact (one such deal exists)
       CASE WHEN won_ts < contact THEN won_ts ELSE contact END AS lead_ts,
       won_ts IS NOT NULL AS won,
       CASE WHEN won_ts IS NULL THEN NULL WHEN won_ts < contact THEN 0 ELSE won_ts - contact END AS ttfm,
       -- the manager of the latest event that has one
       coalesce(CASE WHEN won_ts IS NULL THEN sdr WHEN won_ts < contact THEN coalesce(sdr, sr)
                     ELSE coalesce(sr, sdr) END, '(none)') AS manager
  FROM raw;

CREATE TEMP TABLE lead_b AS
SELECT *, CASE WHEN @period = 'month' THEN strftime('%Y-%m', lead_ts, 'unixepoch') ELSE 'all' END AS bucket
  FROM lead;

-- ---- handling --------------------------------------------------------------
CREATE TEMP TABLE grp AS
SELECT bucket, 'team' AS dim, '*' AS name, deal, won, ttfm, lead_ts FROM lead_b
UNION ALL SELECT bucket, 'manager', manager, deal, won, ttfm, lead_ts FROM lead_b
UNION ALL SELECT bucket, 'source', source, deal, won, ttfm, lead_ts FROM lead_b;

-- nearest rank: the value at rank ceil(p * n) among the moved leads
CREATE TEMP TABLE ranked AS
SELECT bucket, dim, name, ttfm,
       row_number() OVER (PARTITION BY bucket, dim, name ORDER BY ttfm) AS rn,
       count(*) OVER (PARTITION BY bucket, dim, name) AS n
  FROM grp WHERE won;

CREATE TEMP TABLE handling AS
SELECT g.bucket, g.dim, g.name, count(*) AS leads, sum(g.won) AS taken,
       sum(NOT g.won AND @as_of - g.lead_ts > @sla) AS unprocessed,
       sum(NOT g.won AND @as_of - g.lead_ts <= @sla) AS waiting,
       (SELECT ttfm FROM ranked r WHERE r.bucket = g.bucket AND r.dim = g.dim AND r.name = g.name
           AND r.rn = (r.n + 1) / 2) AS med,
       (SELECT ttfm FROM ranked r WHERE r.bucket = g.bucket AND r.dim = g.dim AND r.name = g.name
           AND r.rn = (9 * r.n + 9) / 10) AS p90
  FROM grp g GROUP BY g.bucket, g.dim, g.name;

-- ---- channels -----------------------------------------------------------------
CREATE TEMP TABLE spend_k AS
SELECT source, month, sum(CAST(round(amount * 100) AS INTEGER)) AS kop FROM spend GROUP BY source, month;

CREATE TEMP TABLE cells AS   -- leads and won per bucket, source, manager
SELECT bucket, source, manager, count(*) AS n, sum(won) AS w FROM lead_b GROUP BY bucket, source, manager;

-- Cochran-Mantel-Haenszel over managers: the source against the others;
-- leads without a manager are left out (nothing to hold constant)
CREATE TEMP TABLE strata AS
SELECT c.bucket, c.source, c.n AS n1, c.w AS a, t.n - c.n AS n2, t.w - c.w AS b
  FROM cells c JOIN (SELECT bucket, manager, sum(n) AS n, sum(w) AS w FROM cells GROUP BY bucket, manager) t
    ON t.bucket = c.bucket AND t.manager = c.manager
 WHERE c.n > 0 AND t.n - c.n > 0 AND c.manager <> '(none)';

CREATE TEMP TABLE cmh AS
SELECT bucket, source, sum(n1) AS n1, sum(n2) AS n2, sum(a + b) AS w, sum(a) AS o, sum(1.0 * n1 * (a + b) / (n1 + n2)) AS e,
       sum(1.0 * n1 * n2 * (a + b) * (n1 + n2 - a - b) / (1.0 * (n1 + n2) * (n1 + n2) * (n1 + n2 - 1))) AS v
  FROM strata GROUP BY bucket, source;

-- why a source's test cannot answer (docs/METRICS.md 4j), in this order
CREATE TEMP TABLE untestable AS
SELECT s.bucket, s.source,
       CASE WHEN (SELECT coalesce(sum(n), 0) FROM cells c WHERE c.bucket = s.bucket AND c.source = s.source
                    AND c.manager <> '(none)') = 0 THEN 'no manager on the leads'
            WHEN (SELECT count(DISTINCT manager) FROM cells c WHERE c.bucket = s.bucket AND c.manager <> '(none)') < 2
                 THEN 'one manager'
            WHEN coalesce(m.n1, 0) < 30 OR coalesce(m.n2, 0) < 30 THEN 'too few leads compared within managers'
            WHEN NOT m.v > 0 AND m.w = m.n1 + m.n2 THEN 'every lead with a manager was won'
            WHEN NOT m.v > 0 AND m.w = 0 THEN 'no lead with a manager was won'
            WHEN NOT m.v > 0 THEN 'within each manager all leads were won or none'
       END AS why
  FROM (SELECT DISTINCT bucket, source FROM cells) s LEFT JOIN cmh m ON m.bucket = s.bucket AND m.source = s.source;

-- spend: empty (not 0) when no spend row applies
CREATE TEMP TABLE channels AS
SELECT bucket, dim, name, leads, won,
       (SELECT sum(kop) FROM spend_k s
         WHERE (dim = 'team' OR s.source = name) AND (@period = 'total' OR s.month = bucket)) AS spend
  FROM (SELECT bucket, 'team' AS dim, '*' AS name, count(*) AS leads, sum(won) AS won FROM lead_b GROUP BY bucket
        UNION ALL
        SELECT bucket, 'source', source, count(*), sum(won) FROM lead_b GROUP BY bucket, source);

-- ---- printing --------------------------------------------------------------
.mode list
.headers off
.nullvalue ''

SELECT 'report,funnel,period,dimension,name,leads,taken,released,nontarget,unprocessed,waiting,first_move_median_h,first_move_p90_h';
SELECT 'report,funnel,pair,period,dimension,name,reached_from,reached_to,conversion_pct';
SELECT 'report,funnel,period,dimension,name,leads,won,conversion_pct,revenue,spend,cpl,cps,romi_pct,within_manager_z,p_value,p_adjusted,weak,not_testable';
SELECT '';
SELECT '';

-- hours with one decimal, halves up: tenths = floor((2 s + 360) / 720);
-- (|| binds tighter than % in SQLite: every % below is parenthesised)
-- percentages from counts: tenths = floor((2000 num + den) / (2 den))
SELECT 'handling,olist,' || bucket || ',' || dim || ',' || name || ',' || leads || ',' || taken || ',0,0,' ||
       unprocessed || ',' || waiting || ',' ||
       CASE WHEN med IS NULL THEN '' ELSE (((2 * med + 360) / 720) / 10) || '.' || (((2 * med + 360) / 720) % 10) END || ',' ||
       CASE WHEN p90 IS NULL THEN '' ELSE (((2 * p90 + 360) / 720) / 10) || '.' || (((2 * p90 + 360) / 720) % 10) END
  FROM handling;

SELECT 'source_steps,olist,MQL -> Won,' || bucket || ',' || dim || ',' || name || ',' || leads || ',' || won || ',' ||
       (((2000 * won + leads) / (2 * leads)) / 10) || '.' || (((2000 * won + leads) / (2 * leads)) % 10)
  FROM channels;

SELECT 'channels,olist,' || bucket || ',' || dim || ',' || name || ',' || leads || ',' || won || ',' ||
       (((2000 * won + leads) / (2 * leads)) / 10) || '.' || (((2000 * won + leads) / (2 * leads)) % 10) || ',0.00,' ||
       CASE WHEN spend IS NULL THEN ',,,'
            ELSE printf('%d.%02d', spend / 100, spend % 100) || ',' ||
                 printf('%d.%02d', ((2 * spend + leads) / (2 * leads)) / 100, ((2 * spend + leads) / (2 * leads)) % 100) || ',' ||
                 CASE WHEN won > 0 THEN printf('%d.%02d', ((2 * spend + won) / (2 * won)) / 100,
                                               ((2 * spend + won) / (2 * won)) % 100)
                      ELSE '' END || ',' ||
                 -- ROMI = (revenue - spend) / spend = -100% with no revenue
                 CASE WHEN spend > 0 THEN '-100.0' ELSE '' END
       END || ',' ||
       -- no source of Olist is testable: every row gives its reason
       CASE WHEN dim = 'team' THEN ',,,,'
            ELSE ',,,,' || (SELECT why FROM untestable u WHERE u.bucket = ch.bucket AND u.source = ch.name)
       END
  FROM channels ch;

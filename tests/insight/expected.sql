-- expected.sql: the handling, velocity and forecast reports of generated
-- events (tests/bench/gen_events, the funnel of tests/bench/bench_rules.lua),
-- computed in plain SQL from the raw events: an independent reading of
-- docs/METRICS.md 4f, 4h and 4i.  Prints the CSV lines of
--   salesengine --format csv --period month --as-of 2026-01-01T00:00:00Z
--               --report handling,velocity,forecast bench_rules.lua
-- except the stale list (run.sh leaves it out).  Input: the table `events`
-- as `.import --csv` makes it (all TEXT).  Defaults: SLA 1 day, stale
-- multiple 3, shrinkage 10, no stage probability.

CREATE TEMP TABLE args AS SELECT unixepoch('2026-01-01T00:00:00Z') AS as_of, 86400 AS sla;

-- the funnel of bench_rules.lua: stages 0..5 (5 = won), 6 lost, 7 non-target
CREATE TEMP TABLE status_class (name TEXT PRIMARY KEY, code INTEGER NOT NULL);
INSERT INTO status_class VALUES
	('Новый лид', 0), ('Новая заявка', 0), ('New lead', 0),
	('Квалификация', 1), ('Презентация', 2), ('КП отправлено', 3),
	('Счёт выставлен', 4), ('Оплачено', 5),
	('Отказ', 6), ('Закрыто и не реализовано', 6),
	('Нецелевой', 7), ('Спам', 7);
CREATE TEMP TABLE stage (code INTEGER PRIMARY KEY, name TEXT, presale INTEGER);
INSERT INTO stage VALUES (0, 'Новый лид', 0), (1, 'Квалификация', 0), (2, 'Презентация', 0),
	(3, 'КП отправлено', 1), (4, 'Счёт выставлен', 1);

-- deal attributes from every event: latest manager and amount, earliest
-- source; names quoted for CSV (RFC 4180) only when they need it
CREATE TEMP TABLE attr_raw AS
SELECT deal_id AS deal,
       coalesce(substr(max(CASE WHEN manager <> '' THEN ts || event_id || char(1) || manager END),
                       instr(max(CASE WHEN manager <> '' THEN ts || event_id || char(1) || manager END), char(1)) + 1),
                '(none)') AS manager,
       coalesce(substr(min(CASE WHEN source <> '' THEN ts || event_id || char(1) || source END),
                       instr(min(CASE WHEN source <> '' THEN ts || event_id || char(1) || source END), char(1)) + 1),
                '(none)') AS source,
       coalesce(CAST(round(CAST(substr(max(CASE WHEN amount <> '' THEN ts || event_id || char(1) || amount END),
                       instr(max(CASE WHEN amount <> '' THEN ts || event_id || char(1) || amount END), char(1)) + 1)
                       AS REAL) * 100) AS INTEGER), 0) AS kop
  FROM events GROUP BY deal_id;
CREATE TEMP TABLE attr AS
SELECT deal, kop,
       CASE WHEN manager GLOB '*[,"]*' THEN '"' || replace(manager, '"', '""') || '"' ELSE manager END AS manager,
       CASE WHEN source GLOB '*[,"]*' THEN '"' || replace(source, '"', '""') || '"' ELSE source END AS source
  FROM attr_raw;
CREATE UNIQUE INDEX temp.attr_deal ON attr (deal);

-- resolving events in (ts, event_id) order
CREATE TEMP TABLE rev AS
SELECT e.deal_id AS deal, unixepoch(e.ts) AS t, c.code AS code,
       row_number() OVER (PARTITION BY e.deal_id ORDER BY e.ts, e.event_id) AS rn
  FROM events e JOIN status_class c ON c.name = trim(e.stage, ' ');
CREATE INDEX temp.rev_deal ON rev (deal, rn);

-- ---- handling: lead event (the first resolving one) and first move --------
CREATE TEMP TABLE lead AS
SELECT l.deal, l.t AS lead_t, strftime('%Y-%m', l.t, 'unixepoch') AS bucket, a.manager, a.source,
       CASE WHEN l.code <> 0 THEN l.code
            ELSE (SELECT code FROM rev m WHERE m.deal = l.deal AND m.rn > 1 AND m.code <> 0 ORDER BY m.rn LIMIT 1)
       END AS move_code,
       CASE WHEN l.code <> 0 THEN l.t
            ELSE (SELECT t FROM rev m WHERE m.deal = l.deal AND m.rn > 1 AND m.code <> 0 ORDER BY m.rn LIMIT 1)
       END AS move_t
  FROM rev l JOIN attr a ON a.deal = l.deal WHERE l.rn = 1;

CREATE TEMP TABLE hgrp AS
SELECT bucket, 'team' AS dim, '*' AS name, * FROM lead
UNION ALL SELECT bucket, 'manager', manager, * FROM lead
UNION ALL SELECT bucket, 'source', source, * FROM lead;

-- nearest rank over a (g, v) list: rank (n + 1) / 2 and (9 n + 9) / 10
CREATE TEMP TABLE hq AS
SELECT bucket, dim, name, v, row_number() OVER w AS rn, count(*) OVER (PARTITION BY bucket, dim, name) AS n
  FROM (SELECT bucket, dim, name, move_t - lead_t AS v FROM hgrp WHERE move_code IS NOT NULL)
WINDOW w AS (PARTITION BY bucket, dim, name ORDER BY v);

CREATE TEMP TABLE handling AS
SELECT g.bucket, g.dim, g.name, count(*) AS leads,
       count(CASE WHEN move_code BETWEEN 1 AND 5 THEN 1 END) AS taken,
       count(CASE WHEN move_code = 6 THEN 1 END) AS released, count(CASE WHEN move_code = 7 THEN 1 END) AS nontarget,
       count(CASE WHEN move_code IS NULL AND (SELECT as_of FROM args) - lead_t > (SELECT sla FROM args) THEN 1 END) AS unprocessed,
       count(CASE WHEN move_code IS NULL AND (SELECT as_of FROM args) - lead_t <= (SELECT sla FROM args) THEN 1 END) AS waiting,
       (SELECT v FROM hq WHERE hq.bucket = g.bucket AND hq.dim = g.dim AND hq.name = g.name AND rn = (n + 1) / 2) AS med,
       (SELECT v FROM hq WHERE hq.bucket = g.bucket AND hq.dim = g.dim AND hq.name = g.name AND rn = (9 * n + 9) / 10) AS p90
  FROM hgrp g GROUP BY g.bucket, g.dim, g.name;

-- ---- velocity: stays -------------------------------------------------------
-- state: the stage, or -1 for lost and non-target; a stay starts where the
-- state changes and ends where the next one starts
CREATE TEMP TABLE seg AS
SELECT deal, state, t AS start_t, lead(t) OVER (PARTITION BY deal ORDER BY rn) AS end_t,
       row_number() OVER (PARTITION BY deal ORDER BY rn DESC) AS from_last
  FROM (SELECT deal, rn, t, state, lag(state) OVER (PARTITION BY deal ORDER BY rn) AS prev
          FROM (SELECT deal, rn, t, CASE WHEN code <= 5 THEN code ELSE -1 END AS state FROM rev))
 WHERE prev IS NULL OR prev <> state;

CREATE TEMP TABLE cur AS SELECT deal, state, start_t FROM seg WHERE from_last = 1;

CREATE TEMP TABLE stay AS
SELECT s.deal, s.state AS stage, a.manager,
       (SELECT end_t - start_t FROM seg x WHERE x.deal = s.deal AND x.state = s.state AND x.end_t IS NOT NULL
         ORDER BY x.start_t DESC LIMIT 1) AS latest,
       sum(s.end_t - s.start_t) AS total
  FROM seg s JOIN attr a ON a.deal = s.deal JOIN cur c ON c.deal = s.deal
 WHERE s.state BETWEEN 0 AND 4 AND s.end_t IS NOT NULL AND c.state <> s.state
 GROUP BY s.deal, s.state;

CREATE TEMP TABLE vgrp AS
SELECT stage, 'team' AS dim, '*' AS name, latest, total FROM stay
UNION ALL SELECT stage, 'manager', manager, latest, total FROM stay;

CREATE TEMP TABLE vq AS
SELECT stage, dim, name, latest, total,
       row_number() OVER (PARTITION BY stage, dim, name ORDER BY latest) AS rl,
       row_number() OVER (PARTITION BY stage, dim, name ORDER BY total) AS rt,
       count(*) OVER (PARTITION BY stage, dim, name) AS n
  FROM vgrp;

CREATE TEMP TABLE vstat AS
SELECT stage, dim, name, max(n) AS n,
       max(CASE WHEN rl = (n + 1) / 2 THEN latest END) AS l50, max(CASE WHEN rl = (9 * n + 9) / 10 THEN latest END) AS l90,
       max(CASE WHEN rt = (n + 1) / 2 THEN total END) AS t50, max(CASE WHEN rt = (9 * n + 9) / 10 THEN total END) AS t90
  FROM vq GROUP BY stage, dim, name;

-- open deals now, stale against the team's median latest stay
CREATE TEMP TABLE opn AS
SELECT c.deal, c.state AS stage, a.manager,
       (SELECT as_of FROM args) - c.start_t > 3 * (SELECT l50 FROM vstat v WHERE v.stage = c.state AND v.dim = 'team') AS stale
  FROM cur c JOIN attr a ON a.deal = c.deal WHERE c.state BETWEEN 0 AND 4;

CREATE TEMP TABLE velocity AS
SELECT k.stage, k.dim, k.name, coalesce(v.n, 0) AS n, v.l50, v.l90, v.t50, v.t90,
       coalesce(o.open, 0) AS open, coalesce(o.stale, 0) AS stale
  FROM (SELECT stage, dim, name FROM vstat
        UNION SELECT stage, 'team', '*' FROM opn UNION SELECT stage, 'manager', manager FROM opn) k
  LEFT JOIN vstat v ON v.stage = k.stage AND v.dim = k.dim AND v.name = k.name
  LEFT JOIN (SELECT stage, 'team' AS dim, '*' AS name, count(*) AS open, sum(coalesce(stale, 0)) AS stale FROM opn GROUP BY stage
             UNION ALL
             SELECT stage, 'manager', manager, count(*), sum(coalesce(stale, 0)) FROM opn GROUP BY stage, manager) o
    ON o.stage = k.stage AND o.dim = k.dim AND o.name = k.name;

-- time to won: first event at won minus the lead event
CREATE TEMP TABLE towon AS
SELECT l.manager, w.t - l.lead_t AS v
  FROM lead l JOIN (SELECT deal, min(t) AS t FROM rev WHERE code = 5 GROUP BY deal) w ON w.deal = l.deal;
CREATE TEMP TABLE wq AS
SELECT dim, name, v, row_number() OVER (PARTITION BY dim, name ORDER BY v) AS rn,
       count(*) OVER (PARTITION BY dim, name) AS n
  FROM (SELECT 'team' AS dim, '*' AS name, v FROM towon UNION ALL SELECT 'manager', manager, v FROM towon);

-- ---- forecast --------------------------------------------------------------
-- reached(s) (reached mode): the first event at s or any later stage
CREATE TEMP TABLE dstate AS
SELECT r.deal, a.manager, a.kop, c.state AS cur_state,
       (SELECT code FROM rev x WHERE x.deal = r.deal ORDER BY rn DESC LIMIT 1) AS last_code,
       max(CASE WHEN r.code <= 5 THEN r.code END) AS top,
       min(CASE WHEN r.code = 5 THEN r.t END) AS won_t,
       min(CASE WHEN r.code BETWEEN 3 AND 5 THEN r.t END) AS r3,
       min(CASE WHEN r.code BETWEEN 4 AND 5 THEN r.t END) AS r4
  FROM rev r JOIN attr a ON a.deal = r.deal JOIN cur c ON c.deal = r.deal GROUP BY r.deal;

CREATE TEMP TABLE rates AS   -- closed deals (not open now) that reached s
SELECT s.code AS stage, d.manager, count(*) AS closed, sum(d.won_t IS NOT NULL) AS won
  FROM dstate d JOIN stage s ON s.presale AND d.top >= s.code
 WHERE d.last_code >= 5 GROUP BY s.code, d.manager;

CREATE TEMP TABLE team_rate AS
SELECT stage, sum(won) AS tw, sum(closed) AS tc, 1.0 * sum(won) / sum(closed) AS p FROM rates GROUP BY stage;

CREATE TEMP TABLE fparts AS
SELECT o.stage, o.manager, o.deals, o.kop, coalesce(r.won, 0) AS won, coalesce(r.closed, 0) AS closed,
       coalesce(t.p, 0) AS p, (coalesce(r.won, 0) + 10.0 * coalesce(t.p, 0)) / (coalesce(r.closed, 0) + 10.0) AS shrunk
  FROM (SELECT last_code AS stage, manager, count(*) AS deals, sum(kop) AS kop FROM dstate
         WHERE last_code IN (3, 4) GROUP BY last_code, manager) o
  LEFT JOIN rates r ON r.stage = o.stage AND r.manager = o.manager
  LEFT JOIN team_rate t ON t.stage = o.stage;
CREATE TEMP TABLE fpart AS SELECT *, CAST(round(kop * shrunk) AS INTEGER) AS fc FROM fparts;

-- time to close from each pre-sale stage: won deals that reached it
CREATE TEMP TABLE tc AS
SELECT stage, v, row_number() OVER (PARTITION BY stage ORDER BY v) AS rn, count(*) OVER (PARTITION BY stage) AS n
  FROM (SELECT 3 AS stage, won_t - r3 AS v FROM dstate WHERE won_t IS NOT NULL AND r3 IS NOT NULL
        UNION ALL SELECT 4, won_t - r4 FROM dstate WHERE won_t IS NOT NULL AND r4 IS NOT NULL);
CREATE TEMP TABLE tcm AS SELECT stage, v AS med FROM tc WHERE rn = (n + 1) / 2;

CREATE TEMP TABLE fmonth AS
SELECT coalesce(strftime('%Y-%m', max(CASE d.last_code WHEN 3 THEN d.r3 ELSE d.r4 END + m.med, (SELECT as_of FROM args)),
                         'unixepoch'), 'unknown') AS month,
       d.kop, d.last_code AS stage, d.manager
  FROM dstate d LEFT JOIN tcm m ON m.stage = d.last_code WHERE d.last_code IN (3, 4);

-- ---- printing --------------------------------------------------------------
.mode list
.headers off
.nullvalue ''

SELECT 'report,funnel,period,dimension,name,leads,taken,released,nontarget,unprocessed,waiting,first_move_median_h,first_move_p90_h';
SELECT 'report,funnel,stage,dimension,name,deals,stay_median_h,stay_p90_h,total_median_h,total_p90_h,open,stale';
SELECT 'report,funnel,dimension,name,won,median_h,p90_h';
SELECT 'report,funnel,stage,dimension,name,deals,amount,probability_pct,forecast_stage,won,closed,team_rate_pct,shrunk_rate_pct,forecast_shrunk';
SELECT 'report,funnel,month,deals,amount,forecast_stage,forecast_shrunk';
SELECT '';
SELECT '';
SELECT '';
SELECT '';
SELECT '';

-- hours: tenths = floor((2 s + 360) / 720); money: kopecks as d.dd
SELECT 'handling,sales,' || bucket || ',' || dim || ',' || name || ',' || leads || ',' || taken || ',' || released || ',' ||
       nontarget || ',' || unprocessed || ',' || waiting || ',' ||
       coalesce(((2 * med + 360) / 720 / 10) || '.' || ((2 * med + 360) / 720 % 10), '') || ',' ||
       coalesce(((2 * p90 + 360) / 720 / 10) || '.' || ((2 * p90 + 360) / 720 % 10), '')
  FROM handling;

SELECT 'velocity,sales,' || s.name || ',' || dim || ',' || v.name || ',' || n || ',' ||
       coalesce(((2 * l50 + 360) / 720 / 10) || '.' || ((2 * l50 + 360) / 720 % 10), '') || ',' ||
       coalesce(((2 * l90 + 360) / 720 / 10) || '.' || ((2 * l90 + 360) / 720 % 10), '') || ',' ||
       coalesce(((2 * t50 + 360) / 720 / 10) || '.' || ((2 * t50 + 360) / 720 % 10), '') || ',' ||
       coalesce(((2 * t90 + 360) / 720 / 10) || '.' || ((2 * t90 + 360) / 720 % 10), '') || ',' || open || ',' || stale
  FROM velocity v JOIN stage s ON s.code = v.stage;

SELECT 'time_to_won,sales,' || dim || ',' || name || ',' || max(n) || ',' ||
       max(CASE WHEN rn = (n + 1) / 2 THEN ((2 * v + 360) / 720 / 10) || '.' || ((2 * v + 360) / 720 % 10) END) || ',' ||
       max(CASE WHEN rn = (9 * n + 9) / 10 THEN ((2 * v + 360) / 720 / 10) || '.' || ((2 * v + 360) / 720 % 10) END)
  FROM wq GROUP BY dim, name;

SELECT 'forecast,sales,' || s.name || ',manager,' || f.manager || ',' || deals || ',' || printf('%d.%02d', kop / 100, kop % 100) ||
       ',,0.00,' || won || ',' || closed || ',' ||
       (CAST(round(p * 1000) AS INTEGER) / 10) || '.' || (CAST(round(p * 1000) AS INTEGER) % 10) || ',' ||
       (CAST(round(shrunk * 1000) AS INTEGER) / 10) || '.' || (CAST(round(shrunk * 1000) AS INTEGER) % 10) || ',' ||
       printf('%d.%02d', fc / 100, fc % 100)
  FROM fpart f JOIN stage s ON s.code = f.stage;

SELECT 'forecast,sales,' || s.name || ',team,*,' || sum(deals) || ',' || printf('%d.%02d', sum(kop) / 100, sum(kop) % 100) ||
       ',,0.00,' || coalesce(t.tw, 0) || ',' || coalesce(t.tc, 0) || ',,' ||
       CASE WHEN sum(kop) > 0 THEN ((2000 * sum(fc) + sum(kop)) / (2 * sum(kop)) / 10) || '.' || ((2000 * sum(fc) + sum(kop)) / (2 * sum(kop)) % 10)
            ELSE '' END || ',' || printf('%d.%02d', sum(fc) / 100, sum(fc) % 100)
  FROM fpart f JOIN stage s ON s.code = f.stage LEFT JOIN team_rate t ON t.stage = f.stage
 GROUP BY f.stage;

SELECT 'forecast,sales,*,team,*,' || sum(deals) || ',' || printf('%d.%02d', sum(kop) / 100, sum(kop) % 100) || ',,0.00,0,0,,' ||
       CASE WHEN sum(kop) > 0 THEN ((2000 * sum(fc) + sum(kop)) / (2 * sum(kop)) / 10) || '.' || ((2000 * sum(fc) + sum(kop)) / (2 * sum(kop)) % 10)
            ELSE '' END || ',' || printf('%d.%02d', sum(fc) / 100, sum(fc) % 100)
  FROM fpart;

-- by close month: each deal's own rounded part
SELECT 'forecast_month,sales,' || month || ',' || count(*) || ',' || printf('%d.%02d', sum(m.kop) / 100, sum(m.kop) % 100) ||
       ',0.00,' || printf('%d.%02d', sum(CAST(round(m.kop * f.shrunk) AS INTEGER)) / 100,
                          sum(CAST(round(m.kop * f.shrunk) AS INTEGER)) % 100)
  FROM fmonth m JOIN fpart f ON f.stage = m.stage AND f.manager = m.manager GROUP BY month;

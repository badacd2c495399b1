-- example.lua: the rules for the bundled sample data
-- (scripts/data/sample_events.csv).  Run:
--   build/salesengine --db build/sample.db --import scripts/data/sample_events.csv scripts/example.lua
-- The whole script API is in docs/SCRIPTING.md; every number the reports
-- print is defined in docs/METRICS.md.

-- The team works in Moscow: its days, weeks and months start there.
settings {
  timezone = "Europe/Moscow",
  period = "month",
  mode = "reached",      -- a deal seen at a later stage passed the ones it skipped
  -- For the diagnostic reports (--report all; docs/METRICS.md 4f-4k):
  sla = "2h",            -- a new lead untouched for longer is "unprocessed"
  stale_multiple = 3,    -- a deal 3x longer in its stage than the median is stale
  shrinkage = 10,        -- a manager's win rate counts 10 deals of the team's rate
  spend = {              -- ad spend per source and month: CPL, CPS, ROMI
    ["Яндекс.Директ"] = { ["2025-01"] = 150000, ["2025-02"] = 120000 },
  },
}

funnel {
  name = "продажи",
  stages = {
    -- Several CRM statuses can mean one stage: list the other names as aliases.
    { "Новый лид", aliases = { "Новая заявка", "New lead" } },
    "Квалификация",
    "Презентация",
    -- Deals now at a pre-sale stage make the forecast.
    -- probability: the chance to win from here, for the stage forecast.
    { "КП отправлено", presale = true, probability = 0.3 },
    { "Счёт выставлен", presale = true, probability = 0.6 },
    "Оплачено",
  },
  won = "Оплачено",
  lost = { "Отказ", "Закрыто и не реализовано" },
  nontarget = { "Нецелевой", "Спам" },
  -- Every adjacent step is reported; these are extra.
  pairs = {
    { "Новый лид", "Оплачено" },                       -- lead to sale
    { "Презентация", "Оплачено", window = "30d" },     -- closed within a month of the presentation
    { "КП отправлено", "Оплачено", mode = "touched" }, -- only deals that really got a quote
  },
}

-- Custom metrics: printed next to the built-in reports, per month, for the
-- team, each manager and each source (docs/SCRIPTING.md, "Custom metrics").
local m = require "metrics"

metric { name = "quotes_per_presentation", title = "КП на презентацию",
         value = m.per("КП отправлено", "Презентация") }
metric { name = "average_deal", title = "средний чек", format = "money", value = m.average_deal }
metric { name = "revenue_per_lead", title = "выручка на лид", format = "money",
         value = m.revenue_per_lead }

-- An alert rule, evaluated by `salesengine --alerts scripts/example.lua`
-- (from cron): a manager whose presentations stop turning into quotes.  On
-- the bundled sample data (early 2024), try it as of a day in March:
--   build/salesengine --db build/sample.db --alerts=all --as-of 2024-03-20 scripts/example.lua
-- (pending on the first run, firing from the second).
rule {
  name = "presentation_to_quote",
  scope = "manager",
  window = "previous",        -- last month, a finished one
  metric = "conversion", from = "Презентация", to = "КП отправлено",
  op = "<", threshold = 0.40,
  min_sample = 5,             -- fewer presentations in the month: too early to judge
  hold = 2,                   -- two runs in a row before anyone is paged
  severity = "warning",
  message = "{manager}: презентация → КП {value} (порог {threshold}, {sample} презентаций)",
}

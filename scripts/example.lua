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
}

funnel {
  name = "продажи",
  stages = {
    -- Several CRM statuses can mean one stage: list the other names as aliases.
    { "Новый лид", aliases = { "Новая заявка", "New lead" } },
    "Квалификация",
    "Презентация",
    -- Deals now at a pre-sale stage make the forecast.
    { "КП отправлено", presale = true },
    { "Счёт выставлен", presale = true },
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

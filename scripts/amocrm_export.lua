-- Rules for a team that downloads amoCRM's lead list (Сделки, Экспорт)
-- every day and imports it as it is, without an adapter:
--
--   salesengine --db sales.db --import leads_2026-12-01.csv scripts/amocrm_export.lua
--
-- columns{} says which of the export's columns is which (the bundled
-- mapping, docs/IMPORTERS.md "UI exports"), plus the team's own source
-- field. Each day's export adds the moves since the last one; a lead that
-- did not change is the same event again and is not stored twice.
local amo = require("amocrm")

columns(require "columns.amocrm")
columns { source = "utm_source" }

settings { timezone = "Europe/Moscow", input_timezone = "Europe/Moscow", period = "week" }

funnel {
  name = "воронка",
  stages = amo.default_stages { presale = { "Согласование договора" } },
  won = amo.won,
  lost = amo.lost,
}

-- columns.bitrix24: the deals list export of Bitrix24's Russian interface
-- (CRM, Сделки, the settings menu, "Экспорт в CSV"), for columns{}:
--
--   columns(require "columns.bitrix24")
--
-- One row per deal as it is now: the deal at its stage ("Стадия сделки")
-- when it was last changed ("Дата изменения"). Import exports taken day
-- after day and the moves between them are kept; an unchanged deal
-- exported again is the same event (deal, time and stage are its identity).
-- The CSV export is usually cp1251: import it with --encoding cp1251.
-- Not mapped: the pipeline, which the interface calls "Направление" in
-- some versions and "Воронка" in others: add yours, e.g.
-- columns { pipeline = "Воронка" }. Header names: docs/IMPORTERS.md,
-- "UI exports"; sample: tests/fixtures/importers/ui_bitrix24/.
return {
  deal_id = "ID",
  ts = "Дата изменения",
  stage = "Стадия сделки",
  manager = "Ответственный",
  source = "Источник",
  amount = "Сумма",
}

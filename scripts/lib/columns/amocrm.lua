-- columns.amocrm: the leads export of amoCRM's Russian interface
-- (Сделки, the list's menu, "Экспорт"), for columns{}:
--
--   columns(require "columns.amocrm")
--
-- The export has one row per lead as it is now, so each row is one event:
-- the lead at its current stage ("Этап сделки") when it was last edited
-- ("Дата редактирования"). Import each day's (or week's) export and the
-- store collects the moves between them; a lead exported again unchanged
-- is the same event (no event id: deal, time and stage are its identity).
--
-- Not mapped: "Источник", which the export can hold twice (the lead's and
-- the contact's field); name your own source column in a second columns{},
-- e.g. columns { source = "utm_source" }. Times are the account's local
-- time: set settings { input_timezone = "Europe/Moscow" } (or yours).
-- Header names: docs/IMPORTERS.md, "UI exports"; sample:
-- tests/fixtures/importers/ui_amocrm/.
return {
  deal_id = "ID",
  ts = "Дата редактирования",
  stage = "Этап сделки",
  manager = "Ответственный",
  amount = "Бюджет",
  pipeline = "Воронка",
}

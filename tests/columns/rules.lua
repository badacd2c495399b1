-- A Russian CRM's status-history export, read with columns{} alone: no
-- adapter, no event id (each event is known by its deal, time and status).
columns {
  deal_id = "Сделка",
  ts = "Дата изменения",
  ts_format = "DD.MM.YYYY HH:MM",
  stage = "Новый статус",
  from_stage = "Старый статус",
  manager = "Ответственный",
  source = "Источник",
  amount = "Бюджет, руб.",
  pipeline = { value = "Продажи" },
}

settings { timezone = "Europe/Moscow", input_timezone = "Europe/Moscow" }

funnel {
  name = "Продажи",
  stages = { "Новая заявка", "Квалификация", "Счёт выставлен", "Успешно реализовано" },
  won = "Успешно реализовано",
  lost = { "Закрыто и не реализовано" },
}

-- Funnel of the synthetic benchmark data (tests/bench/gen_events.c).
-- reference.sql encodes the same funnel by hand: change both together.
settings {
  timezone = "UTC",
  mode = "reached",
  period = "month",
}

funnel {
  name = "sales",
  stages = {
    { "Новый лид", aliases = { "Новая заявка", "New lead" } },
    "Квалификация",
    "Презентация",
    { "КП отправлено", presale = true },
    { "Счёт выставлен", presale = true },
    "Оплачено",
  },
  won = "Оплачено",
  lost = { "Отказ", "Закрыто и не реализовано" },
  nontarget = { "Нецелевой", "Спам" },
  pairs = {
    { "Новый лид", "Оплачено" },
    { "Презентация", "Оплачено", window = "30d" },
  },
}

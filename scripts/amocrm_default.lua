-- Rules for a team on amoCRM's default pipeline, names untouched.
-- Shows require(): the names live in scripts/lib/amocrm.lua.
local amo = require("amocrm")

settings { timezone = "Europe/Moscow", period = "week" }

funnel {
  name = "воронка",
  stages = amo.default_stages { presale = { "Принимают решение", "Согласование договора" } },
  won = amo.won,
  lost = amo.lost,
  pairs = {
    { "Первичный контакт", amo.won },
    { "Переговоры", amo.won, window = "60d" },
  },
}

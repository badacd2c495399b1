-- real_estate.lua: a real estate agency in Moscow that sells flats in new
-- buildings (commission paid by the developer) and on the resale market
-- (commission paid by the client), each in its own amoCRM pipeline.
--
--   build/salesengine --db agency.db --import amocrm_export.csv scripts/real_estate.lua
--   build/salesengine --db agency.db --alerts scripts/real_estate.lua   # from cron, twice a day
--   build/salesengine test scripts/real_estate_test.lua
--
-- What this example shows: two funnels told apart by the export's
-- `pipeline` column, built from one Lua function (the script is plain
-- Lua); a booking as the pre-sale stage; a metric limited to one funnel
-- and one that reads the scope's funnel name; a `when` rule with
-- min_sample; a per-source rule on a custom metric.  The API is in
-- docs/SCRIPTING.md, the numbers in docs/METRICS.md.

local m = require "metrics"

-- A flat is bought over weeks, not days: months are the natural period,
-- and the agency's plans and bonuses are monthly.
settings {
  timezone = "Europe/Moscow",
  input_timezone = "Europe/Moscow",
  period = "month",
}

-- Both pipelines walk the same road: request, viewing booked, viewing
-- held, booking (the client pays to take the flat off the market), deal.
-- One function builds both, so a status renamed in amoCRM is renamed once.
-- `won_aliases` differ: a new-building deal is closed when the equity
-- participation agreement (ДДУ) is signed, a resale one at the sale
-- contract.
local function agency_funnel(name, pipeline, won_aliases, booking_aliases)
  funnel {
    name = name,
    -- Events whose pipeline is another one are not this funnel's (events
    -- with no pipeline at all belong to the first funnel that knows them).
    pipelines = pipeline,
    stages = {
      -- Requests come from listings sites, calls and the website form.
      { "Заявка", aliases = { "Новая заявка", "Заявка с сайта", "Входящий звонок" } },
      { "Показ назначен", aliases = { "Назначен просмотр" } },
      -- Both spellings: with ё and the one typed on a phone.
      { "Показ проведён", aliases = { "Показ проведен", "Просмотр состоялся" } },
      -- A booking is money on the table: the pre-sale report and its
      -- forecast list the flats under booking now.
      { "Бронь", aliases = booking_aliases, presale = true },
      { "Сделка", aliases = won_aliases },
    },
    won = "Сделка",
    lost = { "Отказ", "Не дозвонились", "Купил без агентства" },
    -- Other realtors fishing for listings and repeated requests of a known
    -- client are not leads: they would make every source look worse.
    nontarget = { "Нецелевой", "Риелтор", "Дубль" },
    pairs = {
      -- Request to deal, the agency's headline number.
      { "Заявка", "Сделка" },
      -- A viewing that does not lead to a booking within two weeks rarely
      -- does later (the client keeps looking): a windowed, non-adjacent pair.
      { "Показ назначен", "Бронь", window = "14d" },
      -- Held viewing to deal within two months: how well viewings sell.
      { "Показ проведён", "Сделка", window = "60d" },
    },
  }
end

agency_funnel("Новостройки", "Новостройки", { "ДДУ подписан", "Сделка закрыта" },
  { "Бронирование", "Платная бронь" })
agency_funnel("Вторичка", "Вторичка", { "ДКП подписан", "Сделка закрыта" },
  { "Аванс", "Задаток" })

-- Viewings held of those booked: clients who do not come were not called
-- the day before.  The sample is the viewings booked.
metric {
  name = "show_rate",
  title = "Показы: проведено из назначенных",
  format = "percent",
  value = m.step("Показ назначен", "Показ проведён"),
}

-- The average flat sold in the month.
metric { name = "avg_deal", title = "Средняя сделка, ₽", format = "money", value = m.average_deal }

-- Realtors, duplicates and other non-target requests among the month's
-- requests; the per-source rule below reads it.
metric { name = "nontarget_share", title = "Доля нецелевых", format = "percent", value = m.nontarget_share }

-- Only for new buildings: held viewings that ended in a booking (for
-- resale the booking is often skipped, so the number would mislead there).
metric {
  name = "booking_rate",
  title = "Показ → бронь",
  format = "percent",
  funnel = "Новостройки",
  value = m.step("Показ проведён", "Бронь"),
}

-- Written inline: the agency's own revenue.  The deal amount is the flat's
-- price; the commission rate depends on the market, read from the scope's
-- funnel name.
local COMMISSION = { ["Новостройки"] = 0.04, ["Вторичка"] = 0.025 }
metric {
  name = "commission",
  title = "Комиссия агентства, ₽",
  format = "money",
  value = function(s)
    local deals, revenue = s:won()
    if deals == 0 then
      return nil, 0
    end
    return revenue * COMMISSION[s.funnel], deals
  end,
}

-- Written inline: viewings held per deal closed in the month: how many
-- times an agent drives across Moscow for one sale.
metric {
  name = "shows_per_sale",
  title = "Показов на сделку",
  value = function(s)
    local deals = s:won()
    return m.ratio(s:reached("Показ проведён"), deals)
  end,
}

-- Written inline: flats under booking now, in rubles (the period does not
-- apply to open deals).
metric {
  name = "booked_amount",
  title = "В брони сейчас, ₽",
  format = "money",
  value = function(s)
    local deals, amount = s:open("Бронь")
    return amount, deals
  end,
}

-- An agent whose clients do not come to viewings: under 60% of this
-- month's booked viewings held, at least 5 booked, on two runs in a row
-- (the cron runs at 10:00 and 19:00, so a day of data).
rule {
  name = "no_show_drop",
  scope = "manager",
  metric = "conversion", from = "Показ назначен", to = "Показ проведён",
  op = "<", threshold = 0.6,
  min_sample = 5,
  hold = 2,
  severity = "warning",
  message = "{manager} ({funnel}): проведено {value} назначенных показов < {threshold} ({sample} назначено)",
}

-- An agent who takes requests but shows nothing: no viewing held this
-- month although requests came in.  The sample is the month's requests,
-- so min_sample keeps an agent with four requests (perhaps on holiday
-- for part of the month) out of it; firing on the first run (hold 1).
rule {
  name = "leads_without_shows",
  scope = "manager",
  when = function(s)
    local leads = s:leads()
    return s:reached("Показ проведён") == 0, leads, leads
  end,
  min_sample = 5,
  severity = "warning",
  message = "{manager} ({funnel}): {value} заявок за месяц и ни одного проведённого показа",
}

-- A listings site that stopped sending buyers: half or more of its
-- requests this month are realtors and duplicates (at least 6 requests).
-- The rule reads the nontarget_share metric declared above; its sample
-- is the source's requests, so min_sample works on it.
rule {
  name = "source_junk",
  scope = "source",
  metric = "nontarget_share",
  op = ">=", threshold = 0.5,
  min_sample = 6,
  severity = "info",
  message = "{source} ({funnel}): нецелевых {value} из {sample} заявок — проверьте объявления",
}

-- retail_vk.lua: a small shop that sells through VK and Instagram direct
-- messages, with deals kept in a BlueSales-style CRM.
--
--   build/salesengine --db shop.db --import bluesales_export.csv scripts/retail_vk.lua
--   build/salesengine --db shop.db --alerts scripts/retail_vk.lua     # from cron, hourly
--   build/salesengine test scripts/retail_vk_test.lua                  # the rules' own tests
--
-- What this example shows: one funnel whose statuses are spelled several
-- ways (aliases), a pre-sale stage, extra conversion pairs with windows,
-- custom metrics from scripts/lib/metrics.lua and one written inline, and
-- alert rules kept in a file of their own (retail_vk_alerts.lua) loaded with
-- rules_file().  The API is in docs/SCRIPTING.md, the numbers in
-- docs/METRICS.md.

local m = require "metrics"

-- The shop works in Moscow: its weeks start on Monday 00:00 Moscow time.
-- A message shop lives week to week (ads are bought and judged weekly),
-- so reports and rules look at ISO weeks.  BlueSales exports local times
-- without an offset, hence input_timezone.
settings {
  timezone = "Europe/Moscow",
  input_timezone = "Europe/Moscow",
  period = "week",
  mode = "reached",   -- a client who paid at once still passed "consultation"
}

funnel {
  name = "розница",
  stages = {
    -- Managers create the deal from a VK or Instagram dialogue; older
    -- exports and the Instagram integration name the first status
    -- differently, so every spelling is an alias of one stage.
    { "Новый", aliases = { "Новый клиент", "Новое обращение", "Входящее сообщение" } },
    { "Консультация", aliases = { "В работе", "Подбор товара" } },
    -- An invoice (a payment link) is the last step the manager controls:
    -- the deals waiting here are the week's money in sight.  "Счет" without
    -- the letter ё is how a part of the team (and the API) writes it.
    { "Выставлен счёт", aliases = { "Выставлен счет", "Ожидает оплаты" }, presale = true },
    -- Shipping happens after payment, so those statuses still mean "paid".
    { "Оплачен", aliases = { "Оплачено", "Отправлен", "Доставлен" } },
  },
  won = "Оплачен",
  lost = { "Отказ", "Не отвечает", "Дорого" },
  -- Bots, resellers asking for a price list and duplicate dialogues are not
  -- buyers; counting them as lost would blame the manager for the ad.
  nontarget = { "Спам", "Дубль", "Оптовик" },
  pairs = {
    -- Lead to sale: the number the owner asks about first.
    { "Новый", "Оплачен" },
    -- Lead to invoice: the per-source alert uses it (a source whose leads
    -- never get an invoice has stopped selling, whatever it costs).
    { "Новый", "Выставлен счёт" },
    -- A message shop answers within the day or loses the client: the
    -- conversion report gets a row "consultation within 24 hours of the
    -- first message" next to the plain step; metrics read it with
    -- s:conversion("Новый", "Консультация", "24h").
    { "Новый", "Консультация", window = "24h" },
    -- An unpaid payment link goes cold within days: paid within 3 days of
    -- the consultation.  Not an adjacent step, so metrics can read it.
    { "Консультация", "Оплачен", window = "3d" },
  },
}

-- Consultation to invoice: how well a manager turns a chat into an order.
-- m.step returns the rate and its cohort, so rules can use min_sample.
metric {
  name = "invoice_rate",
  title = "Консультация → счёт",
  format = "percent",
  value = m.step("Консультация", "Выставлен счёт"),
}

-- The average paid order of the week.
metric { name = "avg_check", title = "Средний чек", format = "money", value = m.average_deal }

-- Revenue per incoming dialogue: what one lead from an ad is worth; the
-- number to compare with the cost per lead of each source.
metric { name = "revenue_per_lead", title = "Выручка на лид", format = "money", value = m.revenue_per_lead }

-- Spam and resellers among the week's dialogues: a source whose share
-- grows is buying the wrong audience.
metric { name = "spam_share", title = "Доля нецелевых", format = "percent", value = m.nontarget_share }

-- Written inline: money waiting in unpaid payment links right now (open
-- deals at "Выставлен счёт"; the period does not apply to open deals).
-- The sample is the number of such invoices.
metric {
  name = "unpaid_invoices",
  title = "Неоплаченные счета, ₽",
  format = "money",
  value = function(s)
    local deals, amount = s:open("Выставлен счёт")
    if deals == 0 then
      return nil, 0   -- no value rather than 0: nothing is waiting
    end
    return amount, deals
  end,
}

-- The alerts live in a file of their own: the head of sales edits them
-- often, and a typo there is reported as a failed rules file while the
-- funnel, the metrics and the weekly report above keep working.
rules_file("retail_vk_alerts.lua")

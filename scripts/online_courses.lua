-- online_courses.lua: an online school selling courses through a call
-- centre: ads bring hundreds of applications a week, managers call them,
-- hold a free consultation, send a payment link, and the client pays
-- (at once or by instalments).
--
--   build/salesengine --db school.db --import crm_export.csv scripts/online_courses.lua
--   build/salesengine --db school.db --alerts scripts/online_courses.lua   # cron, every 30 minutes
--   build/salesengine test scripts/online_courses_test.lua
--
-- What this example shows: a high-volume funnel judged weekly; a 72-hour
-- window (the discount deadline) on a non-adjacent pair; week-over-week
-- change with m.change (s:prev()); rules whose min_sample suits hundreds
-- of leads; a per-source `when` rule comparing this week with the last,
-- with its sample given by a separate `sample` function; a team rule on a
-- custom metric.  The API is in docs/SCRIPTING.md, the numbers in
-- docs/METRICS.md.

local m = require "metrics"

-- Ads are bought and judged by the week; the call centre works Moscow time.
-- The CRM exports times with their offset ("...+03:00"), so no
-- input_timezone is needed.
settings {
  timezone = "Europe/Moscow",
  period = "week",
}

funnel {
  name = "курсы",
  stages = {
    -- Landing page forms, webinar sign-ups and chat bots all create one.
    { "Заявка", aliases = { "Новая заявка", "Регистрация на вебинар", "Заявка с лендинга" } },
    -- Reaching the person at all is the first filter of a call centre.
    { "Дозвон", aliases = { "Дозвонились", "Связались" } },
    { "Консультация", aliases = { "Консультация проведена", "Диагностика" } },
    -- A payment link sent: the money of the next few days.
    { "Счёт", aliases = { "Выставлен счёт", "Ссылка на оплату отправлена" }, presale = true },
    -- An approved instalment plan is money the school gets (from the bank).
    { "Оплата", aliases = { "Оплачено", "Оплата получена", "Рассрочка одобрена" } },
  },
  won = "Оплата",
  -- "Недозвон": a lead not reached after all attempts is lost, not
  -- non-target: the school paid for it and the call centre missed it.
  lost = { "Отказ", "Недозвон", "Дорого", "Передумал" },
  nontarget = { "Спам", "Дубль", "Тестовая заявка", "Несовершеннолетний" },
  pairs = {
    { "Заявка", "Оплата" },
    -- Application to consultation: the per-source rule compares it week
    -- over week (a source's leads that stop taking consultations).
    { "Заявка", "Консультация" },
    -- The consultation's discount burns after 72 hours: paid within that
    -- window is the number the sales script is tuned for.
    { "Консультация", "Оплата", window = "72h" },
  },
}

-- Applications reached by phone: a call centre's first number.
metric { name = "reach_rate", title = "Дозвон", format = "percent", value = m.step("Заявка", "Дозвон") }

-- Revenue per application: compared with each source's cost per lead.
metric { name = "revenue_per_lead", title = "Выручка на заявку", format = "money", value = m.revenue_per_lead }

-- Bots, duplicates, test sign-ups and minors among the applications.
metric { name = "spam_share", title = "Доля спама", format = "percent", value = m.nontarget_share }

-- Applications against the previous week (0.1 = +10%).
metric { name = "leads_change", title = "Заявки к прошлой неделе", format = "percent", value = m.change("leads") }

-- Written inline: consultations of the week paid within the 72-hour
-- discount window.  The sample is the consultations, so a manager with
-- three of them shows a number but no rule should trust it.
metric {
  name = "paid_in_72h",
  title = "Оплата за 72 часа после консультации",
  format = "percent",
  value = function(s)
    local rate, _, consultations = s:conversion("Консультация", "Оплата", "72h")
    return rate, consultations
  end,
}

-- A manager whose consultations stop ending in a payment link: under 35%
-- of the week's consultations, at least 20 of them (fewer is noise at this
-- volume), on three runs in a row (an hour with a 30-minute cron).
rule {
  name = "invoice_rate_drop",
  scope = "manager",
  metric = "conversion", from = "Консультация", to = "Счёт",
  op = "<", threshold = 0.35,
  min_sample = 20,
  hold = 3,
  severity = "warning",
  message = "{manager}: консультация→счёт {value} < {threshold} ({sample} консультаций за неделю)",
}

-- Applications nobody has called: a lead called after an hour converts
-- several times worse than one called in five minutes.  More than 15 of a
-- manager's deals still at "Заявка" for half an hour: critical, repeated
-- every two hours while it lasts.
rule {
  name = "uncalled_leads",
  scope = "manager",
  when = function(s)
    local waiting = s:open("Заявка")
    return waiting > 15, waiting, waiting
  end,
  hold = "30m",
  repeat_every = "2h",
  severity = "critical",
  message = "{manager}: {value} заявок без звонка — очередь растёт",
}

-- A source that stopped converting: its applications of this week take
-- consultations at under half last week's rate.  No verdict (nil) when
-- either week has no rate or last week's was 0: a new source is not a
-- dropping one.  The sample, given by its own function, is this week's
-- applications from the source; at least 20.
rule {
  name = "source_stopped",
  scope = "source",
  when = function(s)
    local now = s:conversion("Заявка", "Консультация")
    local before = s:prev():conversion("Заявка", "Консультация")
    if now == nil or before == nil or before == 0 then
      return nil
    end
    return now < before / 2, now
  end,
  sample = function(s)
    local _, _, applications = s:conversion("Заявка", "Консультация")
    return applications
  end,
  min_sample = 20,
  severity = "warning",
  message = "Источник {source}: доля заявок с консультацией {value}, меньше половины прошлой недели ({sample} заявок)",
}

-- Bots found the landing page: more than 20% of the week's applications
-- are non-target, on at least 50 applications.  One alert for the school.
rule {
  name = "spam_wave",
  scope = "team",
  metric = "spam_share",
  op = ">", threshold = 0.2,
  min_sample = 50,
  severity = "info",
  message = "Спам {value} из {sample} заявок за неделю: проверьте капчу на лендингах",
}

-- retail_vk_alerts.lua: alert rules of scripts/retail_vk.lua, loaded by its
-- rules_file("retail_vk_alerts.lua").  Not a script of its own: the funnel
-- "розница" and its stages are declared there.  A mistake in this file is
-- reported as a failed rules file on every --alerts run (exit status 8)
-- while the main script and its reports keep working.
--
-- Run from cron every hour:  salesengine --db shop.db --alerts retail_vk.lua
-- The tests of these rules are in retail_vk_test.lua.

-- Every alert carries its funnel, manager and source as labels already;
-- labels = {...} adds more (for routing in a hook, or in the message).

-- A manager who consults but does not send payment links.  Judged on the
-- current week's consultations; fewer than 5 is too few to blame anyone
-- (one bad day of a new manager is not a trend), and it must hold on two
-- hourly runs in a row so a lunch break does not page the head of sales.
rule {
  name = "invoice_rate_drop",
  scope = "manager",
  metric = "conversion", from = "Консультация", to = "Выставлен счёт",
  op = "<", threshold = 0.30,
  min_sample = 5,
  hold = 2,
  severity = "warning",
  labels = { team = "розница", channel = "vk" },
  message = "{manager} ({team}): консультация→счёт {value} < {threshold} ({sample} консультаций за неделю)",
}

-- Unanswered dialogues: in a message shop a client who waits an hour buys
-- elsewhere.  More than 5 deals of one manager still at "Новый" (open now,
-- whatever week they came in) for an hour or more is worth a ping.
-- hold = "1h" counts time since the condition began to hold, not runs, so
-- it means the same whether cron runs every 5 minutes or every 30.
rule {
  name = "unanswered_dialogues",
  scope = "manager",
  when = function(s)
    local waiting = s:open("Новый")
    return waiting > 5, waiting, waiting   -- holds, value, sample
  end,
  hold = "1h",
  repeat_every = "4h",   -- still not answered: say it again twice a working day
  severity = "critical",
  message = "{manager}: {value} диалогов без ответа (больше 5) — клиенты ждут",
}

-- A source that stopped selling: at least 8 dialogues this week and not one
-- got an invoice.  Typically a VK ad set moved to the wrong audience or an
-- Instagram post that drew giveaway hunters; the money should be paused.
-- "Новый" -> "Выставлен счёт" is declared in pairs{} of the funnel.
rule {
  name = "source_no_invoices",
  scope = "source",
  metric = "conversion", from = "Новый", to = "Выставлен счёт",
  op = "==", threshold = 0,
  min_sample = 8,
  severity = "warning",
  message = "Источник {source}: {sample} обращений за неделю и ни одного счёта ({value}) — проверьте рекламу",
}

-- retail_vk_test.lua: rule tests for retail_vk.lua and its rules file
-- retail_vk_alerts.lua.  Run:
--   build/salesengine test scripts/retail_vk_test.lua
--
-- Each test{} starts from an empty database, releases the deals below as
-- the virtual clock reaches their times and runs the rules at every step,
-- keeping alert state between steps exactly as between cron runs.
--
-- The clock starts on Monday 2026-11-02 09:00 Moscow time and every step
-- stays inside that ISO week (2026-W45), so "the current week" the rules
-- judge is the same at every step.  A list given in a step (firing,
-- pending, resolved) must account for every alert in that state, from any
-- rule: an empty list says that nothing at all is in it.

local start = "2026-11-02 09:00"

-- invoice_rate_drop: consultation -> invoice below 30% for a manager,
-- at least 5 consultations, two runs in a row.
test {
  name = "invoice rate drop: pending on the 1st run, firing on the 2nd, resolved once",
  rules = "retail_vk.lua",
  start = start,
  -- Анна consults six clients and invoices nobody until the next day;
  -- Борис invoices three of five (60%) at once.  Six VK and five Instagram
  -- dialogues stay under the per-source rule's 8, and nothing waits at
  -- "Новый" by the first run.
  deals = [[
    # DEAL MANAGER SOURCE | OFFSET STATUS | ...
    A1 Анна ВКонтакте    | 0 Новый | 1h Консультация | 1d Выставлен счёт
    A2 Анна ВКонтакте    | 0 Новый | 1h Консультация | 1d Выставлен счёт
    A3 Анна ВКонтакте    | 0 Новый | 1h Консультация
    A4 Анна ВКонтакте    | 0 Новый | 1h Консультация
    A5 Анна ВКонтакте    | 0 Новый | 1h Консультация
    A6 Анна ВКонтакте    | 0 Новый | 1h Консультация
    B1 Борис Instagram   | 0 Новый | 1h Консультация | 2h Выставлен счёт
    B2 Борис Instagram   | 0 Новый | 1h Консультация | 2h Выставлен счёт
    B3 Борис Instagram   | 0 Новый | 1h Консультация | 2h Выставлен счёт
    B4 Борис Instagram   | 0 Новый | 1h Консультация
    B5 Борис Instagram   | 0 Новый | 1h Консультация
  ]],
  steps = {
    -- Анна: 0 of 6 < 30%, the first run that holds: pending, not firing.
    { at = "3h",
      pending = { { rule = "invoice_rate_drop", manager = "Анна", value = 0 } },
      firing = {} },
    -- The second run in a row: firing, for Анна alone (Борис 3/5 = 60%).
    { at = "4h",
      pending = {},
      firing = { { rule = "invoice_rate_drop", manager = "Анна", value = 0 } } },
    -- Still 0 of 6: stays firing, once (one alert, not a second one).
    { at = "20h",
      firing = { { rule = "invoice_rate_drop", manager = "Анна" } },
      resolved = {} },
    -- A1 and A2 got invoices at 1d: 2/6 = 33.3% >= 30%, resolved.
    { at = "1d1h",
      firing = {},
      resolved = { { rule = "invoice_rate_drop", manager = "Анна" } },
      -- invoice_rate = invoiced / consulted this week:
      --   Анна 2/6, Борис 3/5, team (2+3)/(6+5) = 5/11
      metrics = {
        { "invoice_rate", manager = "Анна", value = 2 / 6 },
        { "invoice_rate", manager = "Борис", value = 3 / 5 },
        { "invoice_rate", value = 5 / 11 },
      } },
    -- Resolved is announced once: the next run is quiet.
    { at = "1d2h", firing = {}, pending = {}, resolved = {} },
  },
}

test {
  name = "invoice rate drop stays silent under min_sample (4 consultations), not at 5",
  rules = "retail_vk.lua",
  start = start,
  deals = [[
    V1 Вера ВКонтакте | 0 Новый | 1h Консультация
    V2 Вера ВКонтакте | 0 Новый | 1h Консультация
    V3 Вера ВКонтакте | 0 Новый | 1h Консультация
    V4 Вера ВКонтакте | 0 Новый | 1h Консультация
    V5 Вера ВКонтакте | 0 Новый | 5h Консультация
  ]],
  steps = {
    -- 0 of 4 is below the threshold, but 4 < min_sample 5: no verdict.
    -- The metric itself still has its value (0, on a sample of 4).
    { at = "2h", pending = {}, firing = {},
      metrics = { { "invoice_rate", manager = "Вера", value = 0 } } },
    { at = "3h", pending = {}, firing = {} },
    -- The fifth consultation makes the sample: pending (hold 2 not met yet).
    { at = "6h", firing = {},
      pending = { { rule = "invoice_rate_drop", manager = "Вера", value = 0 } } },
  },
}

-- unanswered_dialogues: more than 5 deals of a manager at "Новый", for an
-- hour (hold = "1h" is time, not runs).
test {
  name = "unanswered dialogues: > 5 waiting for an hour fires, answering two resolves",
  rules = "retail_vk.lua",
  start = start,
  -- Мария has 6 dialogues waiting, Борис exactly 5 (not more than 5).
  deals = [[
    M1 Мария Instagram | 0 Новый | 3h Консультация
    M2 Мария Instagram | 0 Новый | 3h Консультация
    M3 Мария Instagram | 0 Новый
    M4 Мария Instagram | 0 Новый
    M5 Мария Instagram | 0 Новый
    M6 Мария Instagram | 0 Новый
    N1 Борис ВКонтакте | 0 Новый
    N2 Борис ВКонтакте | 0 Новый
    N3 Борис ВКонтакте | 0 Новый
    N4 Борис ВКонтакте | 0 Новый
    N5 Борис ВКонтакте | 0 Новый
  ]],
  steps = {
    { at = "10m", firing = {},
      pending = { { rule = "unanswered_dialogues", manager = "Мария", value = 6 } } },
    -- 40 minutes since it began to hold: still pending, however many runs.
    { at = "30m", firing = {}, pending = { { rule = "unanswered_dialogues", manager = "Мария" } } },
    { at = "50m", firing = {}, pending = { { rule = "unanswered_dialogues", manager = "Мария" } } },
    -- 60 minutes since 10m: firing.
    { at = "1h10m", pending = {},
      firing = { { rule = "unanswered_dialogues", manager = "Мария", value = 6 } } },
    -- Two answered at 3h: 4 waiting, resolved.
    { at = "3h", firing = {}, pending = {},
      resolved = { { rule = "unanswered_dialogues", manager = "Мария" } } },
  },
}

-- source_no_invoices: a source with >= 8 dialogues this week and no invoice.
test {
  name = "a source with no invoices fires, for that source only",
  rules = "retail_vk.lua",
  start = start,
  -- Instagram: 8 dialogues, all consulted, all refused.  ВКонтакте: 8,
  -- six invoiced.  "Таргет ВК": 3, all spam and no invoice either, but
  -- 3 < min_sample 8.  Each manager invoices 3 of 8 consultations (37.5%),
  -- above the manager rule's 30%.
  deals = [[
    I1 Анна  Instagram   | 0 Новый | 1h Консультация | 2h Отказ
    I2 Анна  Instagram   | 0 Новый | 1h Консультация | 2h Отказ
    I3 Анна  Instagram   | 0 Новый | 1h Консультация | 2h Дорого
    I4 Анна  Instagram   | 0 Новый | 1h Консультация | 2h Не отвечает
    I5 Борис Instagram   | 0 Новый | 1h Консультация | 2h Отказ
    I6 Борис Instagram   | 0 Новый | 1h Консультация | 2h Отказ
    I7 Борис Instagram   | 0 Новый | 1h Консультация | 2h Отказ
    I8 Борис Instagram   | 0 Новый | 1h Консультация | 2h Отказ
    K1 Анна  ВКонтакте   | 0 Новый | 1h Консультация | 2h Выставлен счёт
    K2 Анна  ВКонтакте   | 0 Новый | 1h Консультация | 2h Выставлен счёт
    K3 Анна  ВКонтакте   | 0 Новый | 1h Консультация | 2h Выставлен счёт
    K4 Анна  ВКонтакте   | 0 Новый | 1h Консультация
    K5 Борис ВКонтакте   | 0 Новый | 1h Консультация | 2h Выставлен счёт
    K6 Борис ВКонтакте   | 0 Новый | 1h Консультация | 2h Выставлен счёт
    K7 Борис ВКонтакте   | 0 Новый | 1h Консультация | 2h Выставлен счёт
    K8 Борис ВКонтакте   | 0 Новый | 1h Консультация
    T1 Анна  "Таргет ВК" | 0 Новый | 30m Спам
    T2 Анна  "Таргет ВК" | 0 Новый | 30m Спам
    T3 Анна  "Таргет ВК" | 0 Новый | 30m Спам
  ]],
  steps = {
    -- Partial matching: only the rule and the source are named; the
    -- alert's funnel label is not needed to match.  The list accounts for
    -- every firing alert, so ВКонтакте and "Таргет ВК" are not firing.
    { at = "3h", pending = {},
      firing = { { rule = "source_no_invoices", source = "Instagram", value = 0 } },
      -- spam_share = non-target / leads: "Таргет ВК" 3/3; team 3/19
      -- invoice_rate: Анна 3 invoices / 8 consultations (T1-T3 never
      -- reached "Консультация"); Instagram 0/8
      metrics = {
        { "spam_share", source = "Таргет ВК", value = 1 },
        { "spam_share", value = 3 / 19 },
        { "invoice_rate", manager = "Анна", value = 3 / 8 },
        { "invoice_rate", source = "Instagram", value = 0 },
      } },
  },
}

test {
  name = "weekly metrics by hand: aliases, average check, revenue per lead, unpaid invoices",
  rules = "retail_vk.lua",
  start = start,
  -- Amounts in rubles.  P2 is paid under the alias "Оплачено", P4 comes in
  -- as "Входящее сообщение" (alias of "Новый") and is won as "Доставлен"
  -- (alias of "Оплачен"), P3's invoice is spelled without ё, P7 is
  -- invoiced without a consultation (reached mode: it passed it).
  deals = [[
    P1 Анна  ВКонтакте 3000 | 0 Новый | 1h Консультация | 2h Выставлен счёт | 1d Оплачен
    P2 Анна  ВКонтакте 6000 | 0 Новый | 1h Консультация | 3h Выставлен счёт | 1d2h Оплачено
    P3 Анна  Instagram 2500 | 0 Новый | 2h Консультация | 4h Выставлен счет
    P4 Борис Instagram 4000 | 0 Входящее сообщение | 1h Консультация | 5h Выставлен счёт | 2d Доставлен
    P5 Борис ВКонтакте      | 0 Новый | 1h Спам
    P6 Борис Instagram 1200 | 0 Новый | 30m Консультация | 1h Отказ
    P7 Анна  ВКонтакте 7000 | 0 Новый | 1h Выставлен счёт
  ]],
  steps = {
    { at = "3d",
      -- leads: 7 (Анна P1 P2 P3 P7, Борис P4 P5 P6); won: P1 3000, P2 6000,
      -- P4 4000 -> 3 deals, 13000.
      --   avg_check: team 13000/3; Анна (3000+6000)/2 = 4500; Борис 4000/1
      --   revenue_per_lead: team 13000/7; Анна 9000/4 = 2250; Борис 4000/3
      --   spam_share: team 1/7 (P5); ВКонтакте 1/4 (P1 P2 P5 P7)
      --   invoice_rate: consulted P1 P2 P3 P4 P6 P7 = 6, invoiced all but
      --     P6 = 5 -> 5/6; Борис 1/2 (P4 of P4 P6); Анна 4/4
      --   unpaid_invoices: open at the invoice: P3 2500 + P7 7000 = 9500,
      --     all Анна's; Борис has none -> no value
      metrics = {
        { "avg_check", value = 13000 / 3 },
        { "avg_check", manager = "Анна", value = 4500 },
        { "avg_check", manager = "Борис", value = 4000 },
        { "revenue_per_lead", value = 13000 / 7 },
        { "revenue_per_lead", manager = "Анна", value = 2250 },
        { "revenue_per_lead", manager = "Борис", value = 4000 / 3 },
        { "spam_share", value = 1 / 7 },
        { "spam_share", source = "ВКонтакте", value = 1 / 4 },
        { "invoice_rate", value = 5 / 6 },
        { "invoice_rate", manager = "Борис", value = 1 / 2 },
        { "invoice_rate", manager = "Анна", value = 1 },
        { "unpaid_invoices", value = 9500 },
        { "unpaid_invoices", manager = "Анна", value = 9500 },
        { "unpaid_invoices", manager = "Борис", value = nil },
      } },
  },
}

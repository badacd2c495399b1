-- online_courses_test.lua: rule tests for online_courses.lua.  Run:
--   build/salesengine test scripts/online_courses_test.lua
--
-- An online school has hundreds of applications a week, and its rules
-- need samples of 20 and 50, so the deals are generated with a little Lua
-- (a test file is a Lua script like any other) instead of typed line by
-- line.  A list given in a step must account for every alert in that
-- state, from any rule.

-- n deal lines "<prefix><i> <manager> <source> | <path>" for i = from..to,
-- in the notation of docs/SCRIPTING.md ("Rule tests").  Names with spaces
-- are quoted.
local function deals(prefix, from, to, manager, source, path)
  local lines = {}
  for i = from, to do
    lines[#lines + 1] = string.format('%s%d "%s" "%s" | %s', prefix, i, manager, source, path)
  end
  return table.concat(lines, "\n") .. "\n"
end

-- Monday 2026-11-02 09:00 Moscow: week 2026-W45.
local start = "2026-11-02 09:00"

-- invoice_rate_drop: consultation -> payment link < 35%, >= 20 consultations,
-- three runs in a row.
test {
  name = "invoice rate drop: pending for two runs, firing on the 3rd, resolved once",
  rules = "online_courses.lua",
  start = start,
  -- Алина: 20 consultations, 5 payment links (25%); three more links on
  -- day 1 make 8/20 = 40%.  Кирилл: 10 of 20 (50%).  Денис: none of 19,
  -- but 19 < min_sample 20.  Every lead is called within 10 minutes, so
  -- nothing waits at "Заявка" for the uncalled-leads rule.
  deals = deals("A", 1, 5, "Алина", "Таргет VK", "0 Заявка | 10m Дозвон | 1h Консультация | 2h Счёт")
       .. deals("A", 6, 8, "Алина", "Таргет VK", "0 Заявка | 10m Дозвон | 1h Консультация | 1d Счёт")
       .. deals("A", 9, 20, "Алина", "Таргет VK", "0 Заявка | 10m Дозвон | 1h Консультация")
       .. deals("K", 1, 10, "Кирилл", "Таргет VK", "0 Заявка | 10m Дозвон | 1h Консультация | 2h Счёт")
       .. deals("K", 11, 20, "Кирилл", "Таргет VK", "0 Заявка | 10m Дозвон | 1h Консультация")
       .. deals("D", 1, 19, "Денис", "Таргет VK", "0 Заявка | 10m Дозвон | 1h Консультация"),
  steps = {
    { at = "3h", firing = {},
      pending = { { rule = "invoice_rate_drop", manager = "Алина", value = 0.25 } } },
    { at = "3h30m", firing = {},
      pending = { { rule = "invoice_rate_drop", manager = "Алина", value = 0.25 } } },
    -- The third run in a row: firing, for Алина alone.
    { at = "4h", pending = {},
      firing = { { rule = "invoice_rate_drop", manager = "Алина", value = 0.25 } } },
    { at = "12h", firing = { { rule = "invoice_rate_drop", manager = "Алина" } }, resolved = {} },
    -- 8/20 = 40% >= 35%: resolved, once.
    { at = "1d1h", firing = {}, pending = {},
      resolved = { { rule = "invoice_rate_drop", manager = "Алина" } },
      -- 59 applications, all reached by phone: reach_rate 59/59 = 1
      metrics = { { "leads", value = 59 }, { "reach_rate", value = 1 } } },
    { at = "1d2h", firing = {}, pending = {}, resolved = {} },
  },
}

-- uncalled_leads: more than 15 deals of a manager at "Заявка", 30 minutes.
test {
  name = "uncalled leads: more than 15 waiting for 30 minutes fires, calls resolve it",
  rules = "online_courses.lua",
  start = start,
  -- Ефим: 16 applications; 10 called at 1h.  Жанна: exactly 15 (not more).
  deals = deals("E", 1, 10, "Ефим", "Вебинар", "0 Заявка | 1h Дозвон")
       .. deals("E", 11, 16, "Ефим", "Вебинар", "0 Заявка")
       .. deals("Z", 1, 15, "Жанна", "Вебинар", "0 Регистрация на вебинар"),
  steps = {
    { at = "5m", firing = {},
      pending = { { rule = "uncalled_leads", manager = "Ефим", value = 16 } } },
    -- 15 minutes since it began to hold: still pending.
    { at = "20m", firing = {}, pending = { { rule = "uncalled_leads", manager = "Ефим" } } },
    -- 30 minutes since 5m: firing.
    { at = "35m", pending = {},
      firing = { { rule = "uncalled_leads", manager = "Ефим", value = 16 } } },
    -- 10 called at 1h: 6 waiting.
    { at = "1h5m", firing = {}, pending = {},
      resolved = { { rule = "uncalled_leads", manager = "Ефим" } },
      -- reach_rate: Ефим 10/16; Жанна 0/15 (her sign-ups count as
      -- applications under the alias "Регистрация на вебинар")
      metrics = { { "reach_rate", manager = "Ефим", value = 10 / 16 },
                  { "reach_rate", manager = "Жанна", value = 0 } } },
  },
}

-- source_stopped: a source's application -> consultation rate this week
-- under half of last week's, >= 20 applications this week.
test {
  name = "a source that stopped converting week over week fires for it alone, then resolves",
  -- The clock starts a week earlier, Monday 2026-10-26 (W44); the steps
  -- are in W45 (offsets from 7d).
  rules = "online_courses.lua",
  start = "2026-10-26 09:00",
  -- W44: Telegram Ads 10 of 20 took a consultation (50%), Таргет VK 8 of
  -- 20 (40%), Яндекс Директ 5 of 10.
  -- W45: Telegram Ads 2 of 20 (10% < 25%: fires), 4 more on 7d4h (30%:
  -- resolves).  Таргет VK 7 of 20 (35% >= 20%).  Яндекс Директ 0 of 10:
  -- under min_sample 20.  Вебинар 0 of 20, but it is new (no W44 rate):
  -- no verdict.  Everyone is called within 10 minutes and no manager has
  -- 20 consultations in a week, so the manager rules stay silent.
  deals = deals("pt", 1, 10, "Алина", "Telegram Ads", "0 Заявка | 10m Дозвон | 1h Консультация")
       .. deals("pt", 11, 20, "Алина", "Telegram Ads", "0 Заявка | 10m Дозвон")
       .. deals("pv", 1, 8, "Кирилл", "Таргет VK", "0 Заявка | 10m Дозвон | 1h Консультация")
       .. deals("pv", 9, 20, "Кирилл", "Таргет VK", "0 Заявка | 10m Дозвон")
       .. deals("py", 1, 5, "Кирилл", "Яндекс Директ", "0 Заявка | 10m Дозвон | 1h Консультация")
       .. deals("py", 6, 10, "Кирилл", "Яндекс Директ", "0 Заявка | 10m Дозвон")
       .. deals("T", 1, 2, "Алина", "Telegram Ads", "7d Заявка | 7d10m Дозвон | 7d1h Консультация")
       .. deals("T", 3, 6, "Алина", "Telegram Ads", "7d Заявка | 7d10m Дозвон | 7d4h Консультация")
       .. deals("T", 7, 20, "Алина", "Telegram Ads", "7d Заявка | 7d10m Дозвон")
       .. deals("V", 1, 7, "Кирилл", "Таргет VK", "7d Заявка | 7d10m Дозвон | 7d1h Консультация")
       .. deals("V", 8, 20, "Кирилл", "Таргет VK", "7d Заявка | 7d10m Дозвон")
       .. deals("Y", 1, 10, "Денис", "Яндекс Директ", "7d Заявка | 7d10m Дозвон")
       .. deals("W", 1, 20, "Денис", "Вебинар", "7d Заявка | 7d10m Дозвон"),
  steps = {
    -- Still W44: last week (W43) has nothing, no verdicts.
    { at = "6d", firing = {}, pending = {} },
    -- Partial matching: the rule and the source only.  failed = {}: the
    -- new source (no rate last week) must give no verdict, not an error.
    { at = "7d3h", pending = {}, failed = {},
      firing = { { rule = "source_stopped", source = "Telegram Ads", value = 0.1 } },
      -- leads_change = (W45 - W44) / W44: team (70 - 50) / 50 = 0.4;
      -- Telegram Ads (20 - 20) / 20 = 0; Вебинар had no W44 leads: nil
      metrics = {
        { "leads_change", value = 0.4 },
        { "leads_change", source = "Telegram Ads", value = 0 },
        { "leads_change", source = "Вебинар", value = nil },
      } },
    { at = "7d5h", firing = {}, pending = {},
      resolved = { { rule = "source_stopped", source = "Telegram Ads" } } },
  },
}

-- spam_wave: more than 20% of the week's applications non-target, >= 50.
test {
  name = "spam wave: silent under 50 applications, fires for the school at 60",
  rules = "online_courses.lua",
  start = start,
  -- 40 applications by 1h, 10 of them spam (25%), but 40 < 50.  By 3h 20
  -- more, 5 of them spam: 15/60 = 25% > 20%.  Everyone is called (the
  -- spam too: it is closed from "Дозвон" by the caller).
  deals = deals("a", 1, 30, "Алина", "Таргет VK", "0 Заявка | 5m Дозвон")
       .. deals("s", 1, 10, "Кирилл", "Таргет VK", "0 Заявка | 5m Спам")
       .. deals("b", 1, 15, "Алина", "Таргет VK", "2h Заявка | 2h5m Дозвон")
       .. deals("t", 1, 5, "Кирилл", "Таргет VK", "2h Заявка | 2h5m Тестовая заявка"),
  steps = {
    { at = "1h", firing = {}, pending = {},
      metrics = { { "spam_share", value = 10 / 40 } } },
    { at = "3h", pending = {},
      firing = { { rule = "spam_wave", funnel = "курсы", value = 15 / 60 } },
      metrics = { { "spam_share", value = 15 / 60 }, { "spam_share", manager = "Кирилл", value = 1 } } },
  },
}

test {
  name = "weekly metrics by hand: revenue per lead, 72-hour window, instalments",
  rules = "online_courses.lua",
  start = start,
  -- Course prices in rubles.  E2 pays by an approved instalment plan (an
  -- alias of "Оплата") 4 days 22 hours after its consultation, outside the
  -- 72-hour window; E1 pays 23 hours after.  E3's payment link is sent
  -- under an alias.  E6 is reached under "Дозвонились".
  deals = [[
    E1 Алина  "Таргет VK" 49900 | 0 Заявка | 15m Дозвон | 1h Консультация | 2h Счёт | 1d Оплата
    E2 Алина  "Таргет VK" 49900 | 0 Заявка | 20m Дозвон | 2h Консультация | 3h Счёт | 5d Рассрочка одобрена
    E3 Кирилл "Таргет VK" 89900 | 0 Заявка | 1h Дозвон | 3h Консультация | 4h Ссылка на оплату отправлена
    E4 Кирилл Telegram    29900 | 0 Заявка | 2h Недозвон
    E5 Кирилл Telegram          | 0 Заявка | 5m Спам
    E6 Алина  Telegram          | 0 Заявка | 30m Дозвонились | 1d Отказ
  ]],
  steps = {
    { at = "6d",
      -- applications 6; paid: E1 49900, E2 49900 = 99800
      --   revenue_per_lead: team 99800/6; Алина 99800/3 (E1 E2 E6);
      --     Кирилл 0/3
      --   paid_in_72h: consultations E1 E2 E3 = 3, paid within 72 hours
      --     E1 only -> 1/3; Алина 1/2
      --   reach_rate: reached "Дозвон" E1 E2 E3 E6 = 4/6; Кирилл 1/3 (E3);
      --     Telegram 1/3 (E6 of E4 E5 E6)
      --   spam_share: 1/6 (E5); Telegram 1/3
      --   leads_change: no applications in W44 -> nil
      --   built-in: presale_amount 89900 (E3 at "Счёт"), lost 2 (E4 E6)
      metrics = {
        { "revenue_per_lead", value = 99800 / 6 },
        { "revenue_per_lead", manager = "Алина", value = 99800 / 3 },
        { "revenue_per_lead", manager = "Кирилл", value = 0 },
        { "paid_in_72h", value = 1 / 3 },
        { "paid_in_72h", manager = "Алина", value = 1 / 2 },
        { "reach_rate", value = 4 / 6 },
        { "reach_rate", manager = "Кирилл", value = 1 / 3 },
        { "reach_rate", source = "Telegram", value = 1 / 3 },
        { "spam_share", value = 1 / 6 },
        { "spam_share", source = "Telegram", value = 1 / 3 },
        { "leads_change", value = nil },
        { "presale_amount", value = 89900 },
        { "lost", value = 2 },
      } },
  },
}

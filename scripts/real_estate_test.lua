-- real_estate_test.lua: rule tests for real_estate.lua.  Run:
--   build/salesengine test scripts/real_estate_test.lua
--
-- The clock starts on Monday 2026-11-02 10:00 Moscow time; every step is
-- in November, the month the rules judge.  The deal notation has no
-- pipeline column, so every deal here belongs to the first funnel that
-- knows its statuses, "Новостройки" (docs/METRICS.md section 1); the
-- resale funnel has the same rules and the same statuses.  A list given in
-- a step must account for every alert in that state, from any rule.

local start = "2026-11-02 10:00"

-- no_show_drop: viewings held / booked < 60%, at least 5 booked, two runs.
test {
  name = "no-show drop: pending, firing on the 2nd run, resolved when viewings are held",
  rules = "real_estate.lua",
  start = start,
  -- Дмитрий books 5 viewings and holds 2 (40%), then holds D3 and D4 on day
  -- 5 (80%).  Ольга holds 4 of 5.  Светлана holds none of 4: under
  -- min_sample 5 for both manager rules.  All requests come from ЦИАН and
  -- none is non-target.
  deals = [[
    # DEAL MANAGER SOURCE [AMOUNT] | OFFSET STATUS | ...
    D1 Дмитрий ЦИАН | 0 Заявка | 1d Показ назначен | 2d Показ проведён
    D2 Дмитрий ЦИАН | 0 Заявка | 1d Показ назначен | 2d Показ проведён
    D3 Дмитрий ЦИАН | 0 Заявка | 1d Показ назначен | 5d Показ проведён
    D4 Дмитрий ЦИАН | 0 Заявка | 1d Показ назначен | 5d Показ проведен
    D5 Дмитрий ЦИАН | 0 Заявка | 1d Показ назначен
    O1 Ольга   ЦИАН | 0 Заявка | 1d Показ назначен | 2d Показ проведён
    O2 Ольга   ЦИАН | 0 Заявка | 1d Показ назначен | 2d Показ проведён
    O3 Ольга   ЦИАН | 0 Заявка | 1d Показ назначен | 2d Показ проведён
    O4 Ольга   ЦИАН | 0 Заявка | 1d Показ назначен | 2d Просмотр состоялся
    O5 Ольга   ЦИАН | 0 Заявка | 1d Показ назначен
    S1 Светлана ЦИАН | 0 Заявка | 1d Показ назначен
    S2 Светлана ЦИАН | 0 Заявка | 1d Показ назначен
    S3 Светлана ЦИАН | 0 Заявка | 1d Показ назначен
    S4 Светлана ЦИАН | 0 Заявка | 1d Показ назначен
  ]],
  steps = {
    -- Day 3, morning run: Дмитрий 2/5 = 40%: pending.
    { at = "3d", firing = {},
      pending = { { rule = "no_show_drop", manager = "Дмитрий", value = 0.4 } } },
    -- Evening run: firing, Дмитрий only (Ольга 80%, Светлана too few).
    { at = "3d9h", pending = {},
      firing = { { rule = "no_show_drop", manager = "Дмитрий", funnel = "Новостройки", value = 0.4 } } },
    { at = "4d", firing = { { rule = "no_show_drop", manager = "Дмитрий" } }, resolved = {} },
    -- D3 and D4 held on day 5 (D4 spelled without ё): 4/5 = 80%.
    { at = "5d1h", firing = {}, pending = {},
      resolved = { { rule = "no_show_drop", manager = "Дмитрий" } },
      -- show_rate = held / booked: Дмитрий 4/5, Ольга 4/5, Светлана 0/4,
      -- team 8/14
      metrics = {
        { "show_rate", manager = "Дмитрий", value = 4 / 5 },
        { "show_rate", manager = "Светлана", value = 0 },
        { "show_rate", value = 8 / 14 },
      } },
    { at = "6d", firing = {}, pending = {}, resolved = {} },
  },
}

-- leads_without_shows: requests this month but no viewing held; the
-- sample is the requests (min_sample 5); fires on the first run.
test {
  name = "requests without viewings: silent under 5 requests, fires on the 5th, resolves",
  rules = "real_estate.lua",
  start = start,
  -- Игорь: four requests at once, a fifth on day 1, a sixth on day 2; no
  -- viewing held until I1's on day 3.  Марина: 4 requests, no viewing,
  -- under min_sample.  Three of Игорь's viewings are booked, which stays
  -- under no_show_drop's min_sample of 5.
  deals = [[
    I1 Игорь Авито | 0 Заявка | 1d Показ назначен | 3d Показ проведён
    I2 Игорь Авито | 0 Заявка | 1d Показ назначен
    I3 Игорь Авито | 0 Заявка | 1d Назначен просмотр
    I4 Игорь Авито | 0 Заявка
    I5 Игорь Авито | 1d Заявка с сайта
    I6 Игорь Авито | 2d Входящий звонок
    M1 Марина Авито | 0 Заявка
    M2 Марина Авито | 0 Заявка
    M3 Марина Авито | 0 Заявка
    M4 Марина Авито | 0 Заявка
  ]],
  steps = {
    -- 4 requests: under min_sample, no verdict at all.
    { at = "12h", firing = {}, pending = {} },
    -- The fifth (under an alias of "Заявка"): hold 1 fires at once.
    { at = "1d2h", pending = {},
      firing = { { rule = "leads_without_shows", manager = "Игорь", value = 5 } } },
    { at = "2d2h", firing = { { rule = "leads_without_shows", manager = "Игорь", value = 6 } } },
    -- I1's viewing is held on day 3: resolved.
    { at = "3d1h", firing = {}, pending = {},
      resolved = { { rule = "leads_without_shows", manager = "Игорь" } },
      -- show_rate: I1 held of I1 I2 I3 booked (I3 under the alias
      -- "Назначен просмотр") = 1/3
      metrics = { { "show_rate", manager = "Игорь", value = 1 / 3 } } },
  },
}

-- source_junk: non-target share >= 50% of a source's requests, at least 6.
test {
  name = "a listings site full of realtors fires for that source only, resolves as buyers come",
  rules = "real_estate.lua",
  start = start,
  -- Авито: 6 requests, 4 non-target (4/6).  ЦИАН: 6 requests, 1 duplicate.
  -- Домклик: 4 requests, all non-target, but 4 < min_sample 6.  Павел takes
  -- them all and holds 3 viewings (fewer than 5 booked: no_show_drop is
  -- silent; a viewing held: leads_without_shows is clear).  On day 2,
  -- three real buyers come from Авито: 4/9 < 50%.
  deals = [[
    A1 Павел Авито | 0 Заявка | 2h Риелтор
    A2 Павел Авито | 0 Заявка | 2h Риелтор
    A3 Павел Авито | 0 Заявка | 2h Дубль
    A4 Павел Авито | 0 Заявка | 2h Нецелевой
    A5 Павел Авито | 0 Заявка | 3h Показ назначен | 5h Показ проведён
    A6 Павел Авито | 0 Заявка
    A7 Павел Авито | 2d Заявка
    A8 Павел Авито | 2d Заявка
    A9 Павел Авито | 2d Заявка
    C1 Павел ЦИАН  | 0 Заявка | 3h Показ назначен | 5h Показ проведён
    C2 Павел ЦИАН  | 0 Заявка | 3h Показ назначен | 5h Показ проведён
    C3 Павел ЦИАН  | 0 Заявка | 2h Дубль
    C4 Павел ЦИАН  | 0 Заявка
    C5 Павел ЦИАН  | 0 Заявка
    C6 Павел ЦИАН  | 0 Заявка
    K1 Павел Домклик | 0 Заявка | 1h Риелтор
    K2 Павел Домклик | 0 Заявка | 1h Риелтор
    K3 Павел Домклик | 0 Заявка | 1h Риелтор
    K4 Павел Домклик | 0 Заявка | 1h Риелтор
  ]],
  steps = {
    -- Partial matching: rule and source only.
    { at = "1d", pending = {},
      firing = { { rule = "source_junk", source = "Авито", value = 4 / 6 } },
      -- nontarget_share: Авито 4/6, Домклик 4/4, ЦИАН 1/6, team 9/16
      metrics = {
        { "nontarget_share", source = "Авито", value = 4 / 6 },
        { "nontarget_share", source = "Домклик", value = 1 },
        { "nontarget_share", source = "ЦИАН", value = 1 / 6 },
        { "nontarget_share", value = 9 / 16 },
      } },
    { at = "2d1h", firing = {}, pending = {},
      resolved = { { rule = "source_junk", source = "Авито" } },
      metrics = { { "nontarget_share", source = "Авито", value = 4 / 9 } } },
  },
}

test {
  name = "monthly metrics by hand: average deal, commission, viewings per sale, bookings",
  rules = "real_estate.lua",
  start = start,
  -- Flat prices in rubles.  S2 is booked under the alias "Бронирование",
  -- S3 won under "ДДУ подписан", S6's viewing is booked and held under
  -- aliases.  S7 books remotely after a video tour, with no viewing at
  -- all: in reached mode (the default) it still passed both viewing stages.
  deals = [[
    S1 Ольга   ЦИАН    12000000 | 0 Заявка | 1d Показ назначен | 2d Показ проведён | 4d Бронь | 10d Сделка
    S2 Ольга   Авито    8500000 | 0 Заявка | 1d Показ назначен | 3d Показ проведён | 5d Бронирование
    S3 Дмитрий ЦИАН    15000000 | 0 Заявка | 2d Показ назначен | 3d Показ проведён | 6d Бронь | 12d ДДУ подписан
    S4 Дмитрий Домклик          | 0 Заявка | 1d Показ назначен | 2d Показ проведён | 3d Отказ
    S5 Дмитрий Авито            | 0 Заявка | 1h Риелтор
    S6 Ольга   ЦИАН     9000000 | 0 Заявка | 1d Назначен просмотр | 2d Просмотр состоялся
    S7 Дмитрий ЦИАН    11000000 | 0 Заявка | 2d Бронь
  ]],
  steps = {
    { at = "15d",
      -- won: S1 12 000 000 (Ольга), S3 15 000 000 (Дмитрий): 27 000 000
      --   avg_deal: team 27e6/2 = 13.5e6; Ольга 12e6; ЦИАН (S1 S3) 13.5e6
      --   commission, new buildings at 4%: 27e6 x 0.04 = 1 080 000;
      --     Ольга 480 000; Дмитрий 600 000; the resale funnel has no deal
      -- viewings held (reached): S1 S2 S3 S4 S6 S7 = 6
      --   shows_per_sale: team 6/2; Ольга 3/1 (S1 S2 S6); Дмитрий 3/1 (S3 S4 S7)
      --   booking_rate (held -> booked): S1 S2 S3 S7 of 6 = 4/6;
      --     Ольга 2/3 (S1 S2 of S1 S2 S6); Дмитрий 2/3 (S3 S7 of S3 S4 S7)
      --   show_rate (booked -> held): all 6 booked viewings held (S7 passed
      --     both at once) = 1
      -- booked_amount: open at "Бронь": S2 8 500 000 (Ольга) + S7
      --   11 000 000 (Дмитрий) = 19 500 000
      -- nontarget_share: S5 of 7 requests = 1/7
      metrics = {
        { "avg_deal", value = 13500000 },
        { "avg_deal", manager = "Ольга", value = 12000000 },
        { "avg_deal", source = "ЦИАН", value = 13500000 },
        { "commission", value = 1080000 },
        { "commission", manager = "Ольга", value = 480000 },
        { "commission", manager = "Дмитрий", value = 600000 },
        { "commission", funnel = "Вторичка", value = nil },
        { "shows_per_sale", value = 6 / 2 },
        { "shows_per_sale", manager = "Ольга", value = 3 },
        { "shows_per_sale", manager = "Дмитрий", value = 3 },
        { "booking_rate", value = 4 / 6 },
        { "booking_rate", manager = "Ольга", value = 2 / 3 },
        { "booking_rate", manager = "Дмитрий", value = 2 / 3 },
        { "show_rate", value = 1 },
        { "booked_amount", value = 19500000 },
        { "booked_amount", manager = "Ольга", value = 8500000 },
        { "booked_amount", manager = "Дмитрий", value = 11000000 },
        { "nontarget_share", value = 1 / 7 },
      } },
  },
}

-- amocrm.lua: status names of amoCRM's (Kommo's) default pipeline, as its
-- Russian interface shows them, for scripts that require("amocrm").
--
-- amoCRM gives every pipeline two fixed closing statuses: 142 "won" and
-- 143 "lost"; the stages between are the team's own.  An export that was
-- never renamed uses the names below.
local M = {}

M.incoming = "Неразобранное"
M.stages = { "Первичный контакт", "Переговоры", "Принимают решение", "Согласование договора" }
M.won = "Успешно реализовано"
M.lost = "Закрыто и не реализовано"

-- Returns a stages list for funnel{}: the incoming status as an alias of
-- the first stage, the default stages, then won; opts.presale lists the
-- stage names to mark as pre-sale.
function M.default_stages(opts)
  local presale = {}
  for _, name in ipairs((opts and opts.presale) or {}) do presale[name] = true end
  local list = {}
  for i, name in ipairs(M.stages) do
    local stage = { name, presale = presale[name] or false }
    if i == 1 then stage.aliases = { M.incoming } end
    list[#list + 1] = stage
  end
  list[#list + 1] = M.won
  return list
end

return M

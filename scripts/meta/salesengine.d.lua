---@meta salesengine
-- salesengine.d.lua: LuaLS annotations for rules scripts (docs/SCRIPTING.md).
--
-- Editors with the Lua language server complete and type-check the globals
-- and scope methods below.  Point the server at this file, for example in
-- .luarc.json next to your scripts:
--   { "runtime.version": "Lua 5.4", "workspace.library": ["/path/to/salesengine/scripts/meta"] }
-- It is never run: salesengine defines these globals itself.

---A duration: "90m", "12h", "3d", "2w", "1d12h".
---@alias se.Duration string

---@alias se.Mode "reached"|"touched"
---@alias se.Period "total"|"day"|"week"|"month"
---@alias se.Format "number"|"percent"|"money"
---@alias se.ReportName "leads"|"conversion"|"presale"|"sources"|"unknown"|"handling"|"diagnostics"|"velocity"|"forecast"|"backtest"|"channels"|"compare"|"metrics"|"digest"|"all"
---@alias se.OutputFormat "table"|"csv"|"json"|"prometheus"|"html"|"xlsx"

---@class se.Settings
---@field timezone? string the team's zone: "Europe/Moscow", "+03:00" (default "UTC")
---@field input_timezone? string zone of imported timestamps without an offset (default "UTC")
---@field mode? se.Mode counting mode of reports and of pairs without their own
---@field period? se.Period default bucketing (default "total")
---@field sla? se.Duration a lead still at the first stage after this is unprocessed (default "1d")
---@field stale_multiple? number an open deal is stale after this many times its stage's median stay (1..1000, default 3)
---@field shrinkage? number prior strength in closed deals pulling a manager's win rate to the team's (default 10)
---@field spend? table<string, table<string, number>> ad spend: { ["source"] = { ["2025-01"] = 120000 } }
---@field reports? se.ReportName[] the reports when --report is not given: { "digest", "handling" }
---@field format? se.OutputFormat the format when --format is not given
---@field language? "ru"|"en" words and numbers for people when --lang is not given
---@field horizon? se.Duration|number the time-aware forecast's window (revenue expected to be won within it) and the backtest's (a number: days; default "30d")

---Global options; at most once per key (a later call overrides earlier keys).
---@param t se.Settings
function settings(t) end

---Where a canonical field is in a CRM export: the column's header, or a
---value for every row.
---@alias se.Column string|{ column: string }|{ value: string|number }

---@class se.Columns
---@field event_id? se.Column
---@field deal_id? se.Column
---@field ts? se.Column
---@field stage? se.Column
---@field manager? se.Column
---@field source? se.Column
---@field amount? se.Column
---@field from_stage? se.Column
---@field pipeline? se.Column
---@field currency? se.Column
---@field ts_format? string how the time column is written: "DD.MM.YYYY HH:MM", "MM/DD/YYYY"

---The names a CRM export gives the canonical fields, so --import reads it
---as it is; a later call replaces the fields it names.
---@param t se.Columns
function columns(t) end

---@class se.Stage
---@field [1] string the stage's name
---@field aliases? string[] other CRM status names that mean this stage
---@field presale? boolean deals now at this stage are in the pre-sale report and forecast
---@field probability? number the chance to win from this stage (0..1)

---@class se.Pair
---@field [1] string the first stage
---@field [2] string the second stage (later in the funnel)
---@field mode? se.Mode this pair's counting mode
---@field window? se.Duration|number count a conversion only within this time (a number: days)

---@class se.Funnel
---@field name? string shown in reports; default "main"; unique
---@field stages (string|se.Stage)[] the ordered stages, first to last; at least two
---@field won? string the stage that means a sale; default the last stage
---@field lost? string|string[] statuses that mean the deal was lost
---@field nontarget? string|string[] statuses that mean the lead was not a real lead
---@field pipelines? string|string[] only events of these pipelines (or none) belong here
---@field pairs? se.Pair[] conversions to report besides the adjacent steps

---Declares one funnel (a CRM pipeline).
---@param t se.Funnel
function funnel(t) end

---@class se.Metric
---@field name string unique; used by rules and s:metric()
---@field title? string column title (default: the name)
---@field format? se.Format number (default), percent (a ratio) or money
---@field funnel? string only this funnel (default: every funnel)
---@field value fun(s: se.Scope): number?, integer? the value (nil: none) and the sample it rests on

---Declares a custom metric, computed per period for the team, each manager and each source.
---@param t se.Metric
function metric(t) end

---@alias se.Op "<"|"<="|">"|">="|"=="|"~="
---@alias se.RuleScope "team"|"manager"|"source"|"funnel"
---@alias se.Window "current"|"previous"|"all"

---@class se.Rule
---@field name string unique
---@field scope? se.RuleScope team (default), manager, source or funnel
---@field funnel? string only this funnel (default: each funnel)
---@field window? se.Window current (default) period bucket, previous, or all
---@field metric? string a built-in or metric{} name (with op and threshold)
---@field from? string conversion: the first stage
---@field to? string conversion: the second stage
---@field within? se.Duration conversion: the window
---@field mode? se.Mode conversion: the counting mode
---@field op? se.Op the comparison with threshold
---@field threshold? number
---@field when? fun(s: se.Scope): (boolean|number|nil), number?, integer? holds (or a number for op), value, sample
---@field sample? fun(s: se.Scope): integer? the sample size, when when does not give it
---@field min_sample? integer fewer in the sample: stay silent
---@field hold? integer|se.Duration must hold on N consecutive runs, or for this long
---@field for? integer|se.Duration a synonym of hold (write it ["for"] = 3)
---@field repeat_every? se.Duration announce a firing alert again after this
---@field severity? string any word; default "warning"
---@field labels? table<string, string> labels added to the alert
---@field message? string template: {manager}, {value}, {threshold}, {sample}, ...
---@field format? se.Format how {value} and {threshold} print
---@field command? string[] argument list run on each announcement with --allow-commands

---Declares an alert rule.
---@param t se.Rule
function rule(t) end

---Loads rules from a file inside the script's directory; a file that fails is reported
---and counted as a failed rule while the rest loads.
---@param path string
function rules_file(path) end

---Loads NAME.lua (dots become /) from the script's directory or the bundled library
---(scripts/lib: require "metrics").
---@param name string
---@return any
function require(name) end

---@class se.TestStep
---@field at string|se.Duration an offset from start or a date-time
---@field firing? table[] alerts expected firing: { rule = , manager = , value = }
---@field pending? table[]
---@field resolved? table[]
---@field fired? table[]
---@field repeated? table[]
---@field failed? table[]
---@field metrics? table[] { "name", manager = , source = , funnel = , value = }

---@class se.Test
---@field name string
---@field rules string the rules script, relative to this file
---@field start string time 0, in the rules' timezone: "2026-11-02 09:00"
---@field deals string lines: DEAL MANAGER SOURCE [AMOUNT] [@PIPELINE] | OFFSET STAGE | ...
---@field steps se.TestStep[]

---A rule test (salesengine test FILE_test.lua).
---@param t se.Test
function test(t) end

---@class se.Handling
---@field leads integer
---@field taken integer
---@field released integer
---@field nontarget integer
---@field unprocessed integer
---@field waiting integer
---@field moved integer
---@field first_move_median number? seconds
---@field first_move_p90 number? seconds

---@class se.Step
---@field from string
---@field to string
---@field rate number?
---@field ci_low number?
---@field ci_high number?
---@field others_rate number?
---@field missed number?
---@field gap_low number?
---@field gap_high number?
---@field p_value number? nil when the step is not tested
---@field p_adjusted number? Benjamini-Hochberg over the tested steps
---@field significant boolean

---@class se.Style
---@field leads number
---@field won number
---@field periods integer
---@field volume number?
---@field depth number?
---@field style "volume+depth"|"volume"|"depth"|"neither"|"median"

---@class se.Velocity
---@field latest_median number? seconds
---@field latest_p90 number? seconds
---@field total_median number? seconds
---@field total_p90 number? seconds
---@field stays integer
---@field open integer
---@field stale integer

---@class se.Forecast
---@field deals integer
---@field amount number
---@field probability number?
---@field by_probability number?
---@field rate number?
---@field by_rate number?
---@field by_time number? expected to be won within the horizon

---@class se.Channel
---@field leads integer
---@field won integer
---@field revenue number
---@field spend number?
---@field cpl number?
---@field cps number?
---@field romi number?
---@field z number?
---@field p_value number?
---@field p_adjusted number? Benjamini-Hochberg over the tested sources
---@field not_testable string? the reason, when the test cannot answer
---@field weak boolean

---One funnel, one manager or all, one source or all, a range of periods and a mode.
---@class se.Scope
---@field funnel string
---@field manager string? nil: all managers
---@field source string? nil: all sources
---@field period string
---@field mode se.Mode
local Scope = {}

---Deals that first reached the first stage in the period.
---@return integer
function Scope:leads() end

---Deals that first reached stage in the period (mode-aware).
---@param stage string
---@return integer
function Scope:reached(stage) end

---The cohort conversion from a to b (docs/METRICS.md section 3).
---@param a string
---@param b string
---@param within? se.Duration
---@return number? rate nil when there is no cohort
---@return integer converted
---@return integer cohort
function Scope:conversion(a, b, within) end

---Deals that reached won in the period, and their revenue.
---@return integer deals
---@return number revenue
function Scope:won() end

---Deals lost, counted at their last event.
---@return integer
function Scope:lost() end

---Deals non-target, counted at their last event.
---@return integer
function Scope:nontarget() end

---Deals open now (at stage); the period does not apply.
---@param stage? string
---@return integer deals
---@return number amount
function Scope:open(stage) end

---Deals now at pre-sale stages.
---@return integer deals
---@return number amount
---@return number forecast
function Scope:presale() end

---Another metric (declared or built-in) in this scope.
---@param name string
---@return number? value
---@return integer? sample
function Scope:metric(name) end

---The same scope n (default 1) periods earlier.
---@param n? integer
---@return se.Scope
function Scope:prev(n) end

---The same funnel and period, every manager and source.
---@return se.Scope
function Scope:team() end

---Another slice; "*" means all.
---@param t { manager?: string, source?: string, mode?: se.Mode }
---@return se.Scope
function Scope:with(t) end

---Lead handling of the scope's manager or source (or the team) in its period.
---@return se.Handling
function Scope:handling() end

---A manager against the other managers on a step, over the range.
---@param a string
---@param b string
---@return se.Step
function Scope:step(a, b) end

---A manager's growth point: the step's two stage names, or nil.
---@return string? from
---@return string? to
function Scope:growth_point() end

---Volume and depth against the team's medians.
---@return se.Style
function Scope:style() end

---Stay times at a stage.
---@param stage string
---@return se.Velocity
function Scope:velocity(stage) end

---Median and p90 from the first stage to won, or nil.
---@return number? median seconds
---@return number? p90 seconds
function Scope:time_to_won() end

---Deals open now at pre-sale stages (or one).
---@param stage? string
---@return se.Forecast
function Scope:forecast(stage) end

---A source in the scope's period.
---@return se.Channel
function Scope:channel() end

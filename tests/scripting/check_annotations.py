"""Every function docs/SCRIPTING.md documents is annotated in
scripts/meta/salesengine.d.lua, and so is every one the C host defines.

check_annotations.py SOURCE_DIR

From the docs: scope methods (`s:name(...)` in the scope tables), scope
fields (`s.name`), the keys of settings{} and funnel{} (their tables), and
the global calls: every backticked `name{` or `name(` that is neither a
scope method nor a documented key.  From the C host: the functions it puts
in the sandbox's globals and in the scope metatable.  Each must appear in
the annotations as `function name(`, `function Scope:name(` or a
`---@field name` of its class.  Exit status 1 names what is missing.
"""
import glob
import re
import subprocess
import sys

root = sys.argv[1]
docs = open(f"{root}/docs/SCRIPTING.md", encoding="utf-8").read()
ann = open(f"{root}/scripts/meta/salesengine.d.lua", encoding="utf-8").read()
c_src = "".join(open(p, encoding="utf-8").read()
                for p in glob.glob(f"{root}/core/**/*.c", recursive=True))


def section(title_word):
    """The text of the '## ...' section whose heading contains title_word."""
    m = re.search(r"^## [^\n]*" + re.escape(title_word) + r"[^\n]*\n(.*?)(?=^## )", docs,
                  re.S | re.M)
    return m.group(1) if m else ""


def table_keys(text):
    return set(re.findall(r"^\| `([a-z_]+)` \|", text, re.M))


def class_fields(name):
    m = re.search(r"---@class " + re.escape(name) + r"\b.*?\n((?:---[^\n]*\n)*)", ann)
    return set(re.findall(r"---@field ([a-z_]+)\??", m.group(1))) if m else set()


methods = set(re.findall(r"`s:([a-z_]+)[({]", docs))
fields = set(re.findall(r"`s\.([a-z_]+)`", docs))
settings_keys = table_keys(section("settings {"))
funnel_keys = table_keys(section("funnel {"))
keys = settings_keys | funnel_keys
# inside code spans only: "the `--import`s (files" is a closing backtick
# followed by prose, not a call of "s"
spans = re.findall(r"(?<!`)`([^`\n]+)`(?!`)", docs)
calls = {m.group(1) for m in (re.match(r"([a-z_]+) ?[{(]", sp) for sp in spans) if m}
globals_doc = {c for c in calls if c not in methods and c not in keys}

# the standard library's own names (the sandbox replaces some) are LuaLS's
lua_std = {"load", "os", "string", "table", "math", "utf8", "io", "debug", "package",
           "dofile", "loadfile", "collectgarbage", "print", "error", "pairs", "ipairs",
           "setmetatable", "getmetatable", "rawget", "rawset", "rawequal", "rawlen", "next",
           "select", "tostring", "tonumber", "type", "pcall", "xpcall", "assert", "unpack"}
globals_c = (set(re.findall(r'lua_setfield\(L, g, "([a-z_]+)"\)', c_src)) |
             set(re.findall(r'lua_setglobal\(L, "([a-z_]+)"\)', c_src))) - lua_std
methods_c = set(re.findall(r'\{ "([a-z_]+)", l_scope_[a-z_]+ \}', c_src))

ann_globals = set(re.findall(r"^function ([a-z_]+)\(", ann, re.M))
ann_methods = set(re.findall(r"^function Scope:([a-z_]+)\(", ann, re.M))

problems = []


def need(what, wanted, have):
    for name in sorted(wanted - have):
        problems.append(f"{what} '{name}' is not annotated")


# sanity: the parsing found what the docs are known to hold, so a change of
# the docs' layout cannot make this test pass on nothing
for what, got, least in (("scope methods", methods, 20), ("globals", globals_doc, 5),
                         ("settings keys", settings_keys, 8), ("funnel keys", funnel_keys, 7),
                         ("C globals", globals_c, 5), ("C methods", methods_c, 20)):
    if len(got) < least:
        problems.append(f"found only {len(got)} {what} ({sorted(got)}): parsing broke?")

need("documented global", globals_doc, ann_globals)
need("global of the host", globals_c, ann_globals)
need("documented scope method", methods, ann_methods)
need("scope method of the host", methods_c, ann_methods)
need("scope field", fields, class_fields("se.Scope"))
need("settings key", settings_keys, class_fields("se.Settings"))
need("funnel key", funnel_keys, class_fields("se.Funnel"))
if "---@meta" not in ann.split("\n", 1)[0]:
    problems.append("the first line is not ---@meta")
luac = subprocess.run(["luac5.4", "-p", "-"], input=ann.encode(), capture_output=True)
if luac.returncode != 0:
    problems.append("not valid Lua: " + luac.stderr.decode().strip())

for p in problems:
    print("FAIL", p)
n = len(globals_doc) + len(methods) + len(fields) + len(keys)
print(f"annotations: {n - len(problems) if not problems else 0} checked names, "
      f"{len(problems)} problems")
sys.exit(1 if problems else 0)

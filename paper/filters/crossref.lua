--[[
Quarto-style cross-references for the pandoc fallback of causalehr.render.

Numbers sections, figures (`![Cap](p){#fig-x}` or a `::: {#fig-x}` div whose last
paragraph is the caption, with subfigures "1a"), tables (`: Cap {#tbl-x}`) and labelled display equations
(`$$ ... $$ {#eq-x}`) in document order, prefixes captions with "Figure N:" /
"Table N:", and replaces `@fig-x`, `@tbl-x`, `@eq-x`, `@sec-x` (also `@Fig-x`,
`[-@fig-x]`, `[see @fig-x; @fig-y]`) by linked text. With metadata
`crossref-chapters: true` (book mode) numbers restart in each chapter ("Figure 2.1").
Headings show their numbers unless `number-sections: false` (references still work).
A reference to an unknown label is an error naming it (Quarto only warns).
Must run before --citeproc. Tested with pandoc 3.9 (Figure blocks; table ids from `: Cap {#tbl-x}`).
--]]

local WORD = {fig = "Figure", tbl = "Table", eq = "Equation", sec = "Section"}
local PLURAL = {fig = "Figures", tbl = "Tables", eq = "Equations", sec = "Sections"}
local is_typst = FORMAT:match("typst") ~= nil

local labels = {}      -- label id -> number text ("2", "2.1")
local missing = pandoc.List()
local counts = {fig = 0, tbl = 0, eq = 0}
local section = {}
local top_level = 1
local chapters = false
local show_section_numbers = true

local function fail(message)
  error("causalehr-render: " .. message, 0)
end

local function register(id, number)
  if labels[id] then fail("duplicate label #" .. id) end
  labels[id] = number
end

local function next_number(kind)
  counts[kind] = counts[kind] + 1
  if chapters and section[1] then return section[1] .. "." .. counts[kind] end
  return tostring(counts[kind])
end

local function prefix_caption(blocks, text)
  local label = pandoc.Span({pandoc.Str(text)}, {class = "caption-label"})
  if #blocks == 0 then
    blocks:insert(pandoc.Plain({label}))
  else
    blocks[1].content:insert(1, pandoc.Space())
    blocks[1].content:insert(1, label)
  end
end

local function number_header(h)
  if h.classes:includes("unnumbered") then return nil end
  local depth = h.level - top_level + 1
  for d = 1, depth - 1 do section[d] = section[d] or 0 end
  section[depth] = (section[depth] or 0) + 1
  for d = depth + 1, 10 do section[d] = nil end
  if chapters and depth == 1 then counts = {fig = 0, tbl = 0, eq = 0} end
  local number = table.concat(section, ".", 1, depth)
  if h.identifier:match("^sec%-") then register(h.identifier, number) end
  if not show_section_numbers then return nil end
  h.content:insert(1, pandoc.Space())
  h.content:insert(1, pandoc.Span({pandoc.Str(number)}, {class = "header-section-number"}))
  return h
end

local function number_figure(fig)
  if not fig.identifier:match("^fig%-") then return nil end
  local number = next_number("fig")
  register(fig.identifier, number)
  prefix_caption(fig.caption.long, "Figure " .. number .. ":")
  return fig
end

local function number_table(tbl)
  if not tbl.identifier:match("^tbl%-") then return nil end
  local number = next_number("tbl")
  register(tbl.identifier, number)
  prefix_caption(tbl.caption.long, "Table " .. number .. ":")
  return tbl
end

-- `::: {#fig-x}` content, last paragraph = caption (Quarto's div figure syntax);
-- figures inside with fig- ids are its subfigures "1a", "1b" (caption prefix "(a)").
local function figure_div(div)
  if not div.identifier:match("^fig%-") then return nil end
  local content = div.content:clone()
  local caption = content:remove(#content)
  if caption == nil or caption.t ~= "Para" then
    fail("figure div #" .. div.identifier .. " must end with a caption paragraph")
  end
  local fig = number_figure(pandoc.Figure(content, {pandoc.Plain(caption.content)}, div.attr))
  local letters = 0
  fig.content = fig.content:walk({Figure = function(sub)
    if not sub.identifier:match("^fig%-") then return nil end
    letters = letters + 1
    local letter = string.char(96 + letters)
    register(sub.identifier, labels[fig.identifier] .. letter)
    prefix_caption(sub.caption.long, "(" .. letter .. ")")
    return sub
  end})
  return fig, false
end

local function numbered_equation(math, id, number)
  local tag = "(" .. number .. ")"
  if is_typst then
    local body = pandoc.write(pandoc.Pandoc({pandoc.Plain({math})}), "typst"):gsub("%s+$", "")
    return pandoc.RawInline("typst", '#[#set math.equation(numbering: (..n) => "' .. tag .. '"); '
      .. body .. " <" .. id .. ">]")
  end
  return pandoc.Span({math, pandoc.Span({pandoc.Str(tag)}, {class = "eq-number"})},
                     {id = id, class = "quarto-equation"})
end

-- Display math followed by `{#eq-x}` inside a paragraph.
local function label_equations(block)
  local inlines = block.content
  local i = 1
  local changed = false
  while i <= #inlines do
    local el = inlines[i]
    if el.t == "Math" and el.mathtype == "DisplayMath" then
      local j = i + 1
      while inlines[j] and (inlines[j].t == "Space" or inlines[j].t == "SoftBreak") do j = j + 1 end
      local id, rest
      if inlines[j] and inlines[j].t == "Str" then
        id, rest = inlines[j].text:match("^{#(eq%-[^}]+)}(.*)$")
      end
      if id then
        local number = next_number("eq")
        register(id, number)
        for _ = i, j do inlines:remove(i) end
        if rest ~= "" then inlines:insert(i, pandoc.Str(rest)) end
        inlines:insert(i, numbered_equation(el, id, number))
        changed = true
      end
    end
    i = i + 1
  end
  if changed then return block end
end

local function kind_of(id)
  local kind, rest = id:match("^(%a+)(%-.+)$")
  if kind and WORD[kind:lower()] then return kind:lower(), kind:lower() .. rest end
end

local function ref_text(kind, id, suppress)
  local number = labels[id]
  if number == nil then
    missing:insert("@" .. id)
    number = "?"
  end
  if kind == "eq" then number = "(" .. number .. ")" end
  if suppress then return {pandoc.Link(number, "#" .. id)} end
  return {pandoc.Link(WORD[kind] .. "\u{a0}" .. number, "#" .. id)}
end

local function join(parts)
  local out = pandoc.List()
  for k, part in ipairs(parts) do
    if k > 1 then
      out:insert(pandoc.Str(k == #parts and " and " or ", "))
    end
    out:extend(part)
  end
  return out
end

local function crossref_cite(cite)
  local refs = pandoc.List()
  for _, c in ipairs(cite.citations) do
    local kind, id = kind_of(c.id)
    if kind then refs:insert({kind = kind, id = id, citation = c}) end
  end
  if #refs == 0 then return nil end
  if #refs < #cite.citations then
    fail("cannot mix cross-references and citations in one bracket: " .. pandoc.utils.stringify(cite.content))
  end
  local same = true
  for _, r in ipairs(refs) do same = same and r.kind == refs[1].kind end
  local plural = same and #refs > 1
  local suppress = refs[1].citation.mode == "SuppressAuthor"
  local out = pandoc.List()
  if #refs[1].citation.prefix > 0 then out:extend(refs[1].citation.prefix); out:insert(pandoc.Space()) end
  if plural and not suppress then out:insert(pandoc.Str(PLURAL[refs[1].kind] .. "\u{a0}")) end
  local parts = {}
  for k, r in ipairs(refs) do
    local part = pandoc.List()
    if k > 1 and #r.citation.prefix > 0 then part:extend(r.citation.prefix); part:insert(pandoc.Space()) end
    part:extend(ref_text(r.kind, r.id, suppress or plural))
    part:extend(r.citation.suffix)
    table.insert(parts, part)
  end
  out:extend(join(parts))
  return pandoc.Span(out, {class = "quarto-xref"})
end

function Pandoc(doc)
  chapters = doc.meta["crossref-chapters"] == true
  show_section_numbers = doc.meta["number-sections"] ~= false
  top_level = 99
  doc.blocks:walk({Header = function(h)
    if not h.classes:includes("unnumbered") then top_level = math.min(top_level, h.level) end
  end})
  doc = doc:walk({
    traverse = "topdown",
    Header = number_header,
    Figure = number_figure,
    Table = number_table,
    Div = figure_div,
    Para = label_equations,
    Plain = label_equations,
  })
  doc = doc:walk({Cite = crossref_cite})
  if #missing > 0 then
    fail("unresolved cross-reference(s): " .. table.concat(missing, ", "))
  end
  return doc
end

--[[
Quarto front matter for pandoc's default HTML and typst templates (fallback of
causalehr.render). Quarto's author schema (`author: [{name, affiliations: [name |
{name, department, city, country} | {ref: id}], email}]` with top-level
`affiliations: [{id, name, ...}]`) becomes what the templates print: for HTML one
"name / affiliation / email" entry per author, for typst maps with name, affiliation,
email. Keywords are appended to the abstract.
Defaults: abstract-title "Abstract", reference-section-title "References",
link-citations, A4 paper; typst gets `#set figure(numbering: none)` because
crossref.lua writes the numbers itself (same numbers in HTML and PDF), an
unjustified author grid, and tables in smaller type that may continue on the next page.
--]]

local stringify = pandoc.utils.stringify
local is_html = FORMAT:match("html") ~= nil
local is_typst = FORMAT:match("typst") ~= nil

local function as_list(value)
  if value == nil then return pandoc.List() end
  if pandoc.utils.type(value) == "List" then return value end
  return pandoc.List({value})
end

local function is_map(value)
  return type(value) == "table" and pandoc.utils.type(value) == "table"
end

local function affiliation_text(aff, by_id)
  if is_map(aff) and aff.ref then
    local target = by_id[stringify(aff.ref)]
    if target == nil then
      error("causalehr-render: author affiliation ref '" .. stringify(aff.ref)
            .. "' is not an id in the top-level affiliations", 0)
    end
    aff = target
  end
  if not is_map(aff) then return stringify(aff) end
  local parts = {}
  for _, key in ipairs({"department", "name", "city", "country"}) do
    if aff[key] then table.insert(parts, stringify(aff[key])) end
  end
  return table.concat(parts, ", ")
end

local function author_name(author)
  if not is_map(author) then return stringify(author) end
  local name = author.name
  if is_map(name) then
    if name.literal then return stringify(name.literal) end
    return stringify(name.given or "") .. " " .. stringify(name.family or "")
  end
  return stringify(name or "")
end

local function normalise_authors(meta)
  local by_id = {}
  for _, aff in ipairs(as_list(meta.affiliations)) do
    if is_map(aff) and aff.id then by_id[stringify(aff.id)] = aff end
  end
  local authors, names = pandoc.List(), pandoc.List()
  for _, author in ipairs(as_list(meta.author)) do
    local name = author_name(author)
    local affs, email = {}, nil
    if is_map(author) then
      for _, aff in ipairs(as_list(author.affiliations or author.affiliation)) do
        table.insert(affs, affiliation_text(aff, by_id))
      end
      if author.email then email = stringify(author.email) end
    end
    local affiliation = table.concat(affs, "; ")
    names:insert(name)
    if is_html then
      local inlines = pandoc.List({pandoc.Str(name)})
      if affiliation ~= "" then
        inlines:extend({pandoc.LineBreak(), pandoc.Span(affiliation, {class = "affiliation"})})
      end
      if email then
        inlines:extend({pandoc.LineBreak(), pandoc.Link(email, "mailto:" .. email)})
      end
      authors:insert(pandoc.MetaInlines(inlines))
    else
      authors:insert({name = pandoc.MetaInlines(name), affiliation = pandoc.MetaInlines(affiliation),
                      email = pandoc.MetaInlines(email or "")})
    end
  end
  meta.author = authors
  meta["author-meta"] = names
end

local function add_keywords(meta)
  local words = pandoc.List()
  for _, word in ipairs(as_list(meta.keywords)) do words:insert(stringify(word)) end
  if #words == 0 or meta.abstract == nil then return end
  local abstract = meta.abstract
  if pandoc.utils.type(abstract) == "Inlines" then abstract = pandoc.Blocks({pandoc.Para(abstract)}) end
  abstract:insert(pandoc.Para({pandoc.Strong("Keywords:"), pandoc.Space(),
                               pandoc.Str(table.concat(words, ", "))}))
  meta.abstract = pandoc.MetaBlocks(abstract)
end

function Meta(meta)
  if meta.author then normalise_authors(meta) end
  add_keywords(meta)
  if meta["abstract-title"] == nil then meta["abstract-title"] = "Abstract" end
  if meta.bibliography and meta["reference-section-title"] == nil then
    meta["reference-section-title"] = "References"
  end
  if meta["link-citations"] == nil then meta["link-citations"] = true end
  if meta.papersize == nil then meta.papersize = "a4" end
  if is_typst then
    -- pandoc's typst template pastes keywords unquoted into an array: quote them.
    local quoted = pandoc.List()
    for _, word in ipairs(as_list(meta.keywords)) do
      quoted:insert(pandoc.MetaInlines({pandoc.RawInline("typst", '"' .. stringify(word):gsub('["\\]', "\\%0") .. '"')}))
    end
    if #quoted > 0 then meta.keywords = quoted end
    local includes = as_list(meta["header-includes"])
    includes:insert(pandoc.MetaBlocks({pandoc.RawBlock("typst",
      "#set figure(numbering: none)\n#show grid: set par(justify: false)\n#show table: set par(justify: false)\n" ..
      "#show figure.where(kind: table): set block(breakable: true)\n#show table: set text(size: 0.85em)")}))
    if meta["crossref-chapters"] == true then
      includes:insert(pandoc.MetaBlocks({pandoc.RawBlock("typst",
        "#show heading.where(level: 1): it => { pagebreak(weak: true); it }")}))
    end
    meta["header-includes"] = includes
  end
  return meta
end

"""Every change as an HTML table: filtered by a small inline script, whole without it."""

from __future__ import annotations

from typing import Any

import polars as pl

from ..base.safe import html_safe as _e

LIMIT = 50_000  #: rows the page holds at most: beyond, it says so and points to --changes
#: Words for a record's direction, glyph first: colour is never the only carrier of meaning.
WORDS = {
    "promotion": "▲ promotion",
    "demotion": "▼ demotion",
    "sideways": "◆ sideways",
    "newly_staged": "+ newly staged",
    "cleared": "− cleared",
    "added": "+ added",
    "removed": "− removed",
}


def change_list(table: pl.DataFrame, *, file: str | None, what: str = "records") -> dict[str, Any]:
    """The part of a changes table (changes.table) the page shows: at most LIMIT rows."""
    return {
        "columns": table.columns,
        "rows": table.head(LIMIT).rows(),
        "total": table.height,
        "limit": LIMIT,
        "file": file,
        "what": what,
    }


# Filters rows by the direction and transition chosen and the text searched (id or name), keeps
# them in the address (#direction=demotion&q=...) so a filtered view can be shared or reopened.
_SCRIPT = """
(function(){
var f=document.getElementById('%(id)s-filters'),t=document.getElementById('%(id)s');
if(!f||!t)return;f.hidden=false;
var rows=Array.prototype.slice.call(t.tBodies[0].rows),keys=rows.map(function(r){
return (r.getAttribute('data-key')||'').toLowerCase();});
var q=f.elements.q,d=f.elements.direction,tr=f.elements.transition,n=f.querySelector('output');
function apply(){var s=q.value.trim().toLowerCase(),dv=d.value,tv=tr.value,shown=0;
for(var i=0;i<rows.length;i++){var r=rows[i],ok=(!dv||r.getAttribute('data-d')===dv)&&
(!tv||r.getAttribute('data-t')===tv)&&(!s||keys[i].indexOf(s)>=0);r.hidden=!ok;if(ok)shown++;}
n.value=shown.toLocaleString()+' of '+rows.length.toLocaleString()+' shown';
var h=[];if(dv)h.push('direction='+encodeURIComponent(dv));
if(tv)h.push('transition='+encodeURIComponent(tv));if(s)h.push('q='+encodeURIComponent(s));
if(history.replaceState)history.replaceState(null,'',h.length?'#'+h.join('&'):location.pathname);}
location.hash.replace(/^#/,'').split('&').forEach(function(p){var kv=p.split('=');
var v=decodeURIComponent(kv[1]||'');if(kv[0]==='direction')d.value=v;
if(kv[0]==='transition')tr.value=v;if(kv[0]==='q')q.value=v;});
f.addEventListener('input',apply);f.addEventListener('submit',function(e){e.preventDefault();});
apply();})();
"""

CSS = """
tr.promotion td:first-child{border-left:4px solid #1b7a35}
tr.demotion td:first-child{border-left:4px solid #c62828}tr.demotion td{background:#fde8e8}
tr.sideways td:first-child{border-left:4px solid #c88c00}
tr.added td:first-child,tr.newly_staged td:first-child{border-left:4px solid #3b6fd8}
tr.removed td:first-child,tr.cleared td:first-child{border-left:4px solid #8c3ca0}
.filters{display:flex;gap:16px;align-items:end;flex-wrap:wrap;margin:8px 0}
.filters label{display:flex;flex-direction:column;font-size:.85rem}
.cap{background:#fff6dd;border-left:4px solid #c88c00;padding:8px 12px}
"""


def section(data: dict[str, Any], table_id: str, title: str) -> str:
    """The table of every change in `data` (see change_list) with its filters."""
    columns = [c for c in data["columns"] if c != "Other Type"]
    at = {c: i for i, c in enumerate(data["columns"])}
    rows, transitions, seen = [], [], set()
    for row in data["rows"]:
        before, after, move = (
            row[at["Stage Before"]] or "",
            row[at["Stage After"]] or "",
            row[at["Direction"]],
        )
        transition = f"{before or '(none)'} → {after or '(none)'}"
        if transition not in seen:
            seen.add(transition)
            transitions.append(transition)
        key = " ".join(str(row[at[c]] or "") for c in ("Record ID", "Name") if c in at)
        cells = []
        for c in columns:
            value = row[at[c]]
            cells.append(_e(WORDS.get(value, value)) if c == "Direction" else _e(value or ""))
        rows.append(
            f'<tr class="{_e(move)}" data-d="{_e(move)}" data-t="{_e(transition)}" '
            f'data-key="{_e(key)}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
        )
    directions = [d for d in WORDS if any(r[at["Direction"]] == d for r in data["rows"])]
    options = "".join(f'<option value="{_e(d)}">{_e(WORDS[d])}</option>' for d in directions)
    moves = "".join(f'<option value="{_e(t)}">{_e(t)}</option>' for t in transitions)
    searched = "id or name" if "Name" in at else "id"
    filters = (
        f'<form class="filters" id="{table_id}-filters" hidden>'
        f'<label>Search ({searched})<input type="search" name="q"></label>'
        f'<label>Direction<select name="direction"><option value="">all</option>{options}'
        f'</select></label><label>Transition<select name="transition"><option value="">'
        f"all</option>{moves}</select></label><output></output></form>"
    )
    total, shown = data["total"], len(data["rows"])
    where = f"also in {data['file']}" if data["file"] else "--changes FILE writes them as a file"
    intro = (
        f"<p>All {total:,} {data['what']} that changed, one row each ({_e(where)}).</p>"
        if shown == total
        else f'<p class="cap">This page shows the first {shown:,} of {total:,} {data["what"]} that '
        f"changed, to stay quick; the full list: {_e(where)}.</p>"
    )
    head = "".join(f'<th scope="col">{_e(c)}</th>' for c in columns)
    return (
        f'<h2 id="{table_id}-title">{_e(title)}</h2>{intro}{filters}'
        f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}'
        f"</tbody></table><script>{_SCRIPT % {'id': table_id}}</script>"
    )

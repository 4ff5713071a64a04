"""Every change as an HTML table: filtered by a small inline script, whole without it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import polars as pl

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


class Row(NamedTuple):
    """A row of the page's table, with what its filters read."""

    move: str
    transition: str
    key: str
    cells: list[Any]


def page_view(data: dict[str, Any], table_id: str) -> dict[str, Any]:
    """What the page's table of every change in `data` (see change_list) shows: its rows with
    the direction, transition and search key the filters read, and the filters' choices."""
    columns = [c for c in data["columns"] if c != "Other Type"]
    at = {c: i for i, c in enumerate(data["columns"])}
    rows, transitions = [], {}
    for row in data["rows"]:
        before, after = row[at["Stage Before"]] or "", row[at["Stage After"]] or ""
        transition = f"{before or '(none)'} → {after or '(none)'}"
        transitions.setdefault(transition, None)
        key = " ".join(str(row[at[c]] or "") for c in ("Record ID", "Name") if c in at)
        cells = [
            WORDS.get(row[at[c]], row[at[c]]) if c == "Direction" else row[at[c]] or ""
            for c in columns
        ]
        rows.append(
            {"move": row[at["Direction"]], "transition": transition, "key": key, "cells": cells}
        )
    shown = len(data["rows"])
    return {
        "columns": columns,
        "rows": rows,
        "directions": [
            (d, WORDS[d]) for d in WORDS if any(r[at["Direction"]] == d for r in data["rows"])
        ],
        "transitions": list(transitions),
        "searched": "id or name" if "Name" in at else "id",
        "shown": shown,
        "capped": shown != data["total"],
        "where": f"also in {data['file']}"
        if data["file"]
        else "--changes FILE writes them as a file",
        "script": _SCRIPT % {"id": table_id},
    }

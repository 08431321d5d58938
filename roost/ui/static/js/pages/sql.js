// SQL console: run a query with the signed-in token (Ctrl+Enter), results as a table, errors pointed at.

import { api, engineMessage, session } from "../api.js";
import {
  alertBox, button, clear, errorText, fmtBytes, fmtInt, h, plural, resultTable, spinner,
} from "../dom.js";

const DRAFT = "roost.sql.draft";

// "line 2, col 7" / "Line 2, Col: 7" / "(line 2, col 7)" / "at position 15" -> {line, col} (1-based) or null
export function errorPosition(message, text) {
  const m = /line[\s:]*(\d+)\s*,?\s*col(?:umn)?[\s:.]*(\d+)/i.exec(message);
  if (m) return { line: Number(m[1]), col: Number(m[2]) };
  const p = /position[\s:]*(\d+)/i.exec(message);
  if (p && text) {
    const off = Math.max(0, Number(p[1]) - 1);
    const before = text.slice(0, off).split("\n");
    return { line: before.length, col: before[before.length - 1].length + 1 };
  }
  return null;
}

function offsetOf(text, line, col) {
  const lines = text.split("\n");
  const l = Math.min(Math.max(line, 1), lines.length);
  let off = 0;
  for (let i = 0; i < l - 1; i += 1) off += lines[i].length + 1;
  return off + Math.min(Math.max(col - 1, 0), lines[l - 1].length);
}

export async function render(el) {
  const editor = h("textarea.sql-editor.mono", { spellcheck: "false", autocomplete: "off", autocapitalize: "off",
    wrap: "off", rows: "10" });
  editor.setAttribute("autocorrect", "off");
  const gutter = h("div.gutter", { "aria-hidden": "true" });
  const runBtn = button("Run", { icon: "play", kind: "primary", type: "submit", class: "btn-run" });
  const output = h("div.sql-output", { "aria-live": "polite" });
  const tablesBox = h("div.tables-box", spinner());
  const form = h("form.sql-form",
    h("div.editor-label", h("label", { for: "sql-editor" }, "Query"),
      h("span.muted.small", "Ctrl+Enter (⌘+Enter) runs · runs with your token, so your filters apply")),
    h("div.editor-wrap", gutter, editor),
    h("div.run-bar", runBtn, h("span.muted.small", "SELECT only. Add FORMAT CSV, TSV or JSONEachRow to see raw output.")));
  editor.id = "sql-editor";
  el.append(
    h("header.page-header", h("div", h("h1", "SQL console"),
      h("p.muted", "Query data sources, published pipes (as tables) and, as the admin, the tinybird.* service logs."))),
    h("div.sql-layout",
      h("section.card.sql-main", h("div.card-body", form, output)),
      h("aside.card.sql-side", { "aria-label": "Tables" }, h("header.card-header", h("h2", "Tables")), h("div.card-body", tablesBox))),
  );

  const drawGutter = (errLine) => {
    const n = editor.value.split("\n").length;
    clear(gutter, Array.from({ length: n }, (_, i) => h(`div${i + 1 === errLine ? ".err" : ""}`, String(i + 1))));
    gutter.scrollTop = editor.scrollTop;
  };
  editor.addEventListener("input", () => {
    drawGutter();
    editor.classList.remove("has-error");
    try { sessionStorage.setItem(DRAFT, editor.value); } catch { /* full */ }
  });
  editor.addEventListener("scroll", () => { gutter.scrollTop = editor.scrollTop; });
  editor.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      form.requestSubmit();
    }
  });

  const run = async () => {
    const q = editor.value.trim().replace(/;\s*$/, "");
    if (!q) {
      clear(output, alertBox("info", "Type a query first."));
      return;
    }
    drawGutter();
    runBtn.disabled = true;
    clear(output, spinner("Running…"));
    const t0 = performance.now();
    try {
      const raw = await api("/v0/sql", { method: "POST", form: { q }, raw: true });
      const ms = performance.now() - t0;
      let res = null;
      try { res = JSON.parse(raw); } catch { res = null; }
      if (res && Array.isArray(res.data)) {
        const st = res.statistics || {};
        clear(output, h("p.result-info.muted",
          plural(res.rows, "row"), res.rows_before_limit_at_least ? ` (at least ${fmtInt(res.rows_before_limit_at_least)} before LIMIT)` : "",
          ` · ${(Number(st.elapsed || 0) * 1000).toFixed(1)} ms · ${fmtInt(st.rows_read)} rows, ${fmtBytes(st.bytes_read)} read · ${Math.round(ms)} ms round trip`),
        resultTable(res, { caption: "Query results", emptyTitle: "The query returned no rows" }));
      } else {
        clear(output, h("p.result-info.muted", `${Math.round(ms)} ms round trip`), h("pre.code.result-raw", raw.slice(0, 50000)));
      }
    } catch (e) {
      showError(e, q);
    } finally {
      runBtn.disabled = false;
    }
  };

  const showError = (e, q) => {
    const msg = engineMessage(errorText(e));
    const text = editor.value;
    const pos = errorPosition(msg, q);
    const parts = [h("p.error-title", `Error${e.status ? ` ${e.status}` : ""}`), h("p.error-msg.mono", msg)];
    if (pos) {
      // q is the trimmed text; positions refer to it. Map to the editor text (leading whitespace trimmed).
      const lead = text.length - text.trimStart().length;
      const qOff = offsetOf(q, pos.line, pos.col);
      const off = Math.min(lead + qOff, text.length);
      const before = text.slice(0, off).split("\n");
      const line = before.length;
      const col = before[before.length - 1].length + 1;
      const lineText = text.split("\n")[line - 1] || "";
      parts.push(h("div.error-pointer", h("span.sr-only", `At line ${line}, column ${col}:`),
        h("pre.code.pointer", { "aria-hidden": "true" }, `${String(line).padStart(3)} | ${lineText}\n    | ${" ".repeat(Math.max(col - 1, 0))}^`),
        h("p.small", `Line ${line}, column ${col}`)));
      drawGutter(line);
      editor.classList.add("has-error");
      const end = (() => {
        const m = /^[\w.]+|^\S/.exec(text.slice(off));
        return off + (m ? m[0].length : 0);
      })();
      editor.focus();
      editor.setSelectionRange(off, Math.max(end, off));
    }
    clear(output, alertBox("error", parts));
  };

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    run();
  });

  // tables the token can read
  let dss = [];
  let pps = [];
  try {
    const [d, p] = await Promise.all([api("/v0/datasources"), api("/v0/pipes")]);
    dss = d.datasources || [];
    pps = (p.pipes || []).filter((x) => x.type === "endpoint");
  } catch (e) {
    clear(tablesBox, alertBox("error", errorText(e)));
  }
  let draft = null;
  try { draft = sessionStorage.getItem(DRAFT); } catch { draft = null; }
  editor.value = draft || (dss.length ? `SELECT *\nFROM ${dss[0].name}\nLIMIT 10` : "SELECT 1 AS one");
  drawGutter();
  const insert = (name) => {
    const { selectionStart: a, selectionEnd: b, value } = editor;
    editor.value = value.slice(0, a) + name + value.slice(b);
    editor.focus();
    editor.setSelectionRange(a + name.length, a + name.length);
    drawGutter();
  };
  const group = (title, names) => (names.length ? h("div.table-group", h("h3", title),
    h("ul.table-names", names.map((n) => h("li", h("button.linkish.mono", { type: "button", title: `Insert ${n}`,
      on: { click: () => insert(n) } }, n))))) : null);
  const service = session.isAdmin() ? ["tinybird.datasources_ops_log", "tinybird.pipe_stats_rt"] : [];
  clear(tablesBox,
    group("Data sources", dss.map((d) => d.name)),
    group("Endpoints", pps.map((p) => p.name)),
    group("Service logs", service),
    h("p.muted.small", "Click a name to insert it at the cursor."));
  if (!dss.length && !pps.length) tablesBox.prepend(h("p.muted", "No table is visible to this token."));
}

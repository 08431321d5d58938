// Data sources: list; one data source with preview, schema, quarantine, operations log and file append.

import { api, engineMessage, safeName, session, sql, uploadAppend } from "../api.js";
import {
  alertBox, badge, button, clear, emptyState, errorText, fmtBytes, fmtInt, h, plural, resultTable, spinner, table,
  tabs, timeEl,
} from "../dom.js";

export async function render(el, rest) {
  if (rest.length) return renderOne(el, rest[0], rest[1]);
  return renderList(el);
}

async function renderList(el) {
  const box = h("div", spinner("Loading data sources…"));
  el.append(h("header.page-header",
    h("div", h("h1", "Data sources"), h("p.muted", "Tables of events. Your token sees the data sources its scopes name."))),
  box);
  let list;
  try {
    list = (await api("/v0/datasources")).datasources || [];
  } catch (e) {
    clear(box, alertBox("error", errorText(e)));
    return;
  }
  if (!list.length) {
    clear(box, emptyState("No data sources", "No data source is visible to this token. Create one with the API or the CLI (roost push)."));
    return;
  }
  clear(box, h("div.card.card-flush", table([
    { label: "Name", render: (d) => h("div.token-name",
      h("a.name", { href: `/ui/datasources/${encodeURIComponent(d.name)}`, dataset: { link: "" } }, d.name),
      d.description ? h("span.desc", d.description) : null) },
    { label: "Rows", class: "num", render: (d) => fmtInt(d.statistics?.row_count) },
    { label: "Size", class: "num", render: (d) => fmtBytes(d.statistics?.bytes) },
    { label: "Quarantine", class: "num", render: (d) => (Number(d.quarantine_rows) ? badge(fmtInt(d.quarantine_rows), "warning") : h("span.muted", "0")) },
    { label: "Columns", class: "num", render: (d) => fmtInt((d.columns || []).length) },
    { label: "Updated", render: (d) => timeEl(d.updated_at, "—"), class: "nowrap" },
  ], list, { caption: "Data sources", rowData: (d) => ({ datasource: d.name }) })));
}

const TABS = ["preview", "schema", "quarantine", "ops", "append"];

async function renderOne(el, name, tab) {
  const head = h("header.page-header",
    h("div", h("p.crumbs", h("a", { href: "/ui/datasources", dataset: { link: "" } }, "Data sources"), " / "),
      h("h1.mono-title", name)));
  const box = h("div.stack", spinner());
  el.append(head, box);
  let ds;
  try {
    safeName(name);
    ds = await api(`/v0/datasources/${encodeURIComponent(name)}`);
  } catch (e) {
    clear(box, alertBox("error", e.status === 403 ? `Your token cannot read ${name}: ${errorText(e)}` : errorText(e)));
    return;
  }
  if (ds.description) head.firstChild.append(h("p.muted", ds.description));
  const engine = ds.engine || {};
  const stats = h("div.stat-grid.stat-grid-4");
  const quarantineLabel = h("span");
  const drawStats = (d) => {
    clear(stats,
      statBox("Rows", fmtInt(d.statistics?.row_count)),
      statBox("Size", fmtBytes(d.statistics?.bytes)),
      statBox("Quarantined rows", fmtInt(d.quarantine_rows)),
      statBox("Engine", engine.engine || "MergeTree", engine.sorting_key ? `ORDER BY ${engine.sorting_key}` : ""));
    quarantineLabel.textContent = `Quarantine (${fmtInt(d.quarantine_rows)})`;
  };
  const refreshStats = async () => {
    try {
      drawStats(await api(`/v0/datasources/${encodeURIComponent(name)}`));
    } catch {
      /* the next action reports it */
    }
  };
  drawStats(ds);
  const items = [
    { id: "preview", label: "Preview", render: (p) => preview(p, name), rerender: true },
    { id: "schema", label: "Schema", render: (p) => schema(p, ds) },
    { id: "quarantine", label: quarantineLabel, render: (p) => quarantine(p, name), rerender: true },
    session.isAdmin() ? { id: "ops", label: "Operations log", render: (p) => opsLog(p, name), rerender: true } : null,
    { id: "append", label: "Append data", render: (p) => appendPanel(p, name, refreshStats) },
  ].filter(Boolean);
  const t = tabs(items, {
    label: `${name} sections`,
    selected: TABS.includes(tab) ? tab : "preview",
    onSelect: (id) => {
      const path = `/ui/datasources/${encodeURIComponent(name)}${id === "preview" ? "" : `/${id}`}`;
      if (location.pathname !== path) history.replaceState({}, "", path);
    },
  });
  clear(box, stats, h("div.card", t));
}

function statBox(label, value, sub) {
  return h("div.stat", h("span.stat-label", label), h("span.stat-value", value), sub ? h("span.stat-sub.mono", sub) : null);
}

async function runInto(panel, title, query, opts = {}) {
  const out = h("div", spinner());
  panel.replaceChildren(
    h("div.panel-head", h("div", h("h2.panel-title", title), opts.note ? h("p.muted", opts.note) : null),
      button("Reload", { icon: "refresh", class: "btn-small", onClick: () => runInto(panel, title, query, opts) })),
    h("details.sql-shown", h("summary", "SQL"), h("pre.code", query)),
    out);
  try {
    const res = await sql(query);
    const info = h("p.result-info.muted", plural(res.rows, "row"),
      res.statistics ? ` · ${(res.statistics.elapsed * 1000).toFixed(1)} ms · ${fmtInt(res.statistics.rows_read)} rows read` : "");
    clear(out, info, resultTable(res, { caption: title, emptyTitle: opts.emptyTitle, emptyText: opts.emptyText, wrap: opts.wrap }));
  } catch (e) {
    clear(out, alertBox(e.status === 403 ? "warning" : "error", opts.on403 && e.status === 403 ? opts.on403(e) : engineMessage(errorText(e))));
  }
}

function preview(panel, name) {
  const who = session.get().workspace.token_name;
  runInto(panel, "First 50 rows", `SELECT * FROM ${safeName(name)} LIMIT 50`, {
    note: `Read with your token (${who}): a token with a row filter sees only its own rows.`,
    emptyTitle: "No rows visible", emptyText: "The data source is empty, or your token's filter matches no rows.",
  });
}

function schema(panel, ds) {
  const cols = ds.columns || [];
  panel.replaceChildren(h("div.panel-head", h("h2.panel-title", "Columns")),
    table([
      { label: "Name", render: (c) => h("code", c.name) },
      { label: "Type", render: (c) => h("code.type", c.type) },
      { label: "JSON path", render: (c) => (c.jsonpath ? h("code", c.jsonpath) : h("span.muted", "—")) },
      { label: "Default", render: (c) => (c.default_value ? h("code", c.default_value) : h("span.muted", "—")) },
      { label: "Nullable", render: (c) => (c.nullable ? "yes" : "no") },
    ], cols, { caption: "Columns" }),
    ds.schema?.sql_schema ? h("details.sql-shown", h("summary", "Schema as SQL"), h("pre.code", ds.schema.sql_schema)) : null);
}

function quarantine(panel, name) {
  runInto(panel, "Quarantined rows",
    `SELECT insertion_date, c__import_id, c__error, c__raw FROM ${safeName(name)}_quarantine ORDER BY insertion_date DESC LIMIT 50`,
    {
      note: "Rows that did not fit the schema, with the reason. Fix the source and append them again.",
      wrap: true,
      emptyTitle: "Nothing in quarantine", emptyText: "Every row appended so far was valid.",
      on403: (e) => `Your token cannot read the quarantine: ${errorText(e)}`,
    });
}

function opsLog(panel, name) {
  runInto(panel, "Operations log",
    "SELECT timestamp, event_type, result, rows, rows_quarantine, elapsed_time, error, request_id " +
    `FROM tinybird.datasources_ops_log WHERE datasource_name = '${safeName(name)}' ORDER BY timestamp DESC LIMIT 50`,
    { note: "Every create, append, replace, truncate, delete and alter (from tinybird.datasources_ops_log).", wrap: true,
      emptyTitle: "No operations logged yet" });
}

export function formatOf(fileName) {
  const n = fileName.toLowerCase().replace(/\.gz$/, "");
  if (n.endsWith(".csv") || n.endsWith(".tsv")) return "csv";
  if (n.endsWith(".ndjson") || n.endsWith(".jsonl") || n.endsWith(".json")) return "ndjson";
  if (n.endsWith(".parquet")) return "parquet";
  return null;
}

function appendPanel(panel, name, onAppended) {
  const input = h("input.sr-only", { type: "file", accept: ".csv,.ndjson,.jsonl,.json,.parquet,.gz" });
  input.id = `file-${name}`;
  const label = h("label.drop-label", { for: input.id }, "choose a file");
  const zone = h("div.dropzone", { "aria-describedby": `${input.id}-hint` },
    h("p.drop-title", "Drop a file here, or ", label),
    h("p.muted", { id: `${input.id}-hint` }, "CSV, NDJSON or Parquet (optionally gzipped). Rows are appended; invalid rows go to the quarantine."),
    input);
  const progress = h("progress", { max: "100", value: "0", "aria-label": "Upload progress" });
  const progressText = h("span.progress-text");
  const progressBox = h("div.progress-box", { hidden: true }, progress, progressText);
  const result = h("div.append-result", { role: "status", "aria-live": "polite" });
  panel.replaceChildren(h("div.panel-head", h("div", h("h2.panel-title", "Append a file"),
    h("p.muted", `POST /v0/datasources?mode=append&name=${name} — needs DATASOURCES:APPEND:${name} or DATASOURCES:CREATE.`))),
  zone, progressBox, result);

  const send = async (file) => {
    clear(result);
    const format = formatOf(file.name);
    if (!format) {
      result.append(alertBox("error", `Unknown file type: ${file.name}. Use .csv, .ndjson, .jsonl or .parquet (optionally .gz).`));
      return;
    }
    progressBox.hidden = false;
    progress.value = 0;
    progressText.textContent = `Uploading ${file.name} (${fmtBytes(file.size)})…`;
    zone.classList.add("busy");
    try {
      const res = await uploadAppend(name, format, file, (loaded, total) => {
        progress.value = Math.round((loaded / total) * 100);
        progressText.textContent = `Uploading ${file.name}: ${progress.value}% of ${fmtBytes(total)}`;
      });
      progress.value = 100;
      progressText.textContent = `${file.name}: done`;
      const q = Number(res.quarantined_rows || 0);
      result.append(alertBox(q ? "warning" : "success",
        `${plural(res.successful_rows, "row")} appended`, q ? `, ${plural(q, "row")} quarantined` : "", ` (import ${res.import_id || "—"}).`));
      onAppended();
      if (res.errors && res.errors.length) {
        result.append(h("ul.error-list", res.errors.slice(0, 10).map((x) => h("li", typeof x === "string" ? x : JSON.stringify(x)))));
      }
    } catch (e) {
      progressText.textContent = `${file.name}: failed`;
      result.append(alertBox("error", e.status === 403 ? `Your token cannot append to ${name}: ${errorText(e)}` : errorText(e)));
    } finally {
      zone.classList.remove("busy");
      input.value = "";
    }
  };
  input.addEventListener("change", () => {
    if (input.files && input.files[0]) send(input.files[0]);
  });
  for (const ev of ["dragenter", "dragover"]) {
    zone.addEventListener(ev, (e) => {
      e.preventDefault();
      zone.classList.add("over");
    });
  }
  for (const ev of ["dragleave", "drop"]) {
    zone.addEventListener(ev, (e) => {
      e.preventDefault();
      zone.classList.remove("over");
    });
  }
  zone.addEventListener("drop", (e) => {
    const f = e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0];
    if (f) send(f);
  });
}


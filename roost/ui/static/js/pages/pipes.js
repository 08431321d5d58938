// Pipes: list; one pipe with its nodes, a run form from its template parameters, the endpoint URL, a curl
// command, and (admin) the recent requests with a latency chart from tinybird.pipe_stats_rt.

import { api, engineMessage, qs, safeName, session, sql } from "../api.js";
import { barChart, fitted } from "../charts.js";
import {
  alertBox, badge, button, clear, codeCopy, emptyState, errorText, field, fmtInt, fmtMs, fmtTime, h, plural,
  resultTable, spinner, table, timeEl,
} from "../dom.js";

export async function render(el, rest) {
  if (rest.length) return renderOne(el, rest[0]);
  return renderList(el);
}

function typeBadge(p) {
  if (p.type === "endpoint") return badge("endpoint", "accent");
  if (p.type === "materialized") return badge("materialized", "info");
  return badge("pipe");
}

async function renderList(el) {
  const box = h("div", spinner("Loading pipes…"));
  el.append(h("header.page-header",
    h("div", h("h1", "Pipes"), h("p.muted", "SQL nodes over your data sources; an endpoint node makes a pipe an HTTP API."))), box);
  let list;
  try {
    list = (await api("/v0/pipes")).pipes || [];
  } catch (e) {
    clear(box, alertBox("error", errorText(e)));
    return;
  }
  if (!list.length) {
    clear(box, emptyState("No pipes", "No pipe is visible to this token. Create one with the API or roost push."));
    return;
  }
  clear(box, h("div.card.card-flush", table([
    { label: "Name", render: (p) => h("div.token-name",
      h("a.name", { href: `/ui/pipes/${encodeURIComponent(p.name)}`, dataset: { link: "" } }, p.name),
      p.description ? h("span.desc", p.description) : null) },
    { label: "Type", render: typeBadge },
    { label: "Nodes", class: "num", render: (p) => fmtInt((p.nodes || []).length) },
    { label: "Parameters", render: (p) => h("span.mono.small", (p.params || []).map((x) => x.name).join(", ") || "—") },
    { label: "Updated", class: "nowrap", render: (p) => timeEl(p.updated_at, "—") },
  ], list, { caption: "Pipes", rowData: (p) => ({ pipe: p.name }) })));
}

function paramControl(p) {
  const t = String(p.type || "String");
  let control;
  if (Array.isArray(p.enum) && p.enum.length) {
    control = h("select", h("option", { value: "" }, p.default !== null && p.default !== undefined ? `default (${p.default})` : "—"),
      p.enum.map((v) => h("option", { value: String(v) }, String(v))));
  } else if (/^Bool/i.test(t)) {
    control = h("select", h("option", { value: "" }, "—"), h("option", { value: "true" }, "true"), h("option", { value: "false" }, "false"));
  } else if (/^Date$/.test(t)) {
    control = h("input", { type: "date" });
  } else if (/^(U?Int|Float)/.test(t)) {
    control = h("input", { type: "number", step: /^Float/.test(t) ? "any" : "1", inputmode: "decimal" });
  } else {
    control = h("input", { type: "text", spellcheck: "false",
      placeholder: /^DateTime/.test(t) ? "YYYY-MM-DD HH:MM:SS" : /^Array/.test(t) ? "comma-separated values" : "" });
  }
  control.name = p.name;
  if (p.required) control.required = true;
  if (control.tagName === "INPUT" && p.default !== null && p.default !== undefined && control.type !== "date") {
    control.placeholder = `default: ${p.default}`;
  }
  const desc = p.description ? String(p.description).replace(/([^.!?])$/, "$1.") : null;
  const hint = [desc, p.default !== null && p.default !== undefined ? `Default ${p.default}.` : null,
    p.required ? "Required." : null].filter(Boolean).join(" ");
  const f = field(h("span", h("span.mono", p.name), " ", h("span.param-type", t)), control, { hint: hint || null });
  f.classList.add("param-field");
  return f;
}

async function renderOne(el, name) {
  const head = h("header.page-header", h("div",
    h("p.crumbs", h("a", { href: "/ui/pipes", dataset: { link: "" } }, "Pipes"), " / "), h("h1.mono-title", name)));
  const box = h("div.stack", spinner());
  el.append(head, box);
  let pipe;
  try {
    safeName(name);
    pipe = await api(`/v0/pipes/${encodeURIComponent(name)}`);
  } catch (e) {
    clear(box, alertBox("error", e.status === 403 ? `Your token cannot read the pipe ${name}: ${errorText(e)}` : errorText(e)));
    return;
  }
  head.firstChild.append(h("div.title-meta", typeBadge(pipe), pipe.description ? h("span.muted", pipe.description) : null));
  const isEndpoint = pipe.type === "endpoint";
  const params = [];
  const seen = new Set();
  const epIndex = (pipe.nodes || []).findIndex((n) => n.id === pipe.endpoint);
  for (const n of (pipe.nodes || []).slice(0, epIndex >= 0 ? epIndex + 1 : undefined)) {
    for (const p of n.params || []) if (!seen.has(p.name)) { seen.add(p.name); params.push(p); }
  }

  // run form
  const format = h("select", ["json", "csv", "ndjson"].map((f) => h("option", { value: f }, f.toUpperCase())));
  const paramFields = params.map(paramControl);
  const runBtn = button("Run endpoint", { icon: "play", kind: "primary", type: "submit", disabled: !isEndpoint });
  const output = h("div.run-output");
  const endpointBox = h("div.endpoint-box");
  const form = h("form.run-form", { novalidate: false },
    paramFields.length ? h("div.param-grid", paramFields) : h("p.muted", "This endpoint takes no parameters."),
    h("div.run-bar", field("Format", format, { class: "field-inline" }), runBtn));
  const values = () => {
    const out = {};
    for (const c of form.querySelectorAll("[name]")) if (c.value !== "" && c !== format) out[c.name] = c.value;
    return out;
  };
  const drawEndpoint = () => {
    const url = `${location.origin}/v0/pipes/${name}.${format.value}${qs(values())}`;
    clear(endpointBox,
      codeCopy("Endpoint URL", url, { what: "URL", hint: "Send the token in the Authorization header, not in the URL." }),
      codeCopy("curl with your token", `curl -s '${url}' -H 'Authorization: Bearer ${session.token()}'`,
        { what: "curl command", mask: session.token(), hint: "Contains your token: keep it secret." }));
  };
  form.addEventListener("input", drawEndpoint);
  form.addEventListener("change", drawEndpoint);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!form.reportValidity()) return;
    runBtn.disabled = true;
    clear(output, spinner("Running…"));
    const t0 = performance.now();
    try {
      const fmt = format.value;
      const raw = await api(`/v0/pipes/${encodeURIComponent(name)}.${fmt}`, { params: values(), raw: true });
      const ms = performance.now() - t0;
      if (fmt === "json") {
        const res = JSON.parse(raw);
        clear(output, h("p.result-info.muted", `${plural(res.rows, "row")} · ${fmtMs(res.statistics?.elapsed)} on the server · ${Math.round(ms)} ms round trip · ${fmtInt(res.statistics?.rows_read)} rows read`),
          resultTable(res, { caption: `Result of ${name}`, emptyTitle: "No rows", emptyText: "The endpoint returned no rows for these parameters (or your token's filter)." }));
      } else {
        clear(output, h("p.result-info.muted", `${Math.round(ms)} ms round trip`), h("pre.code.result-raw", raw.slice(0, 20000)));
      }
    } catch (err) {
      clear(output, alertBox("error", engineMessage(errorText(err))));
    } finally {
      runBtn.disabled = !isEndpoint;
    }
  });
  drawEndpoint();

  const nodes = (pipe.nodes || []).map((n) => h("article.node",
    h("header.node-head", h("h3.mono", n.name), badge(n.node_type || n.type || "standard", n.id === pipe.endpoint ? "accent" : ""),
      n.materialized ? h("span.muted", ` → ${n.materialized}`) : null),
    n.description ? h("p.muted", n.description) : null,
    h("pre.code.sql", { tabindex: "0", "aria-label": `SQL of node ${n.name}` }, n.sql)));

  const reqBox = h("div.stack", spinner());
  clear(box,
    h("div.grid-main",
      h("section.card", h("header.card-header", h("h2", "Run")), h("div.card-body",
        isEndpoint ? null : alertBox("info", "This pipe has no endpoint node, so it cannot be called over HTTP."),
        form, output)),
      h("section.card", h("header.card-header", h("h2", "Endpoint")), h("div.card-body", endpointBox))),
    h("section.card", h("header.card-header", h("h2", `Nodes (${nodes.length})`)), h("div.card-body.nodes", nodes)),
    h("section.card", h("header.card-header", h("h2", "Requests"),
      button("Reload", { icon: "refresh", class: "btn-small", onClick: () => requests(reqBox, pipe) })), h("div.card-body", reqBox)));
  requests(reqBox, pipe);
}

async function requests(box, pipe) {
  clear(box, spinner());
  const parts = [];
  try {
    const st = await api(`/v0/pipes/${encodeURIComponent(pipe.name)}/stats`);
    parts.push(h("div.stat-grid.stat-grid-4",
      mini("Requests", fmtInt(st.requests)), mini("Errors", fmtInt(st.errors)),
      mini("Average", st.requests ? fmtMs(st.avg_duration) : "—"), mini("p90", st.requests ? fmtMs(st.p90_duration) : "—")));
  } catch (e) {
    parts.push(alertBox("warning", `Statistics unavailable: ${errorText(e)}`));
  }
  if (!session.isAdmin()) {
    parts.push(h("p.muted", "The request log (tinybird.pipe_stats_rt) is readable by the admin token only."));
    clear(box, parts);
    return;
  }
  try {
    const res = await sql("SELECT start_datetime, duration, status_code, token_name, result_rows, read_rows, error_message " +
      `FROM tinybird.pipe_stats_rt WHERE pipe_name = '${safeName(pipe.name)}' ORDER BY start_datetime DESC LIMIT 100`);
    const rows = res.data || [];
    if (!rows.length) {
      parts.push(emptyState("No requests yet", "Run the endpoint above; requests show up here within a couple of seconds."));
    } else {
      const points = [...rows].reverse().map((r) => ({ label: `${fmtTime(r.start_datetime)} · ${r.status_code} · ${r.token_name}`,
        short: String(r.start_datetime).slice(11, 19), value: Math.round(Number(r.duration) * 100000) / 100,
        error: Number(r.status_code) >= 400 }));
      parts.push(h("figure.chart-figure", fitted((width) => barChart(points, { width, height: 200, unit: "ms",
        label: `Latency of the last ${rows.length} requests in milliseconds` })),
        h("figcaption.muted", "Latency of the last requests in ms, oldest to newest; red bars are errors.")));
      parts.push(table([
        { label: "Time", class: "nowrap", render: (r) => fmtTime(r.start_datetime) },
        { label: "Duration", class: "num", render: (r) => fmtMs(r.duration) },
        { label: "Status", render: (r) => badge(String(r.status_code), Number(r.status_code) >= 400 ? "danger" : "success") },
        { label: "Token", render: (r) => r.token_name || "—" },
        { label: "Rows", class: "num", render: (r) => fmtInt(r.result_rows) },
        { label: "Error", render: (r) => r.error_message || "" },
      ], rows.slice(0, 20), { caption: "Recent requests" }));
    }
  } catch (e) {
    parts.push(alertBox("error", `Request log: ${errorText(e)}`));
  }
  clear(box, parts);
}

function mini(label, value) {
  return h("div.stat.stat-mini", h("span.stat-label", label), h("span.stat-value", value));
}

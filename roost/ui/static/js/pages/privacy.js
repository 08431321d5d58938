// Privacy demo: the same endpoint called with two users' tokens, side by side. Each token's row filter
// decides what it sees; the SQL of the endpoint is the same for both.

import { api, session } from "../api.js";
import { barChart, fitted } from "../charts.js";
import { alertBox, button, clear, errorText, field, fmtInt, h, spinner } from "../dom.js";

const PIPE = "ecommerce_example";
const DEMO_USERS = ["user_1", "user_2", "user_3"];

export async function render(el) {
  el.append(h("header.page-header", h("div", h("h1", "Privacy demo"),
    h("p.muted", `One endpoint (${PIPE}), one SQL text, different tokens: each user's token carries a row filter, so each user sees only their own rows.`))));
  const box = h("div.stack", spinner());
  el.append(box);
  try {
    await api(`/v0/pipes/${PIPE}`);
  } catch (e) {
    clear(box, alertBox("info",
      h("strong", "The demo endpoint is not available to this token. "),
      e.status === 404 ? "Start Roost with the demo dataset (./dev demo, or roost serve --demo) to load the events data source, the ecommerce_example endpoint and the tokens user_1, user_2 and user_3."
        : `(${errorText(e)}) Sign in with the admin token, or with a demo user's token.`));
    return;
  }

  const metric = h("select", h("option", { value: "events" }, "Events per day"), h("option", { value: "revenue" }, "Revenue per day"));
  const eventType = h("select", h("option", { value: "" }, "All"), ["view", "cart", "purchase"].map((t) => h("option", { value: t }, t)));
  const controls = h("div.toolbar.demo-controls", field("Metric", metric, { class: "field-inline" }),
    field("Event type", eventType, { class: "field-inline" }));
  const panels = h("div.compare");
  clear(box, controls, panels);

  const sources = [];
  if (session.canManageTokens()) DEMO_USERS.forEach((u) => sources.push({ id: u, label: `Demo user ${u.slice(5)} (${u})`, name: u }));
  sources.push({ id: "self", label: `Your token (${session.get().workspace.token_name})` });
  sources.push({ id: "paste", label: "Paste a token…" });
  const defaults = session.canManageTokens() ? ["user_1", "user_2"] : ["self", "paste"];
  const sides = [makePanel("A", "a", sources, defaults[0]), makePanel("B", "b", sources, defaults[1])];
  sides.forEach((s) => panels.append(s.el));

  const redraw = () => {
    const m = metric.value;
    const max = Math.max(0, ...sides.map((x) => x.data()).filter(Boolean).flatMap((r) => r.days.map((d) => d[m])));
    sides.forEach((x) => x.draw(m, max));
  };
  const reload = async (only) => {
    await Promise.all(sides.filter((x) => !only || x === only).map((x) => x.load(eventType.value)));
    redraw();
  };
  metric.addEventListener("change", redraw);
  eventType.addEventListener("change", () => reload());
  sides.forEach((x) => { x.onChange = () => reload(x); });
  reload();
}

function makePanel(title, cls, sources, initial) {
  const sel = h("select", sources.map((s) => h("option", { value: s.id, selected: s.id === initial }, s.label)));
  const paste = h("input.mono", { type: "password", autocomplete: "off", spellcheck: "false", placeholder: "p.eyJ1Ijo…" });
  const useBtn = button("Use token", { class: "btn-small" });
  const pasteRow = h("div.paste-row", field(`Token for side ${title}`, paste), useBtn);
  const heading = h("h2", `Side ${title}`);
  const body = h("div.compare-body");
  const el = h(`section.card.compare-panel.side-${cls}`, { "aria-label": `Side ${title}` },
    h("header.card-header", heading),
    h("div.card-body", field(`Token of side ${title}`, sel), pasteRow, body));
  const tokenCache = {};
  let last = null;

  const tokenFor = async () => {
    const src = sources.find((s) => s.id === sel.value);
    if (src.id === "self") return { token: null, label: session.get().workspace.token_name };
    if (src.id === "paste") {
      const v = paste.value.trim();
      return v ? { token: v, label: "pasted token" } : null;
    }
    if (!tokenCache[src.name]) {
      const rec = await api(`/v0/tokens/${encodeURIComponent(src.name)}`);
      const filters = (rec.scopes || []).filter((x) => x.filter).map((x) => `${x.resource}: ${x.filter}`);
      tokenCache[src.name] = { token: rec.token, filters };
    }
    return { token: tokenCache[src.name].token, label: src.name, filters: tokenCache[src.name].filters };
  };

  const panel = {
    el,
    onChange: null,
    async load(eventType) {
      pasteRow.hidden = sel.value !== "paste";
      clear(body, spinner());
      last = null;
      let t;
      try {
        t = await tokenFor();
      } catch (e) {
        clear(body, alertBox("error", `Could not get the token: ${errorText(e)}`));
        return null;
      }
      if (!t) {
        clear(body, h("p.muted", "Paste a token (for example a demo user's token printed by ./dev demo) and press Use token."));
        return null;
      }
      const opts = t.token ? { token: t.token } : {};
      try {
        const who = t.token ? await api("/v0/workspace", opts) : session.get().workspace;
        const params = { start: "2026-01-01", limit: 5000 };
        if (eventType) params.event_type = eventType;
        const res = await api(`/v0/pipes/${PIPE}.json`, { ...opts, params });
        let users = null;
        try {
          const u = await api("/v0/sql", { ...opts, params: { q: "SELECT groupUniqArray(5)(user_id) AS users, uniqExact(user_id) AS n, count() AS rows FROM events FORMAT JSON" } });
          users = u.data && u.data[0];
        } catch {
          users = null;
        }
        const byDay = new Map();
        for (const r of res.data || []) {
          const d = byDay.get(r.day) || { day: r.day, events: 0, revenue: 0 };
          d.events += Number(r.events || 0);
          d.revenue += Number(r.revenue || 0);
          byDay.set(r.day, d);
        }
        const days = [...byDay.values()].sort((a, b) => (a.day < b.day ? -1 : 1));
        last = { who: who.token_name || t.label, days, users, rows: res.rows, filters: t.filters || null };
        return last;
      } catch (e) {
        clear(body, alertBox("error", e.status === 403 ? `This token cannot call ${PIPE}: ${errorText(e)}` : errorText(e)));
        return null;
      }
    },
    data() {
      return last;
    },
    draw(metric, max) {
      if (!last) return;
      heading.textContent = `Side ${title}: ${last.who}`;
      const total = last.days.reduce((a, d) => a + d[metric], 0);
      const unit = metric === "revenue" ? "revenue" : "events";
      const points = last.days.map((d) => ({ label: d.day, short: d.day.slice(5), value: Math.round(d[metric] * 100) / 100 }));
      const summary = h("div.stat-grid.stat-grid-3",
        h("div.stat.stat-mini", h("span.stat-label", metric === "revenue" ? "Revenue" : "Events"),
          h("span.stat-value", metric === "revenue" ? total.toLocaleString("en-US", { maximumFractionDigits: 2 }) : fmtInt(total))),
        h("div.stat.stat-mini", h("span.stat-label", "Days"), h("span.stat-value", fmtInt(last.days.length))),
        h("div.stat.stat-mini", h("span.stat-label", "Visible user_id"),
          h("span.stat-value.mono", last.users ? `${last.users.users.slice(0, 3).join(", ")}${Number(last.users.n) > 3 ? ` … (${fmtInt(last.users.n)})` : ""}` : "—")));
      const filterNote = last.filters && last.filters.length
        ? h("p.filter-note", "Row filter of this token: ", last.filters.map((f) => h("code.scope-filter", f)))
        : null;
      clear(body, filterNote, summary,
        last.days.length ? h("figure.chart-figure", fitted((width) => barChart(points, { width, label: `${last.who}: ${unit} per day`, unit,
          class: `chart-${cls}`, max: max || undefined })),
        h("figcaption.muted", `${unit[0].toUpperCase()}${unit.slice(1)} per day from GET /v0/pipes/${PIPE}.json with ${last.who}'s token.`))
          : alertBox("info", "No rows: this token's filter matches nothing in the period."));
    },
  };
  sel.addEventListener("change", () => {
    pasteRow.hidden = sel.value !== "paste";
    if (sel.value === "paste" && !paste.value) {
      panel.load();
      paste.focus();
      return;
    }
    if (panel.onChange) panel.onChange();
  });
  useBtn.addEventListener("click", () => panel.onChange && panel.onChange());
  paste.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      useBtn.click();
    }
  });
  pasteRow.hidden = sel.value !== "paste";
  return panel;
}

// Overview: what this token can see, at a glance.

import { api, session } from "../api.js";
import { alertBox, badge, errorText, fmtBytes, fmtInt, h, spinner } from "../dom.js";

export async function render(el) {
  const sess = session.get();
  const ws = sess.workspace;
  el.append(h("header.page-header",
    h("div", h("h1", "Overview"),
      h("p.muted", `Workspace ${ws.name} · signed in with token “${ws.token_name}”`))));
  const stats = h("div.stat-grid", spinner());
  el.append(stats);
  const lists = h("div.grid-2");
  el.append(lists);
  let dss = [];
  let pps = [];
  let toks = null;
  try {
    const [d, p] = await Promise.all([api("/v0/datasources"), api("/v0/pipes")]);
    dss = d.datasources || [];
    pps = p.pipes || [];
    if (session.canManageTokens()) toks = (await api("/v0/tokens")).tokens || [];
  } catch (e) {
    stats.replaceChildren(alertBox("error", errorText(e)));
    return;
  }
  const rows = dss.reduce((a, d) => a + Number(d.statistics?.row_count || 0), 0);
  const bytes = dss.reduce((a, d) => a + Number(d.statistics?.bytes || 0), 0);
  const endpoints = pps.filter((p) => p.type === "endpoint").length;
  stats.replaceChildren(
    stat("Data sources", fmtInt(dss.length), `${fmtInt(rows)} rows · ${fmtBytes(bytes)}`, "/ui/datasources"),
    stat("Pipes", fmtInt(pps.length), `${fmtInt(endpoints)} published as endpoints`, "/ui/pipes"),
    toks ? stat("Tokens", fmtInt(toks.length), "static tokens in this workspace", "/ui/tokens")
      : stat("Your access", ws.scope === "admin" ? "Admin" : "Scoped", "what your token’s scopes allow", null),
  );
  lists.append(
    h("section.card", h("header.card-header", h("h2", "Data sources"), h("a.link", { href: "/ui/datasources", dataset: { link: "" } }, "All data sources")),
      h("div.card-body", dss.length ? h("ul.simple-list", dss.slice(0, 8).map((d) => h("li",
        h("a", { href: `/ui/datasources/${encodeURIComponent(d.name)}`, dataset: { link: "" } }, d.name),
        h("span.muted", `${fmtInt(d.statistics?.row_count)} rows`))))
        : h("p.muted", "No data source is visible to this token."))),
    h("section.card", h("header.card-header", h("h2", "Pipes"), h("a.link", { href: "/ui/pipes", dataset: { link: "" } }, "All pipes")),
      h("div.card-body", pps.length ? h("ul.simple-list", pps.slice(0, 8).map((p) => h("li",
        h("a", { href: `/ui/pipes/${encodeURIComponent(p.name)}`, dataset: { link: "" } }, p.name),
        p.type === "endpoint" ? badge("endpoint", "accent") : badge(p.type || "pipe")))) : h("p.muted", "No pipe is visible to this token."))),
  );
  el.append(h("section.card.tips", h("header.card-header", h("h2", "Getting started")), h("div.card-body", h("ol.steps",
    h("li", "Look at your ", h("a", { href: "/ui/datasources", dataset: { link: "" } }, "data sources"), ": schema, a preview read with your token, the quarantine and the operations log. Drop a CSV, NDJSON or Parquet file to append rows."),
    h("li", "Run an ", h("a", { href: "/ui/pipes", dataset: { link: "" } }, "endpoint"), " with its parameters and copy a ready curl command."),
    session.canManageTokens() ? h("li", "Give each end user a ", h("a", { href: "/ui/tokens", dataset: { link: "" } }, "token"), " with a row filter, or mint a JWT.") : null,
    h("li", "See the promise in the ", h("a", { href: "/ui/privacy", dataset: { link: "" } }, "privacy demo"), ": the same endpoint, different users, different rows.")))));
}

function stat(label, value, sub, href) {
  const inner = [h("span.stat-label", label), h("span.stat-value", value), h("span.stat-sub", sub)];
  return href ? h("a.stat", { href, dataset: { link: "" } }, inner) : h("div.stat", inner);
}

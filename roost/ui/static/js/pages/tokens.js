// Tokens: list, create with a scope builder, edit, delete, refresh, copy, JWT builder, audit trail.

import { api, ApiError, engineMessage, safeName, session, sql } from "../api.js";
import {
  alertBox, append, badge, button, clear, codeCopy, confirmDialog, copyField, copyText, emptyState, errorText, field, fmtInt,
  fmtTime, h, nextId, openDialog, spinner, table, timeEl, toast,
} from "../dom.js";

const SCOPE_TYPES = [
  { type: "DATASOURCES:READ", resource: "datasource", filter: true, help: "read rows of a data source (optionally only rows matching a filter)" },
  { type: "DATASOURCES:APPEND", resource: "datasource", help: "append rows (files, Events API)" },
  { type: "DATASOURCES:DROP", resource: "datasource", help: "drop a data source" },
  { type: "PIPES:READ", resource: "pipe", filter: true, help: "call an endpoint (optionally filtered)" },
  { type: "PIPES:DROP", resource: "pipe", help: "delete a pipe" },
  { type: "DATASOURCES:CREATE", help: "create, change and drop any data source" },
  { type: "PIPES:CREATE", help: "create and change any pipe" },
  { type: "TOKENS", help: "manage tokens" },
  { type: "ADMIN", help: "everything (only an admin can grant it)" },
];
const TYPE_INFO = Object.fromEntries(SCOPE_TYPES.map((t) => [t.type, t]));

let state = { tokens: [], datasources: [], pipes: [], query: "" };

export async function render(el) {
  state = { tokens: [], datasources: [], pipes: [], query: "" };
  const listBox = h("div.token-list", spinner("Loading tokens…"));
  const search = h("input", { type: "search", placeholder: "Filter by name, scope or resource", autocomplete: "off" });
  search.addEventListener("input", () => {
    state.query = search.value.trim().toLowerCase();
    drawList(listBox);
  });
  el.append(
    h("header.page-header",
      h("div", h("h1", "Tokens"), h("p.muted", "Who can read what, and which rows. Changes take effect on the very next request.")),
      h("div.actions",
        button("Refresh list", { icon: "refresh", onClick: () => load(listBox) }),
        button("JWT builder", { icon: "key", onClick: () => jwtDialog(), class: "btn-jwt" }),
        button("New token", { icon: "plus", kind: "primary", onClick: () => tokenDialog(null, listBox), class: "btn-new-token" }))),
    h("div.toolbar", field("Filter tokens", search, { class: "field-inline" })),
    listBox,
  );
  await load(listBox);
}

async function load(listBox) {
  try {
    const [t, d, p] = await Promise.all([api("/v0/tokens"), api("/v0/datasources"), api("/v0/pipes")]);
    state.tokens = t.tokens || [];
    state.datasources = d.datasources || [];
    state.pipes = p.pipes || [];
  } catch (e) {
    clear(listBox, alertBox("error", errorText(e)));
    return;
  }
  drawList(listBox);
}

function scopeChip(s) {
  return h("li.scope",
    h("span.scope-type", s.type),
    s.resource ? h("span.scope-res", s.resource) : null,
    s.filter ? h("code.scope-filter", { title: "Row filter" }, s.filter) : null,
    s.fixed_params ? h("code.scope-filter", JSON.stringify(s.fixed_params)) : null);
}

function matches(t, q) {
  if (!q) return true;
  const hay = [t.name, t.description, ...(t.scopes || []).map((s) => `${s.type} ${s.resource || ""} ${s.filter || ""}`)]
    .join(" ").toLowerCase();
  return hay.includes(q);
}

function drawList(listBox) {
  const rows = state.tokens.filter((t) => matches(t, state.query));
  if (!state.tokens.length) {
    clear(listBox, emptyState("No tokens yet", "Create one with New token."));
    return;
  }
  if (!rows.length) {
    clear(listBox, emptyState("No token matches the filter"));
    return;
  }
  const cols = [
    { label: "Name", render: (t) => h("div.token-name", h("span.name", t.name),
      t.description ? h("span.desc", t.description) : null) },
    { label: "Scopes and filters", render: (t) => h("ul.scopes", (t.scopes || []).map(scopeChip)) },
    { label: "Last used", render: (t) => timeEl(t.last_used_at, "never"), class: "nowrap" },
    { label: "Expires", render: (t) => (t.expires_at ? h("span", { title: fmtTime(t.expires_at) }, timeEl(t.expires_at))
      : h("span.muted", "never")), class: "nowrap" },
    { label: "Actions", class: "actions-col", render: (t) => rowActions(t, listBox) },
  ];
  clear(listBox,
    h("p.count.muted", `${fmtInt(rows.length)} of ${fmtInt(state.tokens.length)} tokens`),
    h("div.card.card-flush", table(cols, rows, { caption: "Tokens", rowData: (t) => ({ token: t.name }) })));
}

function isAdminToken(t) {
  return (t.scopes || []).some((s) => s.type === "ADMIN");
}

function rowActions(t, listBox) {
  const n = t.name;
  const mk = (action, label, iconName, fn, opts = {}) => {
    const b = button(label, { icon: iconName, iconOnly: true, ariaLabel: `${label}: ${n}`, title: label,
      class: `btn-icon ${opts.danger ? "btn-icon-danger" : ""}`, disabled: opts.disabled, onClick: fn });
    b.dataset.action = action;
    return b;
  };
  return h("div.row-actions",
    mk("copy", "Copy value", "copy", () => copyText(t.token, `Token ${n}`), { disabled: !t.token }),
    mk("edit", "Edit", "edit", () => tokenDialog(t, listBox), { disabled: isAdminToken(t) && !session.isAdmin() }),
    mk("refresh", "Refresh value", "refresh", () => refreshToken(t, listBox), { disabled: isAdminToken(t) && !session.isAdmin() }),
    mk("audit", "Audit trail", "log", () => auditDialog(t)),
    mk("delete", "Delete", "trash", () => deleteToken(t, listBox), { danger: true, disabled: isAdminToken(t) }));
}

// --- scope builder ----------------------------------------------------------------------------------

function scopeBuilder(initial) {
  const rowsEl = h("div.scope-rows");
  const builder = h("fieldset.scope-builder", h("legend", "Scopes"),
    h("p.hint", "Pick what the token may do. READ scopes take an optional SQL filter: the token then sees only the rows for which it is true."),
    rowsEl);
  const rows = [];
  const addRow = (s) => {
    const row = scopeRow(s || { type: "DATASOURCES:READ" }, () => {
      rows.splice(rows.indexOf(row), 1);
      row.el.remove();
      renumber();
      const last = rows[rows.length - 1];
      (last ? last.typeSel : addBtn).focus();
    });
    rows.push(row);
    rowsEl.append(row.el);
    renumber();
    return row;
  };
  const renumber = () => rows.forEach((r, i) => { r.legend.textContent = `Scope ${i + 1}`; });
  const addBtn = button("Add scope", { icon: "plus", class: "btn-small btn-add-scope", onClick: () => addRow().typeSel.focus() });
  builder.append(addBtn);
  (initial && initial.length ? initial : [null]).forEach((s) => addRow(s));
  builder.scopes = () => rows.map((r) => r.value()).filter(Boolean);
  builder.rows = rows;
  return builder;
}

function scopeRow(s, onRemove) {
  const typeSel = h("select.scope-type-select", SCOPE_TYPES.filter((t) => t.type !== "ADMIN" || session.isAdmin())
    .map((t) => h("option", { value: t.type, selected: t.type === s.type }, t.type)));
  const resSel = h("select.scope-resource");
  const filterIn = h("input.mono.scope-filter-input", { type: "text", placeholder: "e.g. user_id = 42", autocomplete: "off",
    spellcheck: "false", value: s.filter || "" });
  const check = h("div.check-result", { role: "status", "aria-live": "polite" });
  const checkBtn = button("Check filter", { icon: "check", class: "btn-small btn-check-filter" });
  const legend = h("legend.scope-legend", "Scope");
  const help = h("p.hint");
  const resField = field("Resource", resSel);
  const filterField = field("Row filter (SQL)", filterIn, { optional: true });
  const removeBtn = button("Remove scope", { icon: "x", class: "btn-small btn-ghost" });
  const filterRow = h("div.scope-filter-row", filterField, checkBtn);
  const el = h("fieldset.scope-row", legend,
    h("div.scope-grid", field("Type", typeSel), resField, h("div.scope-row-actions", removeBtn)),
    help, filterRow, check);
  const fill = (initial) => {
    const info = TYPE_INFO[typeSel.value] || {};
    help.textContent = info.help || "";
    resField.hidden = !info.resource;
    filterRow.hidden = !info.filter;
    const items = info.resource === "datasource" ? state.datasources : info.resource === "pipe" ? state.pipes : [];
    const keep = initial === true ? s.resource : resSel.value;
    clear(resSel, items.map((x) => h("option", { value: x.name, selected: x.name === keep }, x.name)));
    if (initial === true && info.resource && keep && !items.some((x) => x.name === keep)) {
      resSel.prepend(h("option", { value: keep, selected: true }, `${keep} (not found)`));
    }
    if (info.resource && !items.length) {
      resSel.append(h("option", { value: "" }, info.resource === "pipe" ? "(no pipes)" : "(no data sources)"));
    }
    clear(check);
  };
  typeSel.addEventListener("change", () => fill(false));
  resSel.addEventListener("change", () => clear(check));
  filterIn.addEventListener("input", () => clear(check));
  filterIn.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.ctrlKey && !e.metaKey) {
      e.preventDefault();
      checkBtn.click();
    }
  });
  removeBtn.addEventListener("click", onRemove);
  checkBtn.addEventListener("click", async () => {
    const info = TYPE_INFO[typeSel.value];
    const f = filterIn.value.trim();
    if (!f) {
      clear(check, alertBox("info", "No filter: the token will see every row."));
      return;
    }
    clear(check, spinner("Checking the filter on the server…"));
    try {
      const name = safeName(resSel.value);
      const res = await sql(`SELECT count() AS matching FROM ${name} WHERE ${f}`);
      const n = res.data && res.data[0] ? res.data[0].matching : 0;
      const ds = info.resource === "datasource" ? state.datasources.find((d) => d.name === name) : null;
      const total = ds ? ` of ${fmtInt(ds.statistics?.row_count)}` : "";
      clear(check, alertBox("success", `Valid filter: ${fmtInt(n)}${total} rows of ${name} match.`));
    } catch (e) {
      clear(check, alertBox("error", `The server refused this filter: ${engineMessage(errorText(e))}`));
    }
  });
  fill(true);
  return {
    el, legend, typeSel,
    value() {
      const info = TYPE_INFO[typeSel.value];
      if (!info) return null;
      if (!info.resource) return typeSel.value;
      const parts = [typeSel.value, resSel.value];
      const f = filterIn.value.trim();
      if (info.filter && f) parts.push(f);
      return parts.join(":");
    },
  };
}

function toLocalInput(unixOrText) {
  const d = typeof unixOrText === "number" ? new Date(unixOrText * 1000) : new Date(unixOrText);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (x) => String(x).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function fromLocalInput(v) {
  if (!v) return "";
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? "" : String(Math.floor(d.getTime() / 1000));
}

// --- create / edit ----------------------------------------------------------------------------------

function tokenDialog(t, listBox) {
  const editing = !!t;
  const name = h("input#token-name", { type: "text", required: true, autocomplete: "off", spellcheck: "false",
    value: t ? t.name : "", autofocus: true });
  const desc = h("input", { type: "text", autocomplete: "off", value: t ? t.description || "" : "" });
  const expires = h("input", { type: "datetime-local", value: t && t.expires_at ? toLocalInput(t.expires_at) : "" });
  const rps = h("input", { type: "number", min: "0", step: "1", inputmode: "numeric", value: t && t.rps_limit ? String(t.rps_limit) : "" });
  const builder = scopeBuilder(t ? t.scopes.map((s) => ({ type: s.type, resource: s.resource, filter: s.filter })) : null);
  const errBox = h("div.dialog-error");
  const body = h("div.form-stack",
    h("div.grid-2-tight", field("Name", name), field("Description", desc, { optional: true })),
    builder,
    h("div.grid-2-tight",
      field("Expires at", expires, { optional: true, hint: "Local time. Empty: never expires." }),
      field("Rate limit (requests/s)", rps, { optional: true, hint: "Empty: no limit." })),
    errBox);
  openDialog({
    title: editing ? `Edit token ${t.name}` : "New token",
    wide: true,
    body,
    actions: [
      { label: "Cancel" },
      { label: editing ? "Save changes" : "Create token", kind: "primary", submit: true, id: "token-save",
        onClick: async ({ close, button: b }) => {
          clear(errBox);
          const scopes = builder.scopes();
          if (!name.value.trim()) {
            errBox.append(alertBox("error", "The token needs a name."));
            name.focus();
            return;
          }
          if (!scopes.length) {
            errBox.append(alertBox("error", "Add at least one scope."));
            return;
          }
          b.disabled = true;
          try {
            const form = { description: desc.value, scope: scopes, rps: rps.value };
            const exp = fromLocalInput(expires.value);
            let rec;
            if (editing) {
              if (name.value.trim() !== t.name) form.name = name.value.trim();
              form.expiration_time = exp;
              rec = await api(`/v0/tokens/${encodeURIComponent(t.name)}`, { method: "PUT", form });
              if (t.name === session.get().workspace.token_name && form.name) {
                const sess = session.get();
                session.set({ ...sess, workspace: { ...sess.workspace, token_name: form.name } });
              }
              close();
              toast(`Token ${rec.name} saved`, "success");
            } else {
              form.name = name.value.trim();
              if (exp) form.expiration_time = exp;
              if (!form.rps) delete form.rps;
              rec = await api("/v0/tokens", { method: "POST", form });
              close();
              showValue(`Token ${rec.name} created`, rec.token, "Copy the value now and hand it to the app or user it is for. You can copy it again later from this page.");
            }
            await load(listBox);
          } catch (e) {
            errBox.append(alertBox("error", e instanceof ApiError ? `The server refused: ${e.message}` : errorText(e)));
            errBox.scrollIntoView({ block: "nearest" });
          } finally {
            b.disabled = false;
          }
        } },
    ],
  });
}

function showValue(title, value, note) {
  openDialog({
    title,
    body: h("div.form-stack", note ? h("p", note) : null, copyField("Token value", value, { what: "Token" })),
    actions: [{ label: "Done", kind: "primary" }],
  });
}

async function deleteToken(t, listBox) {
  const ok = await confirmDialog({
    title: `Delete token ${t.name}?`,
    message: "Every app or user holding this token gets 403 on its very next request. This cannot be undone.",
    confirmLabel: "Delete token",
    danger: true,
  });
  if (!ok) return;
  try {
    await api(`/v0/tokens/${encodeURIComponent(t.name)}`, { method: "DELETE" });
    toast(`Token ${t.name} deleted`, "success");
  } catch (e) {
    toast(errorText(e), "error");
  }
  await load(listBox);
}

async function refreshToken(t, listBox) {
  const ok = await confirmDialog({
    title: `Refresh token ${t.name}?`,
    message: "The token keeps its name and scopes but gets a new value. The old value stops working at once.",
    confirmLabel: "Refresh value",
  });
  if (!ok) return;
  try {
    const rec = await api(`/v0/tokens/${encodeURIComponent(t.name)}/refresh`, { method: "POST" });
    const sess = session.get();
    if (sess && sess.workspace.token_name === rec.name && rec.token) {
      session.set({ ...sess, token: rec.token }); // refreshing your own token keeps you signed in
    }
    showValue(`New value of ${rec.name}`, rec.token || "", "The old value no longer works.");
  } catch (e) {
    toast(errorText(e), "error");
  }
  await load(listBox);
}

async function auditDialog(t) {
  const box = h("div", spinner());
  openDialog({ title: `Audit trail of ${t.name}`, body: box, wide: true, actions: [{ label: "Close", kind: "primary" }] });
  try {
    const res = await api(`/v0/tokens/${encodeURIComponent(t.name)}/audit`);
    const items = res.audit || [];
    const scopesText = (list) => (list && list.length ? h("ul.scopes", list.map(scopeChip)) : h("span.muted", "—"));
    clear(box, items.length ? table([
      { label: "When", render: (a) => fmtTime(a.at), class: "nowrap" },
      { label: "By", render: (a) => a.actor || "—" },
      { label: "Action", render: (a) => badge(a.action, a.action === "delete" ? "danger" : a.action === "create" ? "success" : "") },
      { label: "Scopes before", render: (a) => scopesText(a.old_scopes) },
      { label: "Scopes after", render: (a) => scopesText(a.new_scopes) },
    ], items, { caption: `Audit trail of ${t.name}` }) : emptyState("No changes recorded"));
  } catch (e) {
    clear(box, alertBox("error", errorText(e)));
  }
}

// --- JWT builder ------------------------------------------------------------------------------------

function jwtDialog() {
  const name = h("input", { type: "text", required: true, autocomplete: "off", value: "", autofocus: true, placeholder: "e.g. user_42_dashboard" });
  const pipeSel = h("select", state.pipes.map((p) => h("option", { value: p.name }, p.name)));
  if (!state.pipes.length) pipeSel.append(h("option", { value: "" }, "(no pipes)"));
  const inAnHour = toLocalInput(Date.now() / 1000 + 3600);
  const expires = h("input", { type: "datetime-local", required: true, value: inAnHour });
  const rps = h("input", { type: "number", min: "1", step: "1", inputmode: "numeric", placeholder: "no limit" });
  const paramsList = h("datalist", { id: nextId("params") });
  const paramRows = h("div.param-rows");
  const fillParams = () => {
    const pipe = state.pipes.find((p) => p.name === pipeSel.value);
    const names = new Set();
    for (const n of pipe ? pipe.nodes || [] : []) for (const p of n.params || []) names.add(p.name);
    clear(paramsList, [...names].map((x) => h("option", { value: x })));
  };
  pipeSel.addEventListener("change", fillParams);
  fillParams();
  const addParam = () => {
    const k = h("input.mono", { type: "text", autocomplete: "off", list: paramsList.id, placeholder: "parameter" });
    const v = h("input.mono", { type: "text", autocomplete: "off", placeholder: "value" });
    const row = h("div.param-row", field("Parameter", k), field("Fixed value", v),
      button("Remove parameter", { icon: "x", iconOnly: true, ariaLabel: "Remove parameter", class: "btn-icon", onClick: () => row.remove() }));
    row.get = () => [k.value.trim(), v.value];
    paramRows.append(row);
    k.focus();
  };
  const result = h("div.jwt-result");
  const errBox = h("div.dialog-error");
  const body = h("div.form-stack",
    h("p.muted", "A JWT is signed with the admin token, is not stored, and can call one endpoint with parameters fixed by you (the caller cannot change them)."),
    h("div.grid-2-tight", field("Name", name), field("Endpoint pipe", pipeSel)),
    h("fieldset.params-fieldset", h("legend", "Fixed parameters"), paramsList, paramRows,
      button("Add parameter", { icon: "plus", class: "btn-small", onClick: addParam })),
    h("div.grid-2-tight", field("Expires at", expires, { hint: "Local time." }),
      field("Rate limit (requests/s)", rps, { optional: true })),
    errBox, result);
  openDialog({
    title: "JWT builder",
    wide: true,
    body,
    actions: [
      { label: "Close" },
      { label: "Create JWT", kind: "primary", submit: true, onClick: async ({ button: b }) => {
        clear(errBox);
        clear(result);
        const exp = fromLocalInput(expires.value);
        if (!name.value.trim() || !pipeSel.value || !exp) {
          errBox.append(alertBox("error", "Name, pipe and expiry are needed."));
          return;
        }
        const fixed = {};
        for (const row of paramRows.children) {
          const [k, v] = row.get();
          if (k) fixed[k] = /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
        }
        const scope = { type: "PIPES:READ", resource: pipeSel.value };
        if (Object.keys(fixed).length) scope.fixed_params = fixed;
        const payload = { name: name.value.trim(), scopes: [scope] };
        if (rps.value) payload.limits = { rps: Number(rps.value) };
        b.disabled = true;
        try {
          const res = await api("/v0/tokens", { method: "POST", params: { expiration_time: exp }, json: payload });
          const curl = `curl -s '${location.origin}/v0/pipes/${pipeSel.value}.json' -H 'Authorization: Bearer ${res.token}'`;
          append(result, [
            alertBox("success", `JWT created; it expires ${fmtTime(res.exp)}.`),
            copyField("JWT", res.token, { what: "JWT" }),
            codeCopy("Try it", curl, { what: "curl command", mask: res.token }),
            h("details", h("summary", "Claims"), h("pre.code", JSON.stringify(decodeJwt(res.token), null, 2))),
          ]);
        } catch (e) {
          errBox.append(alertBox("error", `The server refused: ${errorText(e)}`));
        } finally {
          b.disabled = false;
        }
      } },
    ],
  });
}

function decodeJwt(t) {
  try {
    const part = t.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part + "===".slice((part.length + 3) % 4)));
  } catch {
    return {};
  }
}

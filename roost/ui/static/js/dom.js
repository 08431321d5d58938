// Small DOM helpers. Text always goes in as text nodes (never innerHTML), so data cannot inject markup.

let uid = 0;
export function nextId(prefix = "id") {
  uid += 1;
  return `${prefix}-${uid}`;
}

// h("div.card#x", {attrs, on: {click}}, ...children)
export function h(tag, attrs, ...children) {
  const m = /^([a-z0-9]+)((?:[.#][\w-]+)*)$/i.exec(tag);
  const el = document.createElement(m ? m[1] : tag);
  if (m && m[2]) {
    for (const part of m[2].match(/[.#][\w-]+/g)) {
      if (part[0] === ".") el.classList.add(part.slice(1));
      else el.id = part.slice(1);
    }
  }
  if (attrs && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "on") {
      for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    } else if (k === "class") {
      for (const c of String(v).split(/\s+/).filter(Boolean)) el.classList.add(c);
    } else if (k === "dataset") {
      Object.assign(el.dataset, v);
    } else if (k in el && typeof v !== "string" && k !== "list") {
      el[k] = v;
    } else if (v === true) {
      el.setAttribute(k, "");
    } else if (k === "value" || k === "checked" || k === "selected") {
      el[k] = v;
    } else {
      el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

const SVG_NS = "http://www.w3.org/2000/svg";
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// --- formatting -------------------------------------------------------------------------------------

export function fmtInt(n) {
  if (n === null || n === undefined || n === "") return "—";
  const x = Number(n);
  return Number.isFinite(x) ? x.toLocaleString("en-US") : String(n);
}

// "1 row", "2 rows"
export function plural(n, word) {
  return `${fmtInt(n)} ${word}${Number(n) === 1 ? "" : "s"}`;
}

export function fmtBytes(n) {
  const x = Number(n || 0);
  if (x < 1024) return `${x} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = x;
  let i = -1;
  do {
    v /= 1024;
    i += 1;
  } while (v >= 1024 && i < units.length - 1);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function fmtMs(seconds) {
  const ms = Number(seconds) * 1000;
  if (!Number.isFinite(ms)) return "—";
  return ms < 10 ? `${ms.toFixed(2)} ms` : `${Math.round(ms)} ms`;
}

// "2026-01-02 10:00:00(.ffffff)" (UTC) or ISO -> Date
export function parseTime(v) {
  if (!v) return null;
  if (typeof v === "number") return new Date(v * 1000);
  let t = String(v).trim();
  if (/^\d{4}-\d{2}-\d{2} \d/.test(t)) t = `${t.replace(" ", "T")}`;
  if (!/[zZ]|[+-]\d{2}:?\d{2}$/.test(t) && t.includes("T")) t += "Z";
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function fmtTime(v) {
  const d = parseTime(v);
  if (!d) return v ? String(v) : "—";
  return d.toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

export function fmtAgo(v) {
  const d = parseTime(v);
  if (!d) return "never";
  const sec = Math.round((Date.now() - d.getTime()) / 1000);
  const abs = Math.abs(sec);
  const future = sec < 0;
  let txt;
  if (abs < 45) txt = "seconds";
  else if (abs < 3600) txt = `${Math.round(abs / 60)} min`;
  else if (abs < 86400) txt = `${Math.round(abs / 3600)} h`;
  else txt = `${Math.round(abs / 86400)} d`;
  return future ? `in ${txt}` : `${txt} ago`;
}

export function timeEl(v, empty = "never") {
  const d = parseTime(v);
  if (!d) return h("span.muted", empty);
  return h("time", { datetime: d.toISOString(), title: fmtTime(v) }, fmtAgo(v));
}

// --- components -------------------------------------------------------------------------------------

export function icon(name) {
  const paths = {
    copy: "M9 9h10v10H9zM5 15V5h10",
    trash: "M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3",
    edit: "M4 20h4L19 9l-4-4L4 16zM13 7l4 4",
    refresh: "M20 11a8 8 0 1 0-2.3 5.7M20 4v7h-7",
    plus: "M12 5v14M5 12h14",
    play: "M7 5v14l12-7z",
    x: "M6 6l12 12M18 6L6 18",
    log: "M5 4h14v16H5zM9 8h6M9 12h6M9 16h4",
    key: "M15 7a4 4 0 1 1-3.9 5H4v3h3v2h3v-2h1.1",
    upload: "M12 16V4M7 9l5-5 5 5M5 20h14",
    check: "M5 12l5 5 9-10",
  };
  return s("svg", { class: "icon", viewBox: "0 0 24 24", "aria-hidden": "true", focusable: "false" },
    s("path", { d: paths[name] || paths.x }));
}

export function button(label, opts = {}) {
  return h(`button.btn${opts.kind ? `.btn-${opts.kind}` : ""}`, {
    type: opts.type || "button",
    on: opts.onClick ? { click: opts.onClick } : undefined,
    "aria-label": opts.ariaLabel,
    title: opts.title,
    disabled: opts.disabled,
    class: opts.class,
  }, opts.icon ? icon(opts.icon) : null, opts.iconOnly ? null : h("span", label));
}

// A labelled form control. control: an element (input/select/textarea) that gets an id.
export function field(label, control, opts = {}) {
  if (!control.id) control.id = nextId("f");
  const hintId = opts.hint ? nextId("hint") : null;
  if (hintId) control.setAttribute("aria-describedby", hintId);
  return h(`div.field${opts.class ? `.${opts.class}` : ""}`,
    h("label", { for: control.id }, label, opts.optional ? h("span.optional", " (optional)") : null),
    control,
    opts.hint ? h("p.hint", { id: hintId }, opts.hint) : null);
}

export function alertBox(kind, ...content) {
  return h(`div.alert.alert-${kind}`, { role: kind === "error" ? "alert" : "status" }, ...content);
}

export function spinner(text = "Loading…") {
  return h("div.loading", { role: "status" }, h("span.spinner", { "aria-hidden": "true" }), text);
}

export function emptyState(title, text, action) {
  return h("div.empty", h("p.empty-title", title), text ? h("p.muted", text) : null, action || null);
}

export function card(title, ...body) {
  return h("section.card", title ? h("header.card-header", typeof title === "string" ? h("h2", title) : title) : null,
    h("div.card-body", ...body));
}

export function badge(text, kind = "") {
  return h(`span.badge${kind ? `.badge-${kind}` : ""}`, text);
}

// Render a table from FORMAT JSON {meta, data} or {columns, rows}.
export function resultTable(result, opts = {}) {
  const meta = result.meta || (result.data && result.data[0] ? Object.keys(result.data[0]).map((n) => ({ name: n })) : []);
  const rows = result.data || [];
  if (!rows.length) return emptyState(opts.emptyTitle || "No rows", opts.emptyText || null);
  const table = h(`table.data-table${opts.wrap ? ".wrap" : ""}`,
    opts.caption ? h("caption.sr-only", opts.caption) : null,
    h("thead", h("tr", meta.map((c) => h("th", { scope: "col" }, h("span.col-name", c.name),
      c.type ? h("span.col-type", c.type) : null)))),
    h("tbody", rows.map((r) => h("tr", meta.map((c) => {
      const v = r[c.name];
      const numeric = typeof v === "number";
      return h(numeric ? "td.num" : "td", cellText(v));
    })))));
  return h("div.table-wrap", { tabindex: "0", role: "region", "aria-label": opts.caption || "Results" }, table);
}

export function cellText(v) {
  if (v === null || v === undefined) return h("span.null", "NULL");
  if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v.join("; ");
  if (typeof v === "object") return JSON.stringify(v);
  const t = String(v);
  return t.length > 300 ? `${t.slice(0, 300)}…` : t;
}

// A simple table: columns [{label, render(row), class}]
export function table(columns, rows, opts = {}) {
  return h("div.table-wrap", { role: opts.caption ? "region" : null, "aria-label": opts.caption || null,
    tabindex: opts.caption ? "0" : null },
  h(`table.list-table${opts.class ? `.${opts.class}` : ""}`,
    opts.caption ? h("caption.sr-only", opts.caption) : null,
    h("thead", h("tr", columns.map((c) => h("th", { scope: "col", class: c.class }, c.label)))),
    h("tbody", rows.map((r) => h("tr", { dataset: opts.rowData ? opts.rowData(r) : undefined },
      columns.map((c, i) => h(i === 0 && opts.rowHeader !== false ? "th" : "td",
        { scope: i === 0 && opts.rowHeader !== false ? "row" : null, class: c.class }, c.render(r))))))));
}

// --- dialogs ----------------------------------------------------------------------------------------

// openDialog({title, body, actions: [{label, kind, onClick, type}], onClose, wide}) -> {dialog, close}
export function openDialog(opts) {
  const titleId = nextId("dlg-title");
  const form = h("form.dialog-form", { method: "dialog", novalidate: true });
  const closeBtn = button("Close", { icon: "x", iconOnly: true, ariaLabel: "Close dialog", class: "btn-ghost dialog-x" });
  const footer = h("footer.dialog-footer");
  const dialog = h(`dialog.dialog${opts.wide ? ".dialog-wide" : ""}`, { "aria-labelledby": titleId },
    form);
  append(form, [
    h("header.dialog-header", h("h2", { id: titleId }, opts.title), closeBtn),
    h("div.dialog-body", opts.body),
    footer,
  ]);
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    dialog.close();
    dialog.remove();
    if (opts.onClose) opts.onClose();
    if (opener && document.contains(opener)) opener.focus();
  };
  const opener = document.activeElement;
  closeBtn.addEventListener("click", close);
  dialog.addEventListener("cancel", (e) => {
    e.preventDefault();
    close();
  });
  dialog.addEventListener("close", () => close());
  for (const a of opts.actions || []) {
    const b = button(a.label, { kind: a.kind, icon: a.icon, type: a.submit ? "submit" : "button" });
    if (a.id) b.id = a.id;
    if (a.submit) {
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        a.onClick({ close, dialog, button: b });
      });
    } else {
      b.addEventListener("click", () => (a.onClick ? a.onClick({ close, dialog, button: b }) : close()));
    }
    footer.append(b);
  }
  if (!opts.actions || !opts.actions.some((a) => a.submit)) {
    form.addEventListener("submit", (e) => e.preventDefault());
  }
  document.body.append(dialog);
  dialog.showModal();
  const first = dialog.querySelector("[autofocus]") || dialog.querySelector(".dialog-body input, .dialog-body select, .dialog-body textarea, .dialog-body button") || footer.querySelector("button");
  if (first) first.focus();
  return { dialog, close, footer };
}

export function confirmDialog({ title, message, confirmLabel = "Confirm", danger = false }) {
  return new Promise((resolve) => {
    let answered = false;
    const d = openDialog({
      title,
      body: h("p", message),
      actions: [
        { label: "Cancel", onClick: ({ close }) => close() },
        { label: confirmLabel, kind: danger ? "danger" : "primary", submit: true, onClick: ({ close }) => {
          answered = true;
          resolve(true);
          close();
        } },
      ],
      onClose: () => {
        if (!answered) resolve(false);
      },
    });
    // the safe choice has the focus
    d.footer.querySelector("button").focus();
  });
}

// --- toasts -----------------------------------------------------------------------------------------

export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  const t = h(`div.toast.toast-${kind}`, message);
  box.append(t);
  setTimeout(() => t.remove(), 4000);
}

export async function copyText(text, what = "Value") {
  try {
    await navigator.clipboard.writeText(text);
    toast(`${what} copied to the clipboard`, "success");
    return true;
  } catch {
    toast("Copy failed: select the text and copy it by hand", "error");
    return false;
  }
}

// A read-only value with a copy button. secret: shown masked until revealed.
export function copyField(label, value, opts = {}) {
  const input = h("input.mono", { type: opts.secret ? "password" : "text", readOnly: true, value, spellcheck: "false",
    autocomplete: "off" });
  const row = h("div.copy-row", input);
  if (opts.secret) {
    const reveal = button("Show", { class: "btn-small" });
    reveal.setAttribute("aria-pressed", "false");
    reveal.addEventListener("click", () => {
      const shown = input.type === "text";
      input.type = shown ? "password" : "text";
      reveal.querySelector("span").textContent = shown ? "Show" : "Hide";
      reveal.setAttribute("aria-pressed", String(!shown));
    });
    row.append(reveal);
  }
  row.append(button("Copy", { icon: "copy", class: "btn-small", onClick: () => copyText(value, opts.what || label) }));
  input.id = nextId("f");
  const hintId = opts.hint ? nextId("hint") : null;
  if (hintId) input.setAttribute("aria-describedby", hintId);
  return h("div.field", h("label", { for: input.id }, label), row, opts.hint ? h("p.hint", { id: hintId }, opts.hint) : null);
}

// --- tabs -------------------------------------------------------------------------------------------

// tabs([{id, label, render: (panel) => void}], {selected, onSelect}) -> element
export function tabs(items, opts = {}) {
  const list = h("div.tabs", { role: "tablist", "aria-label": opts.label || "Sections" });
  const panels = h("div.tab-panels");
  const btns = [];
  const rendered = new Set();
  const select = (id, focus) => {
    items.forEach((it, i) => {
      const on = it.id === id;
      btns[i].setAttribute("aria-selected", String(on));
      btns[i].tabIndex = on ? 0 : -1;
      it.panel.hidden = !on;
      if (on) {
        if (!rendered.has(it.id) || it.rerender) {
          rendered.add(it.id);
          it.render(it.panel);
        }
        if (focus) btns[i].focus();
      }
    });
    if (opts.onSelect) opts.onSelect(id);
  };
  items.forEach((it, i) => {
    const tabId = nextId("tab");
    it.panel = h("div.tab-panel", { role: "tabpanel", id: nextId("panel"), "aria-labelledby": tabId, tabindex: "0",
      hidden: true });
    const b = h("button.tab", { type: "button", role: "tab", id: tabId, "aria-controls": it.panel.id,
      dataset: { tab: it.id }, on: { click: () => select(it.id, false) } }, it.label);
    b.addEventListener("keydown", (e) => {
      let j = null;
      if (e.key === "ArrowRight") j = (i + 1) % items.length;
      else if (e.key === "ArrowLeft") j = (i - 1 + items.length) % items.length;
      else if (e.key === "Home") j = 0;
      else if (e.key === "End") j = items.length - 1;
      if (j !== null) {
        e.preventDefault();
        select(items[j].id, true);
      }
    });
    btns.push(b);
    list.append(b);
    panels.append(it.panel);
  });
  const el = h("div.tabs-wrap", list, panels);
  select(opts.selected && items.some((x) => x.id === opts.selected) ? opts.selected : items[0].id, false);
  el.select = select;
  return el;
}

export function errorText(e) {
  return e && e.message ? e.message : String(e);
}

// A block of code (a URL, a command) with a Copy button. mask: a secret inside text shown as dots
// until "Show" is pressed; Copy always copies the full text.
export function codeCopy(label, text, opts = {}) {
  const labelId = nextId("code");
  const masked = opts.mask ? text.split(opts.mask).join(`${opts.mask.slice(0, 4)}${"•".repeat(12)}`) : text;
  const pre = h("pre.code.code-copy", { "aria-labelledby": labelId, tabindex: "0" }, masked);
  const actions = h("div.code-actions");
  if (opts.mask) {
    const reveal = button("Show token", { class: "btn-small" });
    reveal.setAttribute("aria-pressed", "false");
    reveal.addEventListener("click", () => {
      const shown = reveal.getAttribute("aria-pressed") === "true";
      pre.textContent = shown ? masked : text;
      reveal.setAttribute("aria-pressed", String(!shown));
      reveal.querySelector("span").textContent = shown ? "Show token" : "Hide token";
    });
    actions.append(reveal);
  }
  actions.append(button("Copy", { icon: "copy", class: "btn-small", onClick: () => copyText(text, opts.what || label) }));
  return h("div.field.code-field", h("div.code-label", h("span.label", { id: labelId }, label), actions), pre,
    opts.hint ? h("p.hint", opts.hint) : null);
}

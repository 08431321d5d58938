// The app shell: sign-in, sidebar navigation and a small history-based router.

import { api, ApiError, session } from "./api.js";
import { alertBox, button, clear, field, h, icon } from "./dom.js";
import * as datasources from "./pages/datasources.js";
import * as overview from "./pages/overview.js";
import * as pipes from "./pages/pipes.js";
import * as privacy from "./pages/privacy.js";
import * as sqlPage from "./pages/sql.js";
import * as tokens from "./pages/tokens.js";

const app = document.getElementById("app");

const PAGES = [
  { path: "/ui/", title: "Overview", nav: "Overview", module: overview, icon: "M4 13h6V4H4zM14 20h6v-9h-6zM4 20h6v-3H4zM14 4v3h6V4z" },
  { path: "/ui/datasources", title: "Data sources", nav: "Data sources", module: datasources,
    icon: "M4 6c0-1.7 3.6-3 8-3s8 1.3 8 3-3.6 3-8 3-8-1.3-8-3zM4 6v12c0 1.7 3.6 3 8 3s8-1.3 8-3V6M4 12c0 1.7 3.6 3 8 3s8-1.3 8-3" },
  { path: "/ui/pipes", title: "Pipes", nav: "Pipes", module: pipes, icon: "M4 7h6l4 10h6M4 17h6M14 7h6" },
  { path: "/ui/sql", title: "SQL console", nav: "SQL console", module: sqlPage, icon: "M5 7l4 5-4 5M12 17h7" },
  { path: "/ui/tokens", title: "Tokens", nav: "Tokens", module: tokens, requires: "tokens",
    icon: "M8 14a5 5 0 1 1 4.6-3H21v3h-2v3h-3v-3h-3.4A5 5 0 0 1 8 14zM7 9.5h.01" },
  { path: "/ui/privacy", title: "Privacy demo", nav: "Privacy demo", module: privacy,
    icon: "M12 3l8 3v6c0 4.5-3.4 8.3-8 9-4.6-.7-8-4.5-8-9V6z" },
];

let signInMessage = null;
let invalidated = false;

session.onInvalid(() => {
  if (invalidated) return;
  invalidated = true;
  session.clear();
  sessionStorage.clear();
  signInMessage = "Your session is no longer valid: the token was deleted, refreshed or has expired. Sign in again with a valid token.";
  render();
});

export function navigate(path, opts = {}) {
  if (opts.replace) history.replaceState({}, "", path);
  else if (location.pathname !== path) history.pushState({}, "", path);
  render();
}

function match(pathname) {
  let p = pathname.replace(/\/+$/, "") || "/ui";
  if (p === "/ui" || p === "") return { page: PAGES[0], rest: [] };
  for (const page of PAGES.slice(1)) {
    if (p === page.path || p.startsWith(`${page.path}/`)) {
      const rest = p.slice(page.path.length).split("/").filter(Boolean).map(decodeURIComponent);
      return { page, rest };
    }
  }
  p = null;
  return { page: null, rest: [] };
}

document.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-link]");
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(a.getAttribute("href"));
});
window.addEventListener("popstate", () => render());

function render() {
  if (!session.get()) {
    renderSignIn();
    return;
  }
  invalidated = false;
  const { page, rest } = match(location.pathname);
  renderShell(page, rest);
}

// --- sign in ----------------------------------------------------------------------------------------

function renderSignIn() {
  document.title = "Sign in · Roost";
  const input = h("input.mono", { type: "password", autocomplete: "off", spellcheck: "false",
    required: true, autofocus: true, placeholder: "p.eyJ1Ijo…" });
  const status = h("div.signin-status");
  const submit = button("Sign in", { kind: "primary", type: "submit", class: "btn-block" });
  // method POST and no field name: even if a script failed, the token could never end up in a URL
  const form = h("form.signin-form", { novalidate: true, method: "post", action: "/ui/" },
    field("Token", input, { hint: "The admin token is printed when Roost creates the workspace and kept in <data dir>/admin-token (roost-data/admin-token with ./dev demo). The token stays in this browser tab (sessionStorage) and is sent only in the Authorization header." }),
    status,
    submit);
  if (signInMessage) status.append(alertBox("warning", signInMessage));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const token = input.value.trim();
    clear(status);
    if (!token) {
      status.append(alertBox("error", "Paste a token to sign in."));
      input.focus();
      return;
    }
    submit.disabled = true;
    submit.querySelector("span").textContent = "Signing in…";
    try {
      const workspace = await api("/v0/workspace", { token });
      let canTokens = false;
      try {
        await api("/v0/tokens", { token });
        canTokens = true;
      } catch (err) {
        if (!(err instanceof ApiError) || err.status !== 403) throw err;
      }
      session.set({ token, workspace, canTokens, signedInAt: Date.now() });
      signInMessage = null;
      input.value = "";
      if (/\/signin\/?$/.test(location.pathname)) history.replaceState({}, "", "/ui/");
      render();
      const main = document.getElementById("main");
      if (main) main.focus();
    } catch (err) {
      let msg = err.message;
      if (err instanceof ApiError && err.status === 403) {
        msg = /JWT/i.test(err.message)
          ? "This is a JWT: JWTs can call endpoints but cannot sign in to the UI. Use a static token."
          : `This token was not accepted: ${err.message}.`;
      }
      status.append(alertBox("error", msg));
      input.focus();
      input.select();
    } finally {
      submit.disabled = false;
      submit.querySelector("span").textContent = "Sign in";
    }
  });
  clear(app, h("main.signin#main", { tabindex: "-1" },
    h("div.signin-card",
      h("div.brand.brand-large", logo(), h("span", "Roost")),
      h("h1", "Sign in"),
      h("p.muted", "Real-time analytics APIs with per-user row filters."),
      form)));
  input.focus();
}

function logo() {
  const img = h("img", { src: "/ui/favicon.svg", alt: "", width: "28", height: "28" });
  return img;
}

// --- shell ------------------------------------------------------------------------------------------

function navIcon(d) {
  const el = icon("x");
  el.firstChild.setAttribute("d", d);
  return el;
}

function renderShell(page, rest) {
  const sess = session.get();
  const visible = PAGES.filter((p) => p.requires !== "tokens" || session.canManageTokens());
  const nav = h("nav.nav", { "aria-label": "Main" },
    h("ul", visible.map((p) => h("li", h("a", {
      href: p.path, dataset: { link: "" }, "aria-current": page === p ? "page" : null,
    }, navIcon(p.icon), h("span", p.nav))))));
  const signOut = button("Sign out", { class: "btn-sidebar", onClick: () => {
    session.clear();
    sessionStorage.clear();
    signInMessage = null;
    history.pushState({}, "", "/ui/");
    render();
  } });
  const who = h("div.who",
    h("span.who-label", "Signed in as"),
    h("strong.who-name", sess.workspace.token_name || "token"),
    h("span.who-scope", sess.workspace.scope === "admin" ? "admin" : sess.canTokens ? "tokens manager" : "scoped token"));
  const main = h("main.main#main", { tabindex: "-1" });
  clear(app, h("div.layout",
    h("aside.sidebar",
      h("div.brand", logo(), h("span", "Roost"), h("span.ws", `workspace ${sess.workspace.name || ""}`)),
      nav,
      h("div.sidebar-footer", who, signOut)),
    main));
  if (!page || (page.requires === "tokens" && !session.canManageTokens())) {
    document.title = "Not found · Roost";
    main.append(h("div.page", h("h1", page ? "Not allowed" : "Page not found"),
      h("p", page ? "Your token cannot manage tokens (it needs the TOKENS or ADMIN scope)." : "There is no page at this address."),
      h("p", h("a", { href: "/ui/", dataset: { link: "" } }, "Go to the overview"))));
    return;
  }
  document.title = `${page.title} · Roost`;
  const container = h("div.page");
  main.append(container);
  Promise.resolve(page.module.render(container, rest, { navigate })).catch((err) => {
    if (!document.contains(container)) return;
    container.append(alertBox("error", `Something went wrong: ${err.message || err}`));
  });
}

render();

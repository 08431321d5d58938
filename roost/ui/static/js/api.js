// The session and every call to the Roost API.
//
// The token lives in sessionStorage only (cleared when the tab closes) and goes to the server in the
// Authorization header, never in a URL. A 403 "invalid authentication token" on a call made with the
// session's token ends the session: the app shows the sign-in page with a message.

const KEY = "roost.session";

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

let onInvalid = () => {};
let current = load();

function load() {
  try {
    const raw = sessionStorage.getItem(KEY);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

export const session = {
  get() {
    return current;
  },
  token() {
    return current ? current.token : null;
  },
  set(value) {
    current = value;
    sessionStorage.setItem(KEY, JSON.stringify(value));
  },
  clear() {
    current = null;
    sessionStorage.removeItem(KEY);
  },
  onInvalid(fn) {
    onInvalid = fn;
  },
  isAdmin() {
    return !!current && current.workspace && current.workspace.scope === "admin";
  },
  canManageTokens() {
    return !!current && !!current.canTokens;
  },
};

export function isInvalidToken(status, message) {
  return status === 403 && /invalid authentication token/i.test(message || "");
}

function errorMessage(body, text, status) {
  if (body && typeof body.error === "string") return body.error;
  if (text) return text.slice(0, 500);
  return `HTTP ${status}`;
}

// Query string from an object; arrays become repeated parameters; empty values are left out.
export function qs(params) {
  const sp = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v)) v.forEach((x) => sp.append(k, x));
    else sp.append(k, String(v));
  }
  const s = sp.toString();
  return s ? `?${s}` : "";
}

// api(path, {method, params, form, json, body, token, raw})
// token: another token than the session's (then a 403 does not end the session).
export async function api(path, opts = {}) {
  const token = opts.token || session.token();
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  let body;
  if (opts.form) {
    const sp = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.form)) {
      if (v === undefined || v === null) continue;
      if (Array.isArray(v)) v.forEach((x) => sp.append(k, x));
      else sp.append(k, String(v));
    }
    body = sp;
  } else if (opts.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.json);
  } else if (opts.body !== undefined) {
    body = opts.body;
  }
  let res;
  try {
    res = await fetch(path + qs(opts.params), {
      method: opts.method || "GET",
      headers,
      body,
      cache: "no-store",
      credentials: "omit",
      referrerPolicy: "no-referrer",
    });
  } catch (e) {
    throw new ApiError(0, `Cannot reach the Roost server (${e.message})`, null);
  }
  const text = res.status === 204 || res.status === 205 ? "" : await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const message = errorMessage(data, text, res.status);
    if (!opts.token && isInvalidToken(res.status, message)) {
      onInvalid(message);
    }
    throw new ApiError(res.status, message, data);
  }
  if (opts.raw) return text;
  return data;
}

// Run SQL with the session's token (or opts.token); returns the FORMAT JSON object.
export function sql(q, opts = {}) {
  return api("/v0/sql", { ...opts, params: { q: `${q} FORMAT JSON`, ...(opts.params || {}) } });
}

// Upload a file with progress: POST /v0/datasources?mode=append&name=&format= as a multipart part.
export function uploadAppend(name, format, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/v0/datasources${qs({ mode: "append", name, format })}`);
    xhr.setRequestHeader("Authorization", `Bearer ${session.token()}`);
    xhr.responseType = "text";
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) onProgress(e.loaded, e.total);
    });
    xhr.addEventListener("load", () => {
      let data = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        data = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve(data);
      } else {
        const message = errorMessage(data, xhr.responseText, xhr.status);
        if (isInvalidToken(xhr.status, message)) onInvalid(message);
        reject(new ApiError(xhr.status, message, data));
      }
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "Upload failed: the server could not be reached", null)));
    const fd = new FormData();
    fd.append(format, file, file.name);
    xhr.send(fd);
  });
}

// Names that can be put into SQL text by the UI: identifiers only.
export function safeName(name) {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name || "")) throw new Error(`Unexpected name ${JSON.stringify(name)}`);
  return name;
}

// An engine error as the server words it, without the SQL text it may quote ("In scope SELECT ...").
export function engineMessage(message) {
  const m = /^(?:\[Error\] )?([\s\S]*?)\. In scope [\s\S]*?(\([A-Z_]+\))?$/.exec(message || "");
  return m ? `${m[1]}.${m[2] ? ` ${m[2]}` : ""}` : message;
}

// Switchyard dashboard behaviour, written for this page set and nothing else: actions call the
// management API with the session's CSRF token, countdowns tick locally, copy buttons copy,
// and the request log's live tail listens to one server-sent event stream.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

function toast(message, isError) {
  const el = document.getElementById("toast");
  if (!el) return;
  el.textContent = message;
  el.className = "show" + (isError ? " error" : "");
  clearTimeout(el._timer);
  el._timer = setTimeout(() => { el.className = ""; }, isError ? 8000 : 3000);
}

async function api(method, url, body) {
  const init = { method, headers: { "x-csrf-token": csrf }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(url, init);
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (!res.ok) {
    throw new Error(data?.error?.message ?? `${res.status} ${res.statusText}`);
  }
  return data;
}

// <button data-method="POST" data-url="/api/..." data-body='{"..."}' data-done="reload">
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-url]");
  if (!button) return;
  event.preventDefault();
  if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
  button.disabled = true;
  try {
    const body = button.dataset.body ? JSON.parse(button.dataset.body) : undefined;
    await api(button.dataset.method ?? "POST", button.dataset.url, body);
    toast(button.dataset.ok ?? "Done");
    if (button.dataset.done !== "stay") setTimeout(() => window.location.reload(), 400);
  } catch (err) {
    toast(err.message, true);
  } finally {
    button.disabled = false;
  }
});

// <form data-api="/api/..." data-method="POST"> fields become a JSON object; a field with
// data-list is split on commas or new lines; data-number makes a number; empty fields are left
// out; a dotted name (`limits.requests_per_minute`) makes a nested object.
document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form[data-api]");
  if (!form) return;
  event.preventDefault();
  let body = {};
  // <form data-pair>: one setting, {key: value}; a number stays a number, empty is null.
  if (form.dataset.pair !== undefined) {
    const raw = form.querySelector("[name=value]").value.trim();
    const value = raw === "" ? null : /^\d+$/.test(raw) ? Number(raw) : raw;
    body = { [form.querySelector("[name=key]").value]: value };
  }
  for (const field of form.dataset.pair !== undefined ? [] : form.querySelectorAll("input[name], select[name], textarea[name]")) {
    const raw = field.value.trim();
    if (raw === "") continue;
    let value = raw;
    if (field.dataset.list !== undefined) value = raw.split(/[\n,]+/).map((s) => s.trim()).filter(Boolean);
    else if (field.dataset.number !== undefined) value = Number(raw);
    // `accounts[0].name`: a part with an index makes an array of objects.
    const path = field.name.split(".");
    let into = body;
    for (const part of path.slice(0, -1)) {
      const indexed = part.match(/^(\w+)\[(\d+)\]$/);
      if (indexed) {
        const list = into[indexed[1]] ??= [];
        into = list[Number(indexed[2])] ??= {};
      } else {
        into = into[part] ??= {};
      }
    }
    into[path[path.length - 1]] = value;
  }
  try {
    const data = await api(form.dataset.method ?? "POST", form.dataset.api, body);
    const out = form.querySelector("[data-result]");
    if (out && data) {
      out.hidden = false;
      out.textContent = form.dataset.show ? data[form.dataset.show] ?? JSON.stringify(data, null, 2) : JSON.stringify(data, null, 2);
    }
    toast(form.dataset.ok ?? "Saved");
    if (form.dataset.done === "reload") setTimeout(() => window.location.reload(), 400);
  } catch (err) {
    toast(err.message, true);
  }
});

// Provider tests: <button data-test="/api/providers/NAME/test" data-out="ID"> shows how the
// one tiny request went in the output beside it, without leaving the page.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-test]");
  if (!button) return;
  const out = document.getElementById(button.dataset.out);
  button.disabled = true;
  if (out) { out.textContent = "testing…"; out.className = ""; }
  try {
    const t = await api("POST", button.dataset.test);
    const text = t.ok
      ? `ok · ${t.status} · ${t.latency_ms} ms`
      : `failed · ${t.status} · ${t.latency_ms} ms · ${t.error ?? "no answer"}`;
    if (out) { out.textContent = text; out.className = t.ok ? "status-ok" : "status-bad"; }
  } catch (err) {
    if (out) { out.textContent = err.message; out.className = "status-bad"; }
  } finally {
    button.disabled = false;
  }
});

// Copy buttons: <button data-copy="#id">.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  try {
    await navigator.clipboard.writeText(source.textContent);
    toast("Copied");
  } catch (_) {
    toast("Copy failed: select the text and copy it", true);
  }
});

// Countdowns: <span data-until="RFC 3339">.
function tick() {
  const now = Date.now();
  for (const el of document.querySelectorAll("[data-until]")) {
    const left = Math.max(0, Math.round((Date.parse(el.dataset.until) - now) / 1000));
    const h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
    el.textContent = left === 0 ? "over" : (h ? `${h}h ` : "") + (h || m ? `${m}m ` : "") + `${s}s`;
  }
}
if (document.querySelector("[data-until]")) { tick(); setInterval(tick, 1000); }

// Connect page: fill the server address, key and model into every snippet.
const connect = document.getElementById("connect-form");
if (connect) {
  const fill = () => {
    const values = Object.fromEntries(new FormData(connect));
    for (const el of document.querySelectorAll("[data-template]")) {
      el.textContent = el.dataset.template.replace(/\{(\w+)\}/g, (_, k) => values[k] || `{${k}}`);
    }
  };
  connect.addEventListener("input", fill);
  fill();
}

// Live tail: one EventSource per open request-log page, rows prepended as they are recorded.
const tail = document.getElementById("live-tail");
if (tail && window.EventSource) {
  const source = new EventSource(tail.dataset.source);
  const status = document.getElementById("live-status");
  source.onopen = () => { if (status) status.textContent = "live"; };
  source.onerror = () => { if (status) status.textContent = "reconnecting"; };
  source.addEventListener("request", (event) => {
    const row = JSON.parse(event.data);
    const tr = document.createElement("tr");
    tr.className = "fresh";
    const cells = [row.time, row.client_format, row.provider ?? "-", row.account ?? "-", row.model, String(row.status), String(row.tokens), `${row.latency_ms.toFixed(1)} ms`];
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      if (i === 0) {
        const a = document.createElement("a");
        a.href = `/ui/requests/${encodeURIComponent(row.request_id)}`;
        a.textContent = text;
        td.appendChild(a);
      } else {
        td.textContent = text;
      }
      if (i >= 5) td.className = "num";
      if (i === 5) td.classList.add(row.status >= 400 ? "status-bad" : "status-ok");
      tr.appendChild(td);
    });
    tail.prepend(tr);
    while (tail.rows.length > 200) tail.deleteRow(-1);
  });
}

// OAuth login from the browser: start it, show the device code (or the sign-in URL and a
// field for the address the browser ended on), and follow it until it is done. One poll per
// login in progress, stopped when the login ends.
const oauth = document.getElementById("oauth-login");
if (oauth) {
  const $ = (id) => document.getElementById(id);
  const say = (text) => { $("oauth-status").textContent = text; };
  let current = null;
  const follow = async (id) => {
    try {
      const login = await api("GET", `/api/logins/${encodeURIComponent(id)}`);
      if (login.status === "done") {
        say(`Logged in: account ${login.account} is in use.`);
        toast(`Logged in as ${login.account}`);
        setTimeout(() => window.location.reload(), 1500);
        return;
      }
      if (login.status === "failed") { say(`The login failed: ${login.error ?? "unknown error"}`); return; }
      setTimeout(() => follow(id), 1000);
    } catch (err) {
      say(`Lost the login: ${err.message}`);
    }
  };
  oauth.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(oauth));
    const body = { provider: values.provider };
    if (values.name.trim()) body.name = values.name.trim();
    try {
      const login = await api("POST", "/api/logins", body);
      current = login.id;
      $("oauth-progress").hidden = false;
      if (login.flow === "device_code") {
        $("oauth-device").hidden = false;
        $("oauth-pkce").hidden = true;
        $("oauth-code").textContent = login.user_code;
        $("oauth-verify").href = login.verification_uri_complete ?? login.verification_uri;
        $("oauth-verify").textContent = login.verification_uri;
      } else if (login.flow === "pkce") {
        $("oauth-pkce").hidden = false;
        $("oauth-device").hidden = true;
        $("oauth-authorize").href = login.authorization_url;
      }
      say(login.status === "failed" ? `The login failed: ${login.error}` : "Waiting for you to sign in…");
      if (login.status !== "failed") follow(login.id);
    } catch (err) {
      toast(err.message, true);
    }
  });
  $("oauth-paste").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!current) return;
    const redirect = new FormData(event.target).get("redirect_url").trim();
    try {
      await api("POST", `/api/logins/${encodeURIComponent(current)}/complete`, { redirect_url: redirect });
      say("Finishing the login…");
    } catch (err) {
      toast(err.message, true);
    }
  });
}

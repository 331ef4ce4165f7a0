/* The mock server's web console: every page talks to the admin API with the operator's token. */
/* SPDX-License-Identifier: Apache-2.0 */
"use strict";

const $ = (sel, root) => (root || document).querySelector(sel);
const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
const DAY_MS = 86400000;
const POLL_MS = 2000;
const ACTION_LABELS = {
  "create config": "新建配置", "modify config": "修改配置", "delete config": "删除配置",
  "new sync": "新建同步", "new bulk sync": "新建同步 (bulk)", "online": "上线配置",
  "offline": "下线配置", "stream reset": "stream reset",
};

let configs = [];     /* the last list, for the send form and edits */
let editing = null;   /* the config being edited, or null for a new one */
let pollTimer = null; /* refreshes the visible page that shows live state */
let currentPage = "configs";

/* ---- token and settings: sessionStorage, so a closed tab forgets them ---- */

function takeFragment() {
  /* #token=...&instance=... : read once, then removed so the token stays out of the address
   * bar, the history and screenshots. */
  const params = new URLSearchParams(location.hash.replace(/^#/, ""));
  if (params.get("token")) sessionStorage.setItem("token", params.get("token"));
  if (params.get("instance")) sessionStorage.setItem("instance", params.get("instance"));
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);
}

const token = () => sessionStorage.getItem("token") || "";
const instance = () => $("#instance").value.trim();
const operator = () => $("#operator").value.trim() || "console";

function say(text, kind) {
  const m = $("#message");
  m.textContent = text;
  m.className = kind || "";
}

/* ---- the admin API ---- */

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? "?" + s : "";
}

async function api(method, path, params, body) {
  const init = { method, headers: { "Authorization": "Bearer " + token() } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path + query(params || {}), init);
  if (resp.status === 401) {
    sessionStorage.removeItem("token");
    showLogin("The server refused the token (401): enter the admin token.");
    throw new Error("unauthorized");
  }
  let json = null;
  try { json = await resp.json(); } catch (e) { json = { success: false, msg: "HTTP " + resp.status }; }
  if (!resp.ok && json.success !== false) json = { success: false, msg: "HTTP " + resp.status };
  return json;
}

/* ---- page frame ---- */

function showLogin(why) {
  $("#login").hidden = false;
  $("#tabs").hidden = true;
  $$(".page").forEach(p => { p.hidden = true; });
  say(why || "", why ? "error" : "");
}

function show(page) {
  if (page !== currentPage) say(""); /* a message belongs to the page it came from */
  currentPage = page;
  $("#login").hidden = true;
  $("#tabs").hidden = false;
  $$(".page").forEach(p => { p.hidden = p.id !== "page-" + page; });
  $$("#tabs button").forEach(b => b.classList.toggle("active", b.dataset.page === page));
  clearInterval(pollTimer);
  pollTimer = null;
  const load = { configs: loadConfigs, send: fillSendForm, query: refreshQuery,
                 service: loadSignature, records: loadRecords, live: loadLive }[page];
  const polled = page === "live" || page === "query";
  load().catch(report);
  if (polled) pollTimer = setInterval(() => load().catch(report), POLL_MS);
}

function report(err) {
  if (err && err.message !== "unauthorized") say(String(err), "error");
}

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === undefined || text === null ? "" : String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function button(td, label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", () => Promise.resolve(onClick()).catch(report));
  td.appendChild(b);
  return b;
}

const pad = n => String(n).padStart(2, "0");
function fmtTime(ms) {
  const d = new Date(ms);
  return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
    pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
}
const fmtDate = d => d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate());

/* ---- configs (§6.2, 6.4-6.6) ---- */

function rowParams(c) {
  /* A row names itself exactly: its own instance, or "" for the every-instance row. */
  return { instanceId: c.instanceId || "", operator: operator() };
}

async function loadConfigs() {
  const r = await api("GET", "/admin/biz", { instanceId: instance() });
  if (!r.success) return say("Cannot list configs: " + r.msg, "error");
  configs = r.data;
  const tbody = $("#config-table tbody");
  tbody.textContent = "";
  for (const c of configs) {
    const tr = document.createElement("tr");
    tr.dataset.biz = c.bizType;
    cell(tr, c.bizType);
    cell(tr, c.instanceId || "(every instance)");
    cell(tr, c.scope);
    cell(tr, c.dimension);
    cell(tr, c.persistent ? "yes" : "no");
    cell(tr, c.online ? "online 上线" : "offline 下线", c.online ? "online" : "");
    const td = cell(tr, "");
    button(td, "Send", () => { show("send"); $("#send-form [name=bizType]").value = c.bizType;
                               syncSendTarget(); });
    button(td, "Edit", () => openConfigForm(c));
    button(td, c.online ? "Offline" : "Online", async () => {
      const r2 = await api("POST", "/admin/biz/" + encodeURIComponent(c.bizType) +
                           (c.online ? "/offline" : "/online"), rowParams(c));
      say(r2.success ? c.bizType + " is " + (c.online ? "offline" : "online") :
          "Failed: " + r2.msg, r2.success ? "ok" : "error");
      await loadConfigs();
    });
    button(td, "Delete", async () => {
      if (!confirm("Delete the sync config " + c.bizType + "?")) return;
      const r2 = await api("DELETE", "/admin/biz/" + encodeURIComponent(c.bizType), rowParams(c));
      say(r2.success ? c.bizType + " deleted" : "Failed: " + r2.msg, r2.success ? "ok" : "error");
      await loadConfigs();
    });
    tbody.appendChild(tr);
  }
}

function radio(form, name) { return $("[name=" + name + "]:checked", form).value; }
function setRadio(form, name, value) {
  $$("[name=" + name + "]", form).forEach(i => { i.checked = i.value === String(value); });
}

/* The guide's dependent fields: multi-device and user consistency only for users, the re-push
 * mode with persistence, the threshold with the threshold mode. The server refuses the rest. */
function syncConfigForm() {
  const f = $("#config-form");
  const user = radio(f, "dimension") === "user";
  const persistent = radio(f, "persistent") === "true";
  $$(".user-only", f).forEach(e => { e.hidden = !user; });
  $$(".persistent-only", f).forEach(e => { e.hidden = !persistent; });
  $$(".threshold-only", f).forEach(e => {
    e.hidden = !persistent || radio(f, "repushMode") !== "threshold";
  });
}

function openConfigForm(c) {
  const f = $("#config-form");
  editing = c || null;
  f.reset();
  $("#config-form-title").textContent = c ? "Edit " + c.bizType + " 修改配置" : "New sync config 新建同步配置";
  f.bizType.readOnly = !!c;
  if (c) {
    f.bizType.value = c.bizType;
    f.description.value = c.description;
    for (const k of ["scope", "dimension", "multiDevice", "persistent", "repushMode",
                     "userConsistency"]) setRadio(f, k, c[k]);
    if (c.threshold > 0) f.threshold.value = c.threshold;
  }
  f.hidden = false;
  syncConfigForm();
  f.bizType.focus();
}

function configBody(f) {
  const user = radio(f, "dimension") === "user";
  const persistent = radio(f, "persistent") === "true";
  const threshold = persistent && radio(f, "repushMode") === "threshold";
  return {
    description: f.description.value,
    scope: radio(f, "scope"),
    dimension: radio(f, "dimension"),
    multiDevice: user ? radio(f, "multiDevice") === "true" : true,
    userConsistency: user && radio(f, "userConsistency") === "true",
    persistent,
    repushMode: threshold ? "threshold" : "queue",
    threshold: threshold ? Number(f.threshold.value) : 0,
  };
}

async function saveConfig(ev) {
  ev.preventDefault();
  const f = $("#config-form");
  const body = configBody(f);
  let r;
  if (editing) {
    r = await api("PUT", "/admin/biz/" + encodeURIComponent(editing.bizType), rowParams(editing),
                  body);
  } else {
    body.bizType = f.bizType.value.trim();
    r = await api("POST", "/admin/biz", { instanceId: instance(), operator: operator() }, body);
  }
  if (!r.success) return say("Not saved: " + r.msg, "error");
  say("Saved " + r.data.bizType, "ok");
  f.hidden = true;
  await loadConfigs();
}

/* ---- send data (§6.3) ---- */

async function fillSendForm() {
  if (!configs.length) {
    const r = await api("GET", "/admin/biz", { instanceId: instance() });
    if (r.success) configs = r.data;
  }
  const sel = $("#send-form [name=bizType]");
  const keep = sel.value;
  sel.textContent = "";
  for (const c of configs) {
    const o = document.createElement("option");
    o.value = c.bizType;
    o.textContent = c.bizType + (c.online ? "" : " (offline)");
    sel.appendChild(o);
  }
  if (keep) sel.value = keep;
  const third = $("#send-form [name=thirdMsgId]");
  if (!third.value) third.value = "console-" + Date.now();
  syncSendTarget();
}

function syncSendTarget() {
  const c = configs.find(x => x.bizType === $("#send-form [name=bizType]").value);
  $(".target-row").hidden = !!(c && c.scope === "global");
  $("#target-label").textContent = c && c.dimension === "device" ? "Device ID 设备 ID" : "User ID 用户 ID";
}

async function sendData(ev) {
  ev.preventDefault();
  const f = $("#send-form");
  const c = configs.find(x => x.bizType === f.bizType.value);
  const global = !!(c && c.scope === "global");
  if (!f.android.checked && !f.ios.checked) return say("Choose at least one system", "error");
  if (!instance()) return say("Enter the instanceId at the top first", "error");
  const body = { bizType: f.bizType.value, payload: f.payload.value, thirdMsgId: f.thirdMsgId.value };
  if (!global) body.linkToken = f.linkToken.value.trim();
  if (f.android.checked !== f.ios.checked) body.osType = f.android.checked ? "ANDROID" : "IOS";
  if (f.appMinVersion.value.trim()) body.appMinVersion = f.appMinVersion.value.trim();
  if (f.appMaxVersion.value.trim()) body.appMaxVersion = f.appMaxVersion.value.trim();
  body.validTimeEnd = Date.now() + Number(f.days.value || 30) * DAY_MS;
  const r = await api("POST", "/admin/push",
                      { instanceId: instance(), global: global ? "1" : "", operator: operator() },
                      body);
  const out = $("#send-result");
  out.textContent = "Result: " + r.msg;
  out.className = r.success ? "ok" : "error";
  if (r.success) f.thirdMsgId.value = "console-" + Date.now();
}

/* ---- data query (§6.7) ---- */

async function loadStats() {
  if (!instance()) return;
  const r = await api("GET", "/admin/stats", { instanceId: instance() });
  if (!r.success) return;
  const tbody = $("#stats-table tbody");
  tbody.textContent = "";
  for (const k of ["user", "device", "global"]) {
    const tr = document.createElement("tr");
    tr.dataset.kind = k;
    cell(tr, k);
    cell(tr, r.data[k].pushes);
    cell(tr, r.data[k].arrivals);
    cell(tr, r.data[k].targets);
    tbody.appendChild(tr);
  }
  const tr = document.createElement("tr");
  tr.dataset.kind = "total";
  cell(tr, "total");
  cell(tr, r.data.pushes);
  cell(tr, r.data.arrivals);
  cell(tr, "");
  tbody.appendChild(tr);
}

async function refreshQuery() {
  await loadStats();
  const f = $("#query-form");
  const target = f.target.value.trim();
  if (!target || !instance()) return;
  const r = await api("GET", "/admin/status", { instanceId: instance(), [f.dim.value]: target });
  if (!r.success) return say("Query failed: " + r.msg, "error");
  const d = r.data;
  $("#status").hidden = false;
  $("#status-name").textContent = target;
  $("#status-online").textContent = d.online ? "online (" + d.connections + ")" : "offline";
  $("#status-online").className = d.online ? "online" : "";
  $("#status-pushes").textContent = d.pushes;
  $("#status-arrivals").textContent = d.arrivals;
  const table = $("#push-table");
  table.hidden = false;
  const tbody = $("tbody", table);
  tbody.textContent = "";
  for (const p of d.pushList) {
    const tr = document.createElement("tr");
    tr.dataset.third = p.thirdMsgId;
    cell(tr, p.bizType);
    cell(tr, p.id);
    cell(tr, p.thirdMsgId);
    cell(tr, p.binary ? "(binary)" : p.payload);
    cell(tr, fmtTime(p.createTime));
    cell(tr, p.state, "state state-" + p.state);
    cell(tr, p.acknowledgedBy.join(", "));
    tbody.appendChild(tr);
  }
}

/* ---- service management (§6.8): the signature switch and the tenant's public key ---- */

async function loadSignature() {
  const r = await api("GET", "/admin/signature");
  const f = $("#signature-form");
  if (!r.success) return say("Signature settings unavailable: " + r.msg, "error");
  f.enabled.checked = !!r.data.enabled;
  f.publicKey.value = r.data.publicKey || "";
}

async function saveSignature(ev) {
  ev.preventDefault();
  const f = $("#signature-form");
  const r = await api("POST", "/admin/signature", { operator: operator() },
                      { enabled: f.enabled.checked, publicKey: f.publicKey.value });
  say(r.success ? "Signatures " + (f.enabled.checked ? "on 开启签名" : "off 关闭签名") :
      "Not saved: " + r.msg, r.success ? "ok" : "error");
}

/* ---- operation records (§6.9) ---- */

function detailView(text) {
  /* A config change carries {bizType, before, after}: show the config with changed fields
   * marked; other records carry plain text. */
  const pre = document.createElement("pre");
  pre.className = "detail";
  let d = null;
  try { d = JSON.parse(text); } catch (e) { d = null; }
  if (!d || typeof d !== "object" || !("after" in d)) {
    pre.textContent = text;
    return pre;
  }
  const shown = d.after || d.before || {};
  for (const k of Object.keys(shown)) {
    const line = document.createElement("div");
    const changed = d.before && d.after && JSON.stringify(d.before[k]) !== JSON.stringify(d.after[k]);
    line.textContent = k + ": " + (changed ? JSON.stringify(d.before[k]) + " → " : "") +
      JSON.stringify(shown[k]);
    if (changed) line.className = "changed";
    pre.appendChild(line);
  }
  return pre;
}

async function loadRecords(ev) {
  if (ev) ev.preventDefault();
  const f = $("#records-form");
  if (!f.from.value) {
    /* The guide's default: the last 7 days (the server caps the list at 1000). */
    f.to.value = fmtDate(new Date());
    f.from.value = fmtDate(new Date(Date.now() - 7 * DAY_MS));
  }
  const from = new Date(f.from.value + "T00:00:00").getTime();
  const to = new Date(f.to.value + "T23:59:59.999").getTime();
  /* Every instance's records: the signature switch and every-instance configs have none. */
  const r = await api("GET", "/admin/records", { operator: f.operator.value.trim(),
                                               action: f.action.value, from, to });
  if (!r.success) return say("Cannot read records: " + r.msg, "error");
  const tbody = $("#records-table tbody");
  tbody.textContent = "";
  const table = $("#records-table"); /* a redraw count lets a test wait for the new list */
  table.dataset.loaded = String(Number(table.dataset.loaded || 0) + 1);
  for (const rec of r.data) {
    const tr = document.createElement("tr");
    tr.dataset.action = rec.action;
    cell(tr, rec.operator);
    cell(tr, rec.action + (ACTION_LABELS[rec.action] ? " " + ACTION_LABELS[rec.action] : ""));
    cell(tr, fmtTime(rec.time));
    cell(tr, rec.instanceId);
    const td = cell(tr, "");
    const b = button(td, "Details 详情", () => {
      b.hidden = true;
      td.appendChild(detailView(rec.detail));
    });
    tbody.appendChild(tr);
  }
}

/* ---- live state ---- */

async function loadLive() {
  const r = await api("GET", "/admin/live", { instanceId: instance() });
  if (!r.success) return say("Cannot read live state: " + r.msg, "error");
  $("#live-time").textContent = "updated " + fmtTime(r.data.time);
  const tbody = $("#live-table tbody");
  tbody.textContent = "";
  for (const l of r.data.links) {
    const tr = document.createElement("tr");
    tr.dataset.device = l.deviceId;
    cell(tr, l.instanceId);
    cell(tr, l.deviceId);
    cell(tr, l.userId);
    cell(tr, l.osType);
    cell(tr, l.appVersion);
    cell(tr, l.queueDepth);
    cell(tr, l.queues.map(q => q.bizType + " (" + q.dimension + "): " + q.depth).join(", "));
    tbody.appendChild(tr);
  }
}

/* ---- start ---- */

function start() {
  takeFragment();
  $("#instance").value = sessionStorage.getItem("instance") || "";
  $("#operator").value = sessionStorage.getItem("operator") || "";
  $("#instance").addEventListener("change", () => {
    sessionStorage.setItem("instance", instance());
    configs = [];
    show(currentPage);
  });
  $("#operator").addEventListener("change", () => sessionStorage.setItem("operator", operator()));
  $("#logout").addEventListener("click", () => { sessionStorage.removeItem("token"); showLogin(); });
  $("#login-form").addEventListener("submit", ev => {
    ev.preventDefault();
    sessionStorage.setItem("token", $("#token").value.trim());
    $("#token").value = "";
    show("configs");
  });
  $$("#tabs button").forEach(b => b.addEventListener("click", () => show(b.dataset.page)));
  $("#new-config").addEventListener("click", () => openConfigForm(null));
  $("#config-cancel").addEventListener("click", () => { $("#config-form").hidden = true; });
  $("#config-form").addEventListener("change", syncConfigForm);
  $("#config-form").addEventListener("submit", ev => saveConfig(ev).catch(report));
  $("#send-form [name=bizType]").addEventListener("change", syncSendTarget);
  $("#send-form").addEventListener("submit", ev => sendData(ev).catch(report));
  $("#query-form").addEventListener("submit", ev => { ev.preventDefault(); refreshQuery().catch(report); });
  $("#signature-form").addEventListener("submit", ev => saveSignature(ev).catch(report));
  $("#records-form").addEventListener("submit", ev => loadRecords(ev).catch(report));
  if (token()) show("configs");
  else showLogin();
}

document.addEventListener("DOMContentLoaded", start);

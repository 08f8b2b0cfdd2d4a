// vitrify lab page: the same REST API and the same tokens as every other client.
// The token lives in this tab's sessionStorage only; every call sends it as a Bearer token.
"use strict";

const $ = (sel) => document.querySelector(sel);
const TOKEN_KEY = "vitrify-token";

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

async function api(method, path, body) {
  const headers = { "Accept": "application/json", "X-Vitrify-Client": "web" };
  if (token()) headers["Authorization"] = "Bearer " + token();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  return { ok: response.ok, status: response.status, data };
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  row.appendChild(td);
  return td;
}

function button(label, onClick, cls) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  if (cls) b.className = cls;
  b.addEventListener("click", onClick);
  return b;
}

const ROLE_LEVEL = { reporter: 0, operator: 1, admin: 2 };

async function whoami() {
  $("#approvals-section").hidden = true;
  $("#tokens-section").hidden = true;
  if (!token()) { $("#whoami").textContent = "not signed in"; return false; }
  const r = await api("GET", "/api/whoami");
  if (!r.ok) {
    $("#whoami").textContent = (r.data && r.data.detail) || "token refused";
    return false;
  }
  $("#whoami").textContent = "signed in as " + r.data.name + " (" + r.data.role + ")";
  const level = ROLE_LEVEL[r.data.role] || 0;
  if (level >= ROLE_LEVEL.operator) { $("#approvals-section").hidden = false; loadApprovals(); }
  if (level >= ROLE_LEVEL.admin) { $("#tokens-section").hidden = false; loadTokens(); }
  return true;
}

async function loadApprovals() {
  const r = await api("GET", "/api/approvals");
  const body = $("#approvals tbody");
  body.replaceChildren();
  if (!r.ok) { $("#approvals-message").textContent = (r.data && r.data.detail) || ("error " + r.status); return; }
  $("#approvals-message").textContent = r.data.length ? "" : "No batch is waiting.";
  for (const a of r.data) {
    const tr = document.createElement("tr");
    tr.dataset.approvalId = a.id;
    cell(tr, a.id);
    cell(tr, a.campaign_id);
    cell(tr, a.n_jobs);
    cell(tr, a.jobs.map((j) => j.composition).join(", "));
    cell(tr, a.requested_at);
    const actions = cell(tr, "");
    actions.appendChild(button("approve", () => decide(a.id, "approve"), "claim"));
    actions.appendChild(button("reject", () => decide(a.id, "reject")));
    body.appendChild(tr);
  }
}

async function decide(id, verb) {
  const r = await api("POST", "/api/approvals/" + id + "/" + verb, {});
  await loadApprovals();
  await loadQueue();
  $("#approvals-message").textContent = r.ok ? "Approval " + id + ": " + r.data.status + "." : ((r.data && r.data.detail) || ("error " + r.status));
}

async function loadTokens() {
  const r = await api("GET", "/api/tokens");
  const body = $("#tokens tbody");
  body.replaceChildren();
  if (!r.ok) return;
  for (const t of r.data) {
    const tr = document.createElement("tr");
    for (const v of [t.id, t.name, t.role, t.prefix + "...", t.created_at, t.last_used_at]) cell(tr, v);
    cell(tr, "").appendChild(button("revoke", async () => {
      if (!window.confirm("Revoke the token of " + t.name + "? It stops working at once.")) return;
      await api("DELETE", "/api/tokens/" + t.id);
      await loadTokens();
    }));
    body.appendChild(tr);
  }
}

async function createToken(event) {
  event.preventDefault();
  const out = $("#new-token");
  const r = await api("POST", "/api/tokens", { name: $("#new-token-name").value, role: $("#new-token-role").value });
  out.replaceChildren();
  if (!r.ok) { out.textContent = (r.data && r.data.detail) || ("error " + r.status); return; }
  out.append("Token for " + r.data.token.name + " (" + r.data.token.role + "), shown only now: ");
  const code = document.createElement("code");
  code.id = "new-token-secret";
  code.textContent = r.data.secret;
  out.appendChild(code);
  $("#token-create-form").reset();
  await loadTokens();
}

async function loadQueue() {
  const body = $("#queue tbody");
  const all = $("#queue-all").checked;
  const r = await api("GET", "/api/queue" + (all ? "?all=true" : ""));
  body.replaceChildren();
  if (!r.ok) {
    $("#queue-message").textContent = (r.data && r.data.detail) || ("error " + r.status);
    return;
  }
  $("#queue-message").textContent = r.data.length ? r.data.length + " job(s)" : "The queue is empty.";
  for (const job of r.data) {
    const tr = document.createElement("tr");
    tr.dataset.jobId = job.job_id;
    cell(tr, job.job_id);
    cell(tr, job.composition);
    cell(tr, job.processing);
    cell(tr, job.campaign ? job.campaign + " #" + job.campaign_id : "");
    cell(tr, job.state + (job.retry_of ? " (retry of " + job.retry_of + ")" : ""));
    const actions = cell(tr, "");
    if (job.status === "queued" && job.released_at) {
      actions.appendChild(button("claim", () => claim(job.job_id), "claim"));
    }
    if (job.released_at && (job.status === "queued" || job.status === "running")) {
      actions.appendChild(button("report", () => startReport(job), "report"));
    }
    actions.appendChild(button("history", () => loadHistory({ job_id: job.job_id }), "history"));
    body.appendChild(tr);
  }
}

async function claim(jobId) {
  const r = await api("POST", "/api/jobs/" + jobId + "/claim", {});
  $("#queue-message").textContent = r.ok ? "Claimed job " + jobId + "." : ((r.data && r.data.detail) || ("error " + r.status));
  await loadQueue();
}

function startReport(job) {
  const form = $("#report-form");
  form.reset();
  clearErrors();
  $("#job_id").value = job.job_id;
  $("#composition").value = job.composition || "";
  $("#method").value = "";
  $("#report-message").textContent = "Reporting job " + job.job_id + ": correct the composition if what was made differs.";
  $("#composition").focus();
}

function clearErrors() {
  document.querySelectorAll("#report-form .error").forEach((el) => { el.textContent = ""; });
  document.querySelectorAll("#report-form [aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
}

function showErrors(errors) {
  const unplaced = [];
  for (const e of errors) {
    const slot = document.querySelector('#report-form .error[data-for="' + CSS.escape(e.field) + '"]');
    if (slot) {
      slot.textContent = e.message;
      const input = document.getElementById(e.field) || document.getElementById("m-" + e.field);
      if (input) input.setAttribute("aria-invalid", "true");
    } else {
      unplaced.push(e.field + ": " + e.message);
    }
  }
  return unplaced;
}

function reportBody() {
  const value = (id) => { const v = $("#" + id).value.trim(); return v === "" ? null : v; };
  const body = {
    job_id: value("job_id"), sample_id: value("sample_id"), composition: $("#composition").value,
    method: value("method"), result: $("#result").value, normalize: $("#normalize").checked,
    reporter: value("reporter"), notes: value("notes"), correction_of: value("correction_of"), reason: value("reason"),
    measurements: {},
  };
  document.querySelectorAll("#report-form [data-quantity]").forEach((input) => {
    const v = input.value.trim();
    if (v !== "") {
      const q = input.dataset.quantity;
      body.measurements[q] = { value: v, unit: document.querySelector('[data-unit-for="' + q + '"]').value };
    }
  });
  return body;
}

async function submitReport(event) {
  event.preventDefault();
  clearErrors();
  const message = $("#report-message");
  message.className = "";
  message.textContent = "Sending...";
  const r = await api("POST", "/api/reports", reportBody());
  if (r.ok) {
    const o = r.data;
    message.className = "ok";
    message.textContent = "Recorded outcome " + o.outcome_id + ": " + o.composition + " " + o.result +
      (o.revision > 1 ? " (revision " + o.revision + ", supersedes outcome " + o.supersedes_id + ")" : "") + ".";
    $("#report-form").reset();
    await loadQueue();
    await loadHistory({ outcome_id: o.outcome_id });
    return;
  }
  message.className = "failed";
  const errors = (r.data && r.data.errors) || [];
  const unplaced = showErrors(errors);
  message.textContent = ((r.data && r.data.detail) || ("error " + r.status)) + (unplaced.length ? " - " + unplaced.join("; ") : "");
}

async function loadHistory(query) {
  const params = new URLSearchParams(query);
  const r = await api("GET", "/api/history?" + params.toString());
  const body = $("#history tbody");
  body.replaceChildren();
  if (!r.ok) { $("#history-message").textContent = (r.data && r.data.detail) || ("error " + r.status); return; }
  $("#history-message").textContent = r.data.length ? "" : "No reports yet.";
  for (const o of r.data) {
    const tr = document.createElement("tr");
    if (!o.is_current) tr.className = "superseded";
    for (const v of [o.outcome_id, o.revision, o.composition, o.result, o.processing, o.reporter, o.created_at, o.reason, o.is_current ? "yes" : "no"]) cell(tr, v);
    body.appendChild(tr);
  }
}

async function useToken(event) {
  if (event) event.preventDefault();
  const value = $("#token").value.trim();
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  $("#token").value = "";
  if (await whoami()) await loadQueue();
  else $("#queue tbody").replaceChildren();
}

document.addEventListener("DOMContentLoaded", () => {
  $("#token-form").addEventListener("submit", useToken);
  $("#token-forget").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); whoami(); $("#queue tbody").replaceChildren(); $("#new-token").replaceChildren(); });
  $("#queue-refresh").addEventListener("click", loadQueue);
  $("#queue-all").addEventListener("change", loadQueue);
  $("#report-form").addEventListener("submit", submitReport);
  $("#approvals-refresh").addEventListener("click", loadApprovals);
  $("#token-create-form").addEventListener("submit", createToken);
  if (token()) useToken();
});

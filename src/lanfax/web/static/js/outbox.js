// Outbox (the user's send jobs, live from the event stream) with job control and a job's
// detail; Incoming (calls being received now, live).

import { html } from "htm/preact";
import { useEffect, useState } from "preact/hooks";
import { api, download, when } from "./api.js";
import { subscribe, subscribeJobs, throttled } from "./events.js";
import { Notice, Problem, Status, go } from "./ui.js";

const WAITING = ["pending", "retrying", "no_line"];
const ACTIONS = {
  pause: WAITING,
  resume: ["paused"],
  cancel: [...WAITING, "paused", "in_progress"],
  restart: ["failed", "retries_exceeded"],
};
const FINAL = ["failed", "retries_exceeded", "completed", "canceled"];
const NEWEST = 2147483647;

/** Jobs of some types, kept current by the event stream: [jobs (newest first), error]. */
function useLiveJobs(types, keep = () => true) {
  const [jobs, setJobs] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let live = true;
    const upsert = (job) =>
      setJobs((old) => {
        const rest = (old || []).filter((j) => j.job_id !== job.job_id);
        if (!types.includes(job.job_type) || !keep(job)) return rest;
        return [job, ...rest].sort((a, b) => b.job_id - a.job_id);
      });
    const remove = (id) => setJobs((old) => (old || []).filter((j) => j.job_id !== id));
    const stop = subscribeJobs((batch) => {
      for (const [id, what] of batch) {
        if (what === "deleted") {
          remove(id);
          continue;
        }
        api(`/jobs/${id}`, { quiet: true }).then(
          (job) => live && upsert(job),
          (err) => err.status === 404 && live && remove(id),
        );
      }
    });
    api(`/jobs?type=${types.join(",")}&before=${NEWEST}&limit=200`).then(
      (page) => live && setJobs((old) => mergeLists(page.jobs.filter(keep), old)),
      (err) => live && setError(err),
    );
    return () => {
      live = false;
      stop();
    };
  }, []);
  return [jobs, error, setJobs];
}

function mergeLists(loaded, fromEvents) {
  const byId = new Map(loaded.map((j) => [j.job_id, j]));
  for (const j of fromEvents || []) byId.set(j.job_id, j); // events are newer than the list
  return [...byId.values()].sort((a, b) => b.job_id - a.job_id);
}

function progress(job) {
  if (job.queue_status === "in_progress") {
    return `${job.device_status.replace(/_/g, " ")}${job.page_count ? `, page ${Math.min(job.pages_done + 1, job.page_count)} of ${job.page_count}` : ""}`;
  }
  return job.status_text || "";
}

export function OutboxPage({ who, id }) {
  const [jobs, error, setJobs] = useLiveJobs(["send"]);
  const [actionError, setActionError] = useState(null);
  const [flash] = useState(() => {
    const m = sessionStorage.getItem("lanfax-sent");
    sessionStorage.removeItem("lanfax-sent");
    return m;
  });
  async function act(job, action) {
    setActionError(null);
    try {
      const changed =
        action === "remove"
          ? await api(`/jobs/${job.job_id}`, { method: "DELETE" })
          : await api(`/jobs/${job.job_id}/${action}`, { method: "POST" });
      if (changed) setJobs((old) => old.map((j) => (j.job_id === changed.job_id ? changed : j)));
      else setJobs((old) => old.filter((j) => j.job_id !== job.job_id));
    } catch (err) {
      setActionError(err);
    }
  }
  const selected = id && jobs ? jobs.find((j) => String(j.job_id) === id) : null;
  return html`<section>
    <h1>Outbox</h1>
    ${flash ? html`<${Notice}>${flash}<//>` : null}
    <${Problem} error=${error || actionError} />
    ${jobs === null && !error ? html`<p>Loading…</p>` : null}
    ${jobs && !jobs.length ? html`<p>No faxes are waiting. <a href="#/send">Send one</a>.</p>` : null}
    ${jobs && jobs.length
      ? html`<div class="tablewrap"><table id="outbox-table">
          <caption class="sr">Your faxes, newest first, updated live</caption>
          <thead><tr><th scope="col">Job</th><th scope="col">To</th><th scope="col">Status</th>
            <th scope="col">Pages</th><th scope="col">Submitted</th><th scope="col">Actions</th></tr></thead>
          <tbody>
            ${jobs.map(
              (j) => html`<tr id=${"job-" + j.job_id} data-status=${j.queue_status}
                  class=${selected && selected.job_id === j.job_id ? "selected" : ""}>
                <td><a href=${"#/outbox/" + j.job_id}>${j.job_id}</a></td>
                <td>${j.recipient_name ? `${j.recipient_name} ` : ""}${j.recipient_number}</td>
                <td><${Status} value=${j.queue_status} /> <small>${progress(j)}</small></td>
                <td>${j.pages_done}/${j.page_count}</td>
                <td>${when(j.submitted_at)}${j.user_name !== who.user ? html`<br /><small>${j.user_name}</small>` : null}</td>
                <td class="buttons">
                  ${Object.entries(ACTIONS).map(([action, states]) =>
                    states.includes(j.queue_status)
                      ? html`<button type="button" class="small" data-action=${action}
                          aria-label=${`${action} job ${j.job_id}`} onClick=${() => act(j, action)}>${action}</button>`
                      : null,
                  )}
                  ${FINAL.includes(j.queue_status)
                    ? html`<button type="button" class="small secondary" data-action="remove"
                        aria-label=${`remove job ${j.job_id} from the queue`} onClick=${() => act(j, "remove")}>remove</button>`
                    : null}
                </td>
              </tr>`,
            )}
          </tbody>
        </table></div>`
      : null}
    ${selected ? html`<${JobDetail} job=${selected} />` : null}
    ${id && jobs && !selected ? html`<p class="notice">Job ${id} is not in your outbox.</p>` : null}
  </section>`;
}

const DETAIL_FIELDS = [
  ["queue_status", "Queue status"],
  ["device_status", "Call status"],
  ["status_text", "Status text"],
  ["recipient_number", "Number"],
  ["recipient_name", "Recipient"],
  ["user_name", "Submitted by"],
  ["submitted_at", "Submitted"],
  ["schedule_action", "Schedule"],
  ["schedule_time", "Scheduled for"],
  ["priority", "Priority"],
  ["attempts", "Attempts"],
  ["next_attempt_at", "Next attempt"],
  ["started_at", "Started"],
  ["completed_at", "Completed"],
  ["device_id", "Device"],
  ["remote_ident", "Remote station"],
  ["bit_rate", "Rate (bit/s)"],
  ["ecm", "ECM"],
  ["compression", "Coding"],
  ["page_count", "Pages"],
  ["pages_done", "Pages sent"],
  ["last_failure", "Last failure"],
  ["broadcast_id", "Broadcast"],
];

function JobDetail({ job }) {
  const show = (k, v) => {
    if (v === null || v === undefined || v === "") return "–";
    if (k.endsWith("_at") || k === "schedule_time") return when(v);
    if (typeof v === "boolean") return v ? "yes" : "no";
    if (typeof v === "object") return JSON.stringify(v);
    return String(v).replace(/_/g, k === "status_text" ? "_" : " ");
  };
  const call = job.extra && job.extra.last_call;
  return html`<section class="detail" aria-label=${"Job " + job.job_id} id="job-detail">
    <h2>Job ${job.job_id} <button type="button" class="link" onClick=${() => go("outbox")}>close</button></h2>
    <div class="detail-grid">
      <dl>
        ${DETAIL_FIELDS.map(([k, label]) => html`<dt>${label}</dt><dd data-key=${k}>${show(k, job[k])}</dd>`)}
        ${call
          ? html`<dt>Last call</dt><dd>${call.modem || ""} ${call.media || ""}, ${Math.round(call.duration || 0)} s, ${call.t30_text || ""}</dd>`
          : null}
      </dl>
      ${job.page_count
        ? html`<a href=${download(`/jobs/${job.job_id}/document`)} class="thumb" title="Download the TIFF">
            <img src=${download(`/jobs/${job.job_id}/pages/1.png?width=300`)} alt=${"Page 1 of job " + job.job_id} width="300" />
          </a>`
        : null}
    </div>
    <p class="links">
      <a href=${download(`/jobs/${job.job_id}/document`)}>Download (TIFF)</a>
      ${FINAL.includes(job.queue_status) && job.queue_status !== "canceled"
        ? html` · <a href=${download(`/jobs/${job.job_id}/report`)}>Transmission report (PDF)</a>`
        : null}
    </p>
  </section>`;
}

export function IncomingPage() {
  const [jobs, error] = useLiveJobs(["receive", "routing", "fail_receive"]);
  const [ports, setPorts] = useState(null);
  useEffect(() => {
    let live = true;
    const load = () =>
      api("/ports").then(
        async (list) => {
          const status = await Promise.all(list.map((p) => api(`/ports/${p.device_id}/status`)));
          if (live) setPorts(status);
        },
        () => live && setPorts([]),
      );
    load();
    const soon = throttled(load);
    const stop = subscribe((ev) => {
      if (ev.device_id) soon();
    });
    return () => {
      live = false;
      stop();
    };
  }, []);
  const now = (jobs || []).filter((j) => !FINAL.includes(j.queue_status));
  const recent = (jobs || []).filter((j) => FINAL.includes(j.queue_status)).slice(0, 20);
  return html`<section>
    <h1>Incoming</h1>
    <${Problem} error=${error} />
    <h2>Lines</h2>
    ${ports
      ? html`<ul class="lines" id="lines">
          ${ports.map(
            (p) => html`<li><strong>${p.device_name}</strong> <${Status} value=${p.status} />
              ${p.caller_id ? html` from ${p.caller_id}` : null}
              ${p.job_type === "receive" && p.total_pages ? html` page ${p.current_page}` : null}</li>`,
          )}
        </ul>`
      : html`<p>Loading…</p>`}
    <h2>Being received or routed</h2>
    ${now.length ? jobTable(now, "incoming-now") : html`<p>No fax is being received now.</p>`}
    <h2>Recently received</h2>
    ${recent.length ? jobTable(recent, "incoming-recent") : html`<p>None yet.</p>`}
  </section>`;
}

function jobTable(jobs, id) {
  return html`<div class="tablewrap"><table id=${id}>
    <thead><tr><th scope="col">Job</th><th scope="col">From</th><th scope="col">Line</th>
      <th scope="col">Status</th><th scope="col">Pages</th><th scope="col">Started</th></tr></thead>
    <tbody>
      ${jobs.map(
        (j) => html`<tr data-status=${j.queue_status}>
          <td>${j.job_id}</td><td>${j.remote_ident || j.caller_id || "unknown"}</td>
          <td>${j.recipient_name || j.device_id}</td>
          <td><${Status} value=${j.queue_status} /> <small>${j.status_text}</small></td>
          <td>${j.pages_done}</td><td>${when(j.started_at || j.submitted_at)}</td></tr>`,
      )}
    </tbody>
  </table></div>`;
}

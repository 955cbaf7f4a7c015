// Inbox (the incoming archive) and Sent Items (the outgoing archive): search, and a fax
// viewer (pages as images from /archive/{dir}/{id}/pages/{n}.png, zoom, rotate, thumbnails),
// download as PDF or TIFF, forward as a fax, delete.

import { html } from "htm/preact";
import { useEffect, useState } from "preact/hooks";
import { api, download, when } from "./api.js";
import { subscribeJobs } from "./events.js";
import { Field, Notice, Problem, go, useId, useLoad } from "./ui.js";

const TITLES = { incoming: "Inbox", outgoing: "Sent Items" };
const ROUTE = { incoming: "inbox", outgoing: "sent" };

export function ArchivePage({ who, direction, id }) {
  const [query, setQuery] = useState({ number: "", ident: "", since: "", until: "" });
  const [applied, setApplied] = useState(query);
  const [tick, setTick] = useState(0);
  const nid = useId("search-number");
  const iid = useId("search-ident");
  const sid = useId("search-since");
  const uid = useId("search-until");
  const [page, error] = useLoad(() => {
    const q = new URLSearchParams({ limit: "100" });
    if (applied.number) q.set("number", applied.number);
    if (applied.ident) q.set("ident", applied.ident);
    if (applied.since) q.set("since", new Date(applied.since).toISOString());
    if (applied.until) q.set("until", new Date(applied.until).toISOString());
    return api(`/archive/${direction}?${q}`);
  }, [direction, applied, tick]);
  // A newly archived fax shows up without a reload: a finished job may have been archived.
  useEffect(() => subscribeJobs(() => setTick((t) => t + 1), 1000), []);
  const entries = (page && page.entries) || [];
  const selected = id ? entries.find((e) => String(e.archive_id) === id) : null;
  const config = who.rights.includes("query_config");
  return html`<section>
    <h1>${TITLES[direction]}</h1>
    <form class="search grid" role="search" aria-label=${"Search " + TITLES[direction]}
      onSubmit=${(e) => { e.preventDefault(); setApplied(query); }}>
      <${Field} label=${direction === "incoming" ? "Sender's number" : "Number"} id=${nid}>
        <input id=${nid} value=${query.number} inputmode="tel" onInput=${(e) => setQuery({ ...query, number: e.target.value })} />
      <//>
      <${Field} label="Station id" id=${iid}>
        <input id=${iid} value=${query.ident} onInput=${(e) => setQuery({ ...query, ident: e.target.value })} />
      <//>
      <${Field} label="From" id=${sid}>
        <input id=${sid} type="date" value=${query.since} onInput=${(e) => setQuery({ ...query, since: e.target.value })} />
      <//>
      <${Field} label="Until" id=${uid}>
        <input id=${uid} type="date" value=${query.until} onInput=${(e) => setQuery({ ...query, until: e.target.value })} />
      <//>
      <div class="actions"><button type="submit">Search</button></div>
    </form>
    <${Problem} error=${error} />
    ${page && !entries.length
      ? html`<p>Nothing here${applied.number || applied.ident || applied.since ? " for this search" : ""}.
          ${direction === "outgoing" && config ? " Sent faxes are kept here when the server archives them (Server: archive outgoing faxes)." : ""}</p>`
      : null}
    ${entries.length
      ? html`<div class="tablewrap"><table id=${"archive-" + direction}>
          <caption class="sr">${TITLES[direction]}, newest first</caption>
          <thead><tr><th scope="col">${direction === "incoming" ? "From" : "To"}</th>
            <th scope="col">Pages</th><th scope="col">${direction === "incoming" ? "Received" : "Sent"}</th>
            <th scope="col">Result</th></tr></thead>
          <tbody>
            ${entries.map(
              (e) => html`<tr id=${"entry-" + e.archive_id} class=${selected && selected.archive_id === e.archive_id ? "selected" : ""}>
                <td><a href=${`#/${ROUTE[direction]}/${e.archive_id}`}>${e.remote_ident || e.number || e.caller_id || "unknown"}${
                  e.recipient_name && direction === "outgoing" ? ` (${e.recipient_name})` : ""
                }</a></td>
                <td>${e.pages}</td><td>${when(e.completed_at)}</td><td>${e.result}</td></tr>`,
            )}
          </tbody>
        </table></div>`
      : null}
    ${selected
      ? html`<${Viewer} key=${selected.archive_id} entry=${selected} direction=${direction} who=${who}
          onDeleted=${() => { go(ROUTE[direction]); setTick((t) => t + 1); }} />`
      : null}
    ${id && page && !selected ? html`<p class="notice">Fax ${id} is not in this list.</p>` : null}
  </section>`;
}

function Viewer({ entry, direction, who, onDeleted }) {
  const [page, setPage] = useState(1);
  const [zoom, setZoom] = useState(1);
  const [rotate, setRotate] = useState(0);
  const [forward, setForward] = useState(false);
  const [error, setError] = useState(null);
  const base = `/archive/${direction}/${entry.archive_id}`;
  const pages = Array.from({ length: entry.pages || 1 }, (_, i) => i + 1);
  const canDelete = who.rights.includes(direction === "incoming" ? "manage_in_archive" : "manage_out_archive");
  async function remove() {
    if (!confirm(`Delete this fax (${entry.pages} pages) for good?`)) return;
    try {
      await api(base, { method: "DELETE" });
      onDeleted();
    } catch (err) {
      setError(err);
    }
  }
  const onKey = (e) => {
    if (e.key === "ArrowRight" || e.key === "PageDown") setPage((p) => Math.min(p + 1, pages.length));
    if (e.key === "ArrowLeft" || e.key === "PageUp") setPage((p) => Math.max(p - 1, 1));
    if (e.key === "+") setZoom((z) => Math.min(z + 0.25, 4));
    if (e.key === "-") setZoom((z) => Math.max(z - 0.25, 0.25));
  };
  return html`<section class="viewer" aria-label="Fax viewer" id="viewer" onKeyDown=${onKey}>
    <h2>${direction === "incoming" ? "Fax from" : "Fax to"} ${entry.remote_ident || entry.number || "unknown"}
      <small>${when(entry.completed_at)} · ${entry.pages} page(s)${entry.bit_rate ? ` · ${entry.bit_rate} bit/s${entry.ecm ? ", ECM" : ""}` : ""}</small></h2>
    <${Problem} error=${error} />
    <div class="toolbar" role="toolbar" aria-label="Viewer tools">
      <button type="button" onClick=${() => setPage(Math.max(page - 1, 1))} disabled=${page <= 1} aria-label="Previous page">◀</button>
      <span aria-live="polite" id="viewer-page">page ${page} of ${pages.length}</span>
      <button type="button" onClick=${() => setPage(Math.min(page + 1, pages.length))} disabled=${page >= pages.length} aria-label="Next page">▶</button>
      <button type="button" onClick=${() => setZoom(Math.max(zoom - 0.25, 0.25))} aria-label="Zoom out">−</button>
      <span>${Math.round(zoom * 100)}%</span>
      <button type="button" onClick=${() => setZoom(Math.min(zoom + 0.25, 4))} aria-label="Zoom in">+</button>
      <button type="button" onClick=${() => setRotate((rotate + 90) % 360)} aria-label="Rotate clockwise">⟳</button>
      <a class="button secondary" href=${download(base + "/document?format=pdf")} download>PDF</a>
      <a class="button secondary" href=${download(base + "/document?format=tiff")} download>TIFF</a>
      ${who.rights.includes("job_submit")
        ? html`<button type="button" class="secondary" onClick=${() => setForward(!forward)} aria-expanded=${forward}>Forward…</button>`
        : null}
      ${canDelete ? html`<button type="button" class="danger" onClick=${remove}>Delete</button>` : null}
    </div>
    ${forward ? html`<${Forward} base=${base} onDone=${() => setForward(false)} />` : null}
    ${direction === "incoming"
      ? html`<p class="hint" id="owner">In the inbox of ${entry.user_name || "the server (nobody's)"}.</p>`
      : null}
    ${direction === "incoming" && who.rights.includes("manage_receive_folder")
      ? html`<${Reassign} entry=${entry} onDone=${onDeleted} />`
      : null}
    <div class="viewer-body">
      <ol class="thumbs" aria-label="Pages">
        ${pages.map(
          (n) => html`<li><button type="button" class=${"thumbbtn" + (n === page ? " current" : "")}
              aria-label=${"Show page " + n} aria-current=${n === page ? "true" : null} onClick=${() => setPage(n)}>
            <img src=${download(`${base}/pages/${n}.png?width=120`)} alt="" width="120" loading="lazy" />
            <span>${n}</span></button></li>`,
        )}
      </ol>
      <div class="stage" tabindex="0" aria-label="Page image; arrow keys turn pages, + and - zoom">
        <img id="page-image" src=${download(`${base}/pages/${page}.png?width=1100`)} alt=${`Page ${page} of the fax`}
          style=${`width:${zoom * 100}%;transform:rotate(${rotate}deg)`} />
      </div>
    </div>
  </section>`;
}

function Forward({ base, onDone }) {
  const [number, setNumber] = useState("");
  const [error, setError] = useState(null);
  const [done, setDone] = useState("");
  const fid = useId("forward-number");
  async function send(e) {
    e.preventDefault();
    setError(null);
    try {
      // The fax as the server has it (TIFF), submitted again: nothing is converted twice.
      const tiff = await api(base + "/document?format=tiff");
      const form = new FormData();
      form.append("params", JSON.stringify({ recipients: [{ recipient_number: number.trim() }] }));
      form.append("file", tiff, "forwarded.tif");
      const result = await api("/jobs", { method: "POST", form });
      setDone(`Forwarded as job ${result.jobs[0].job_id}.`);
    } catch (err) {
      setError(err.hint ? `${err.message} (${err.hint})` : err.message);
    }
  }
  return html`<form class="forward" onSubmit=${send} aria-label="Forward as a fax">
    <${Field} label="Forward to fax number" id=${fid} error=${error}>
      <input id=${fid} value=${number} inputmode="tel" required onInput=${(e) => setNumber(e.target.value)} />
    <//>
    <button type="submit">Forward</button>
    <button type="button" class="link" onClick=${onDone}>close</button>
    ${done ? html`<${Notice}>${done} <a href="#/outbox">Outbox</a><//>` : null}
  </form>`;
}

function Reassign({ entry, onDone }) {
  const [to, setTo] = useState("");
  const [error, setError] = useState(null);
  const [accounts] = useLoad(() => api("/accounts", { quiet: true }).catch(() => ({ accounts: [] })), []);
  const id = useId("reassign-to");
  async function move(e) {
    e.preventDefault();
    setError(null);
    try {
      await api("/accounts/reassign", { method: "POST", json: { job_id: entry.job_id, to } });
      onDone();
    } catch (err) {
      setError(err.hint ? `${err.message} (${err.hint})` : err.message);
    }
  }
  return html`<form class="forward" onSubmit=${move} aria-label="Move to another inbox">
    <${Field} label="Move to the inbox of" id=${id} error=${error}>
      <select id=${id} value=${to} onChange=${(e) => setTo(e.target.value)}>
        <option value="">the server (nobody's)</option>
        ${((accounts && accounts.accounts) || []).map((a) => html`<option value=${a.name}>${a.name}</option>`)}
      </select>
    <//>
    <button type="submit" class="secondary">Move</button>
  </form>`;
}

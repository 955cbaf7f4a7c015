// The administrator's pages (the Fax Service Manager's nodes): server settings, devices,
// incoming routing, cover pages, security, activity. Shown to users holding manage_config;
// the server refuses each call to anyone without the right, whatever the page shows.

import { html } from "htm/preact";
import { useEffect, useState } from "preact/hooks";
import { api, download, when } from "./api.js";
import { subscribe, subscribeJobs, throttled } from "./events.js";
import { Field, Notice, Problem, Status, useId, useLoad } from "./ui.js";

const CONFIG_LABELS = {
  retries: ["Retries", "how often a failed call is tried again"],
  retry_delay: ["Retry delay (minutes)", ""],
  dirty_days: ["Remove finished jobs after (days)", "failed jobs are kept this long"],
  branding: ["Branding header on every page", ""],
  use_device_tsid: ["Use the device's TSID", "instead of the sender's"],
  server_cp: ["Server cover pages only", "users may not use personal cover pages"],
  pause_server_queue: ["Pause the outgoing queue", ""],
  start_cheap_time: ["Discount period starts (HH:MM)", ""],
  stop_cheap_time: ["Discount period ends (HH:MM)", ""],
  archive_outgoing_faxes: ["Archive sent faxes (Sent Items)", ""],
  archive_directory: ["Archive folder", "empty: the data directory's"],
  inbound_profile: ["Inbound profile", ""],
};

function Saved({ text }) {
  return text ? html`<span class="saved" role="status">${text}</span>` : null;
}

function ConfigField({ name, value, onChange }) {
  const id = useId("config-" + name);
  const [label, hint] = CONFIG_LABELS[name] || [name.replace(/_/g, " "), ""];
  if (typeof value === "boolean") {
    return html`<div class="check">
      <input type="checkbox" id=${id} name=${name} checked=${value} onChange=${(e) => onChange(e.target.checked)} />
      <label for=${id}>${label}</label>${hint ? html` <small class="hint">${hint}</small>` : null}
    </div>`;
  }
  return html`<${Field} label=${label} id=${id} hint=${hint}>
    <input id=${id} name=${name} type=${typeof value === "number" ? "number" : "text"} value=${value}
      onInput=${(e) => onChange(typeof value === "number" ? Number(e.target.value) : e.target.value)} />
  <//>`;
}

export function ServerPage() {
  const [config, configError, reload] = useLoad(() => api("/config"), []);
  const [draft, setDraft] = useState(null);
  const [logging] = useLoad(() => api("/logging"), []);
  const [levels, setLevels] = useState(null);
  const [archive] = useLoad(() => api("/archive/config"), []);
  const [policy, setPolicy] = useState(null);
  const [error, setError] = useState(null);
  const [saved, setSaved] = useState("");
  useEffect(() => config && setDraft(config), [config]);
  useEffect(() => logging && setLevels(logging), [logging]);
  useEffect(() => archive && setPolicy(archive), [archive]);
  async function save(e) {
    e.preventDefault();
    setError(null);
    setSaved("");
    try {
      const changed = Object.fromEntries(Object.entries(draft).filter(([k, v]) => config[k] !== v));
      if (Object.keys(changed).length) await api("/config", { method: "PATCH", json: changed });
      if (levels) await api("/logging", { method: "PUT", json: levels });
      if (policy) {
        await api("/archive/config", {
          method: "PATCH",
          json: { incoming: policy.incoming, outgoing: policy.outgoing },
        });
      }
      setSaved("Saved.");
      reload();
    } catch (err) {
      setError(err);
    }
  }
  const setPol = (dir, k, v) => setPolicy({ ...policy, [dir]: { ...policy[dir], [k]: v } });
  return html`<section>
    <h1>Server</h1>
    <${Problem} error=${configError || error} />
    ${draft
      ? html`<form onSubmit=${save} id="server-form" aria-label="Server settings">
          <fieldset><legend>Outbox</legend><div class="grid">
            ${Object.entries(draft).map(
              ([k, v]) => html`<${ConfigField} name=${k} value=${v} onChange=${(nv) => setDraft({ ...draft, [k]: nv })} />`,
            )}
          </div></fieldset>
          ${policy
            ? html`<fieldset><legend>Archives</legend>
                <p class="hint">Folder: ${policy.directory}. 0 means no limit.</p>
                ${["incoming", "outgoing"].map(
                  (dir) => html`<div class="grid" role="group" aria-label=${dir + " archive"}>
                    <${PolicyField} label=${`${dir}: keep (days)`} value=${policy[dir].max_age_days} onChange=${(v) => setPol(dir, "max_age_days", v)} />
                    <${PolicyField} label=${`${dir}: high watermark (MB)`} value=${policy[dir].high_watermark_mb} onChange=${(v) => setPol(dir, "high_watermark_mb", v)} />
                    <${PolicyField} label=${`${dir}: low watermark (MB)`} value=${policy[dir].low_watermark_mb} onChange=${(v) => setPol(dir, "low_watermark_mb", v)} />
                  </div>`,
                )}
              </fieldset>`
            : null}
          ${levels
            ? html`<fieldset><legend>Event reports (logging)</legend><div class="grid">
                ${levels.map(
                  (c, i) => html`<${LevelField} cat=${c} onChange=${(level) => setLevels(levels.map((x, j) => (j === i ? { ...x, level } : x)))} />`,
                )}
              </div></fieldset>`
            : null}
          <div class="actions"><button type="submit">Save</button> <${Saved} text=${saved} /></div>
        </form>`
      : html`<p>Loading…</p>`}
  </section>`;
}

function PolicyField({ label, value, onChange }) {
  const id = useId("policy");
  return html`<${Field} label=${label} id=${id}>
    <input id=${id} type="number" min="0" value=${value} onInput=${(e) => onChange(Number(e.target.value))} />
  <//>`;
}

function LevelField({ cat, onChange }) {
  const id = useId("level-" + cat.category);
  return html`<${Field} label=${cat.name} id=${id}>
    <select id=${id} value=${cat.level} onChange=${(e) => onChange(e.target.value)}>
      ${["none", "min", "med", "max"].map((l) => html`<option value=${l}>${l}</option>`)}
    </select>
  <//>`;
}

// -- devices ------------------------------------------------------------------------------

export function DevicesPage() {
  const [ports, error, reload] = useLoad(() => api("/ports"), []);
  // The providers (FaxEnumerateProviders), with the ones that have no device yet.
  const [providers] = useLoad(() => api("/providers").catch(() => ({ providers: [] })), []);
  const known = new Map(((providers && providers.providers) || []).map((p) => [p.name, p]));
  const names = [...new Set([...(ports || []).map((p) => p.provider), ...known.keys()])];
  return html`<section>
    <h1>Devices and providers</h1>
    <${Problem} error=${error} />
    ${ports
      ? names.map(
          (provider) => html`<section aria-label=${"Provider " + provider} class="provider">
            <h2 class="provider">${(known.get(provider) || {}).friendly_name || provider}
              <small>provider ${provider}${known.has(provider) ? html` · <${Status} value=${known.get(provider).state} />` : null}
              ${known.get(provider) && known.get(provider).error ? ` · ${known.get(provider).error}` : ""}</small></h2>
            ${ports.some((p) => p.provider === provider) ? null : html`<p class="hint">No device.</p>`}
            ${ports.filter((p) => p.provider === provider).map(
              (p) => html`<${Device} key=${p.device_id} port=${p} onSaved=${reload} />`,
            )}
          </section>`,
        )
      : html`<p>Loading…</p>`}
  </section>`;
}

function Device({ port, onSaved }) {
  const [draft, setDraft] = useState(port);
  const [status, setStatus] = useState(null);
  const [error, setError] = useState(null);
  const [saved, setSaved] = useState("");
  const dev = port.device_id;
  const ids = {
    name: useId("dev-name"), rings: useId("dev-rings"), priority: useId("dev-priority"),
    tsid: useId("dev-tsid"), csid: useId("dev-csid"), send: useId("dev-send"), receive: useId("dev-receive"),
  };
  useEffect(() => setDraft(port), [port]);
  useEffect(() => {
    let live = true;
    const load = () => api(`/ports/${dev}/status`).then((s) => live && setStatus(s), () => {});
    load();
    const soon = throttled(load);
    const stop = subscribe((ev) => ev.device_id === dev && soon());
    return () => {
      live = false;
      stop();
    };
  }, [dev]);
  const flag = (f, on) =>
    setDraft({ ...draft, flags: on ? [...new Set([...draft.flags, f])] : draft.flags.filter((x) => x !== f) });
  async function save(e) {
    e.preventDefault();
    setError(null);
    setSaved("");
    let handle = null;
    try {
      // FaxOpenPort for modification, FaxSetPort, FaxClose: the API's own sequence.
      handle = (await api(`/ports/${dev}/handles`, { method: "POST", json: { mode: "modify" } })).handle;
      const body = {
        device_name: draft.device_name, rings: Number(draft.rings), priority: Number(draft.priority),
        tsid: draft.tsid, csid: draft.csid, flags: draft.flags,
      };
      await api(`/ports/${dev}`, { method: "PATCH", json: body, headers: { "X-Lanfax-Port-Handle": handle } });
      setSaved("Saved.");
      onSaved();
    } catch (err) {
      setError(err);
    } finally {
      if (handle) await api(`/handles/${handle}`, { method: "DELETE" }).catch(() => {});
    }
  }
  return html`<article class="card" id=${"device-" + dev} aria-label=${port.device_name}>
    <h3>${port.device_name} <small>${port.provider} · number ${port.number || "–"}</small>
      ${status ? html` <${Status} value=${status.status} />` : null}</h3>
    ${status && status.job_id ? html`<p class="hint">Job ${status.job_id}: ${status.job_type} ${status.phone_number || status.caller_id}, page ${status.current_page} of ${status.total_pages}</p>` : null}
    <${Problem} error=${error} />
    <form onSubmit=${save} class="grid" aria-label=${"Properties of " + port.device_name}>
      <${Field} label="Name" id=${ids.name}>
        <input id=${ids.name} value=${draft.device_name} onInput=${(e) => setDraft({ ...draft, device_name: e.target.value })} />
      <//>
      <${Field} label="Rings before answering" id=${ids.rings}>
        <input id=${ids.rings} name="rings" type="number" min="0" max="99" value=${draft.rings}
          onInput=${(e) => setDraft({ ...draft, rings: e.target.value })} />
      <//>
      <${Field} label="Priority (1 = first)" id=${ids.priority}>
        <input id=${ids.priority} type="number" min="1" value=${draft.priority} onInput=${(e) => setDraft({ ...draft, priority: e.target.value })} />
      <//>
      <${Field} label="TSID (sent)" id=${ids.tsid}>
        <input id=${ids.tsid} maxlength="20" value=${draft.tsid} onInput=${(e) => setDraft({ ...draft, tsid: e.target.value })} />
      <//>
      <${Field} label="CSID (answered)" id=${ids.csid}>
        <input id=${ids.csid} maxlength="20" value=${draft.csid} onInput=${(e) => setDraft({ ...draft, csid: e.target.value })} />
      <//>
      <div class="check"><input type="checkbox" id=${ids.send} checked=${draft.flags.includes("send")} onChange=${(e) => flag("send", e.target.checked)} />
        <label for=${ids.send}>Send faxes</label></div>
      <div class="check"><input type="checkbox" id=${ids.receive} checked=${draft.flags.includes("receive")} onChange=${(e) => flag("receive", e.target.checked)} />
        <label for=${ids.receive}>Receive faxes</label></div>
      <div class="actions"><button type="submit" data-device=${dev}>Save</button> <${Saved} text=${saved} /></div>
    </form>
    <${DeviceRouting} dev=${dev} />
  </article>`;
}

function DeviceRouting({ dev }) {
  const [methods, error, reload] = useLoad(() => api(`/routing/devices/${dev}/methods`), [dev]);
  const [editing, setEditing] = useState(null);
  const [problem, setProblem] = useState(null);
  async function toggle(m, enabled) {
    setProblem(null);
    try {
      await api(`/routing/devices/${dev}/methods/${encodeURIComponent(m.guid)}`, { method: "PATCH", json: { enabled } });
    } catch (err) {
      setProblem(err);
    }
    reload();
  }
  return html`<details class="routing">
    <summary>Routing methods of this device</summary>
    <${Problem} error=${error || problem} />
    <ul class="methods">
      ${(methods || []).map((m) => {
        const id = `route-${dev}-${m.function_name}`;
        return html`<li>
          <input type="checkbox" id=${id} checked=${m.enabled} onChange=${(e) => toggle(m, e.target.checked)} />
          <label for=${id}>${m.friendly_name}</label>
          <button type="button" class="link" onClick=${() => setEditing(editing === m.guid ? null : m.guid)}
            aria-expanded=${editing === m.guid}>settings</button>
          ${editing === m.guid ? html`<${RoutingInfo} dev=${dev} method=${m} />` : null}
        </li>`;
      })}
    </ul>
  </details>`;
}

function RoutingInfo({ dev, method }) {
  const path = `/routing/devices/${dev}/methods/${encodeURIComponent(method.guid)}/info`;
  const [info, error] = useLoad(() => api(path), [path]);
  const [text, setText] = useState("");
  const [problem, setProblem] = useState(null);
  const [saved, setSaved] = useState("");
  const id = useId("routing-info");
  useEffect(() => info && setText(JSON.stringify(info, null, 2)), [info]);
  async function save(e) {
    e.preventDefault();
    setProblem(null);
    try {
      await api(path, { method: "PUT", json: JSON.parse(text) });
      setSaved("Saved.");
    } catch (err) {
      setProblem(err instanceof SyntaxError ? { message: "This is not valid JSON: " + err.message } : err);
    }
  }
  return html`<form onSubmit=${save} class="routing-info">
    <${Problem} error=${error || problem} />
    <${Field} label=${"Settings of " + method.friendly_name + " (JSON)"} id=${id}>
      <textarea id=${id} rows="5" value=${text} onInput=${(e) => setText(e.target.value)}></textarea>
    <//>
    <button type="submit" class="small">Save settings</button> <${Saved} text=${saved} />
  </form>`;
}

// -- incoming routing ----------------------------------------------------------------------

export function RoutingPage() {
  const [methods, error, reload] = useLoad(() => api("/routing/methods"), []);
  const [held, heldError, reloadHeld] = useLoad(() => api("/jobs?type=routing&limit=100"), []);
  const [problem, setProblem] = useState(null);
  useEffect(() => subscribe((ev) => ev.event === "routing" && reloadHeld()), []);
  async function move(i, delta) {
    const order = methods.map((m) => m.guid);
    const j = i + delta;
    [order[i], order[j]] = [order[j], order[i]];
    setProblem(null);
    try {
      await api("/routing/methods/order", { method: "PUT", json: { order } });
    } catch (err) {
      setProblem(err);
    }
    reload();
  }
  async function retry(job) {
    try {
      await api(`/routing/jobs/${job.job_id}/retry`, { method: "POST" });
    } catch (err) {
      setProblem(err);
    }
    reloadHeld();
  }
  return html`<section>
    <h1>Incoming routing</h1>
    <p class="hint">A received fax goes through the methods enabled on its line, in this order.
      Enable methods per line under <a href="#/admin/devices">Devices</a>.</p>
    <${Problem} error=${error || problem || heldError} />
    <ol class="order" id="routing-order">
      ${(methods || []).map(
        (m, i) => html`<li>
          <span>${m.friendly_name} <small>(${m.extension_friendly_name})</small></span>
          <button type="button" class="small" disabled=${i === 0} onClick=${() => move(i, -1)} aria-label=${"Move " + m.friendly_name + " up"}>↑</button>
          <button type="button" class="small" disabled=${i === methods.length - 1} onClick=${() => move(i, 1)} aria-label=${"Move " + m.friendly_name + " down"}>↓</button>
        </li>`,
      )}
    </ol>
    <h2>Faxes held in routing</h2>
    ${held && held.jobs.length
      ? html`<ul>${held.jobs.map(
          (j) => html`<li>Job ${j.job_id} from ${j.remote_ident || j.caller_id || "unknown"}: ${j.status_text}
            <button type="button" class="small" onClick=${() => retry(j)}>retry now</button></li>`,
        )}</ul>`
      : html`<p>None: every received fax was routed.</p>`}
  </section>`;
}

// -- cover pages ----------------------------------------------------------------------------

export function CoversPage() {
  const [list, error, reload] = useLoad(() => api("/covers"), []);
  const [name, setName] = useState("");
  const [file, setFile] = useState(null);
  const [problem, setProblem] = useState(null);
  const nid = useId("cover-name");
  const fid = useId("cover-file");
  async function upload(e) {
    e.preventDefault();
    setProblem(null);
    try {
      await api(`/covers/server/${encodeURIComponent(name.trim())}`, { method: "PUT", body: file });
      setName("");
      reload();
    } catch (err) {
      setProblem(err);
    }
  }
  async function remove(t) {
    if (!confirm(`Delete the cover page ${t.name}?`)) return;
    try {
      await api(`/covers/${t.scope}/${encodeURIComponent(t.name)}`, { method: "DELETE" });
    } catch (err) {
      setProblem(err);
    }
    reload();
  }
  return html`<section>
    <h1>Cover pages</h1>
    <${Problem} error=${error || problem} />
    <table id="covers-table"><thead><tr><th scope="col">Name</th><th scope="col">Scope</th><th scope="col">Kind</th><th scope="col">Actions</th></tr></thead>
      <tbody>${((list && list.templates) || []).map(
        (t) => html`<tr><td>${t.name}</td><td>${t.scope}</td><td>${t.kind}</td>
          <td><a href=${download(`/covers/${t.scope}/${encodeURIComponent(t.name)}/preview`)}>preview (PDF)</a>
          ${t.kind !== "builtin" ? html` <button type="button" class="small danger" onClick=${() => remove(t)}>delete</button>` : null}</td></tr>`,
      )}</tbody></table>
    <h2>Add a server cover page</h2>
    <form onSubmit=${upload} class="grid" aria-label="Upload a cover page">
      <${Field} label="Name" id=${nid}><input id=${nid} required value=${name} onInput=${(e) => setName(e.target.value)} /><//>
      <${Field} label="Template (PDF with form fields, or text with {placeholders})" id=${fid}>
        <input id=${fid} type="file" accept=".pdf,.txt,application/pdf,text/plain" required onChange=${(e) => setFile(e.target.files[0])} />
      <//>
      <div class="actions"><button type="submit" disabled=${!file || !name.trim()}>Upload</button></div>
    </form>
  </section>`;
}

// -- security -------------------------------------------------------------------------------

export function SecurityPage({ who }) {
  const [users, error, reload] = useLoad(() => api("/users"), []);
  const [tokens, tokError, reloadTokens] = useLoad(() => api("/tokens?all=true"), []);
  const [audit] = useLoad(() => api("/audit?limit=50"), []);
  const [problem, setProblem] = useState(null);
  const [created, setCreated] = useState("");
  const [editing, setEditing] = useState(null);
  // Every right's name: an administrator holds them all (one source of truth: the server).
  const allRights = [...new Set([who.rights, ...(users || []).map((u) => [...u.rights, ...u.revoked])].flat())];
  const [form, setForm] = useState({ name: "", role: "user", password: "" });
  const [tok, setTok] = useState({ user: who.user, label: "", days: "" });
  const ids = { name: useId("user-name"), role: useId("user-role"), pw: useId("user-password"),
    tuser: useId("token-user"), tlabel: useId("token-label"), tdays: useId("token-days") };
  const run = async (fn) => {
    setProblem(null);
    try {
      await fn();
    } catch (err) {
      setProblem(err);
    }
    reload();
    reloadTokens();
  };
  return html`<section>
    <h1>Security</h1>
    <${Problem} error=${error || tokError || problem} />
    <h2>Users</h2>
    <div class="tablewrap"><table id="users-table"><thead><tr><th scope="col">User</th><th scope="col">Role</th><th scope="col">Rights</th><th scope="col">Actions</th></tr></thead>
      <tbody>${(users || []).map((u) => html`<tr>
        <td>${u.name}${u.has_password ? "" : html` <small>(no password)</small>`}</td>
        <td><label class="sr" for=${"role-" + u.name}>Role of ${u.name}</label>
          <select id=${"role-" + u.name} value=${u.role} onChange=${(e) => run(() => api(`/users/${u.name}`, { method: "PATCH", json: { grant: [e.target.value] } }))}>
            ${["user", "operator", "administrator"].map((r) => html`<option value=${r}>${r}</option>`)}
          </select></td>
        <td><small>${u.rights.join(", ")}</small>
          ${editing === u.name
            ? html`<fieldset class="rights" id=${"rights-" + u.name}><legend>Rights of ${u.name}</legend>
                ${allRights.map((r) => {
                  const id = `right-${u.name}-${r}`;
                  const held = u.rights.includes(r);
                  return html`<div class="check"><input type="checkbox" id=${id} checked=${held}
                    onChange=${(e) => run(() => api(`/users/${u.name}`, { method: "PATCH", json: { [e.target.checked ? "grant" : "revoke"]: [r] } }))} />
                    <label for=${id}>${r.replace(/_/g, " ")}</label></div>`;
                })}
                <p class="hint">A granted or revoked right overrides the role (${u.granted.length ? "granted: " + u.granted.join(", ") : "none granted"}${u.revoked.length ? "; revoked: " + u.revoked.join(", ") : ""}).</p>
              </fieldset>`
            : null}</td>
        <td class="buttons">
          <button type="button" class="small secondary" aria-expanded=${editing === u.name}
            onClick=${() => setEditing(editing === u.name ? null : u.name)}>rights…</button>
          <button type="button" class="small secondary" onClick=${() => {
            const pw = prompt(`New password for ${u.name} (8 characters or more)`);
            if (pw) run(() => api(`/users/${u.name}`, { method: "PATCH", json: { password: pw } }));
          }}>set password</button>
          <button type="button" class="small danger" onClick=${() => confirm(`Remove ${u.name} and its tokens?`) && run(() => api(`/users/${u.name}`, { method: "DELETE" }))}>remove</button>
        </td></tr>`)}</tbody></table></div>
    <form class="grid" aria-label="Add a user" onSubmit=${(e) => { e.preventDefault(); run(async () => { await api("/users", { method: "POST", json: { ...form, password: form.password || undefined } }); setForm({ name: "", role: "user", password: "" }); }); }}>
      <${Field} label="New user" id=${ids.name}><input id=${ids.name} required value=${form.name} onInput=${(e) => setForm({ ...form, name: e.target.value })} /><//>
      <${Field} label="Role" id=${ids.role}><select id=${ids.role} value=${form.role} onChange=${(e) => setForm({ ...form, role: e.target.value })}>
        ${["user", "operator", "administrator"].map((r) => html`<option value=${r}>${r}</option>`)}</select><//>
      <${Field} label="Password" id=${ids.pw}><input id=${ids.pw} type="password" autocomplete="new-password" value=${form.password} onInput=${(e) => setForm({ ...form, password: e.target.value })} /><//>
      <div class="actions"><button type="submit">Add user</button></div>
    </form>
    <h2>API tokens</h2>
    ${created ? html`<${Notice}>New token (shown once, copy it now): <code id="new-token">${created}</code><//>` : null}
    <div class="tablewrap"><table id="tokens-table"><thead><tr><th scope="col">Token</th><th scope="col">User</th><th scope="col">Label</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">Actions</th></tr></thead>
      <tbody>${(tokens || []).map((t) => html`<tr><td><code>${t.token_id}</code></td><td>${t.user}</td><td>${t.label}</td>
        <td>${when(t.created_at)}</td><td>${t.expires_at ? when(t.expires_at) : "never"}</td>
        <td><button type="button" class="small danger" onClick=${() => confirm(`Revoke token ${t.token_id}?`) && run(() => api(`/tokens/${t.token_id}`, { method: "DELETE" }))}>revoke</button></td></tr>`)}</tbody></table></div>
    <form class="grid" aria-label="Create a token" onSubmit=${(e) => { e.preventDefault(); run(async () => { const t = await api("/tokens", { method: "POST", json: { user: tok.user, label: tok.label, days: tok.days ? Number(tok.days) : undefined } }); setCreated(t.token); }); }}>
      <${Field} label="For user" id=${ids.tuser}><select id=${ids.tuser} value=${tok.user} onChange=${(e) => setTok({ ...tok, user: e.target.value })}>
        ${(users || []).map((u) => html`<option value=${u.name}>${u.name}</option>`)}</select><//>
      <${Field} label="Label" id=${ids.tlabel}><input id=${ids.tlabel} value=${tok.label} onInput=${(e) => setTok({ ...tok, label: e.target.value })} /><//>
      <${Field} label="Valid for (days, empty: no expiry)" id=${ids.tdays}><input id=${ids.tdays} type="number" min="1" max="3650" value=${tok.days} onInput=${(e) => setTok({ ...tok, days: e.target.value })} /><//>
      <div class="actions"><button type="submit">Create token</button></div>
    </form>
    <h2>Audit trail</h2>
    <div class="tablewrap"><table id="audit-table"><thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">From</th><th scope="col">What</th><th scope="col">Target</th><th scope="col">Outcome</th></tr></thead>
      <tbody>${((audit && audit.entries) || []).map((a) => html`<tr><td>${when(a.at)}</td><td>${a.user_name}</td><td>${a.address}</td><td>${a.action}</td><td>${a.target}</td><td><${Status} value=${a.outcome} /></td></tr>`)}</tbody></table></div>
  </section>`;
}

// -- activity -------------------------------------------------------------------------------

export function ActivityPage() {
  const [filter, setFilter] = useState({ status: "", type: "", user: "" });
  const [applied, setApplied] = useState(filter);
  const [range, setRange] = useState({ since: "", until: "" });
  const ids = { status: useId("act-status"), type: useId("act-type"), user: useId("act-user"), since: useId("act-since"), until: useId("act-until") };
  const [page, error, reload] = useLoad(() => {
    const q = new URLSearchParams({ before: "2147483647", limit: "200" });
    for (const [k, v] of Object.entries(applied)) if (v) q.set(k, v);
    return api(`/jobs?${q}`);
  }, [applied]);
  useEffect(() => subscribeJobs(() => reload(), 1000), [applied]);
  const csv = new URLSearchParams();
  if (range.since) csv.set("since", new Date(range.since).toISOString());
  if (range.until) csv.set("until", new Date(range.until).toISOString());
  return html`<section>
    <h1>Activity</h1>
    <form class="grid" role="search" aria-label="Filter the queue" onSubmit=${(e) => { e.preventDefault(); setApplied(filter); }}>
      <${Field} label="Status" id=${ids.status}><select id=${ids.status} value=${filter.status} onChange=${(e) => setFilter({ ...filter, status: e.target.value })}>
        ${["", "pending", "in_progress", "paused", "retrying", "routing", "completed", "failed", "retries_exceeded", "canceled"].map((s) => html`<option value=${s}>${s ? s.replace(/_/g, " ") : "any"}</option>`)}
      </select><//>
      <${Field} label="Type" id=${ids.type}><select id=${ids.type} value=${filter.type} onChange=${(e) => setFilter({ ...filter, type: e.target.value })}>
        ${["", "send", "receive", "routing", "fail_receive"].map((s) => html`<option value=${s}>${s ? s.replace(/_/g, " ") : "any"}</option>`)}
      </select><//>
      <${Field} label="User" id=${ids.user}><input id=${ids.user} value=${filter.user} onInput=${(e) => setFilter({ ...filter, user: e.target.value })} /><//>
      <div class="actions"><button type="submit">Filter</button></div>
    </form>
    <${Problem} error=${error} />
    <div class="tablewrap"><table id="activity-table"><thead><tr><th scope="col">Job</th><th scope="col">Type</th><th scope="col">User</th><th scope="col">Number</th><th scope="col">Status</th><th scope="col">Pages</th><th scope="col">Submitted</th></tr></thead>
      <tbody>${((page && page.jobs) || []).map((j) => html`<tr><td>${j.job_id}</td><td>${j.job_type}</td><td>${j.user_name}</td>
        <td>${j.job_type === "send" ? j.recipient_number : j.remote_ident || j.caller_id}</td>
        <td><${Status} value=${j.queue_status} /> <small>${j.status_text}</small></td><td>${j.pages_done}/${j.page_count}</td><td>${when(j.submitted_at)}</td></tr>`)}</tbody></table></div>
    <h2>Activity log (one row per call)</h2>
    <form class="grid" aria-label="Export the activity log" onSubmit=${(e) => e.preventDefault()}>
      <${Field} label="From" id=${ids.since}><input id=${ids.since} type="date" value=${range.since} onInput=${(e) => setRange({ ...range, since: e.target.value })} /><//>
      <${Field} label="Until" id=${ids.until}><input id=${ids.until} type="date" value=${range.until} onInput=${(e) => setRange({ ...range, until: e.target.value })} /><//>
      <div class="actions"><a class="button" id="activity-csv" href=${download("/activity.csv" + (csv.toString() ? "?" + csv : ""))} download>Export CSV</a></div>
    </form>
  </section>`;
}

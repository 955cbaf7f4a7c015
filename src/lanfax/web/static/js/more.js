// Pages over the API added in the second wave: Contacts (the address book: contacts and
// distribution lists, vCard import/export), Drafts (documents printed to the fax printer
// without a number), and the administrator's Outgoing routing (groups and rules).

import { html } from "htm/preact";
import { useState } from "preact/hooks";
import { api, download, when } from "./api.js";
import { Field, Notice, Problem, Status, useId, useLoad } from "./ui.js";

// -- contacts ---------------------------------------------------------------------------------

export function ContactsPage({ who }) {
  const shared = who.rights.includes("manage_config");
  const [q, setQ] = useState("");
  const [applied, setApplied] = useState("");
  const [contacts, error, reload] = useLoad(
    () => api(`/contacts?limit=500${applied ? "&q=" + encodeURIComponent(applied) : ""}`),
    [applied],
  );
  const [lists, listError, reloadLists] = useLoad(() => api("/contact-lists?limit=500"), []);
  const [form, setForm] = useState({ name: "", fax_number: "", company: "", email: "", scope: "personal" });
  const [list, setList] = useState({ name: "", members: "" });
  const [problem, setProblem] = useState(null);
  const [done, setDone] = useState("");
  const ids = {
    q: useId("contacts-q"), name: useId("contact-name"), number: useId("contact-number"),
    company: useId("contact-company"), email: useId("contact-email"), scope: useId("contact-scope"),
    lname: useId("list-name"), lmembers: useId("list-members"), vcard: useId("vcard"),
  };
  const run = async (fn, message) => {
    setProblem(null);
    setDone("");
    try {
      await fn();
      if (message) setDone(message);
    } catch (err) {
      setProblem(err);
    }
    reload();
    reloadLists();
  };
  async function importCards(e) {
    const file = e.target.files[0];
    e.target.value = "";
    if (!file) return;
    await run(async () => {
      const r = await api("/contacts/import?scope=personal", {
        method: "POST", body: file, headers: { "Content-Type": "text/vcard" },
      });
      setDone(`Imported ${r.imported}, updated ${r.updated}.`);
    });
  }
  return html`<section>
    <h1>Contacts</h1>
    <${Problem} error=${error || listError || problem} />
    ${done ? html`<${Notice}>${done}<//>` : null}
    <form class="search grid" role="search" aria-label="Search contacts" onSubmit=${(e) => { e.preventDefault(); setApplied(q); }}>
      <${Field} label="Name, company, e-mail or number begins with" id=${ids.q}>
        <input id=${ids.q} value=${q} onInput=${(e) => setQ(e.target.value)} />
      <//>
      <div class="actions"><button type="submit">Search</button>
        <a class="button secondary" href=${download("/contacts/export?scope=all&version=4.0")} download>Export vCard</a>
        <label class="button secondary" for=${ids.vcard}>Import vCard…</label>
        <input id=${ids.vcard} type="file" accept=".vcf,text/vcard" class="sr" onChange=${importCards} />
      </div>
    </form>
    <div class="tablewrap"><table id="contacts-table">
      <thead><tr><th scope="col">Name</th><th scope="col">Fax</th><th scope="col">Company</th><th scope="col">E-mail</th><th scope="col">Scope</th><th scope="col">Actions</th></tr></thead>
      <tbody>${((contacts && contacts.contacts) || []).map((c) => html`<tr>
        <td>${c.name}</td><td>${c.fax_number}</td><td>${c.company}</td><td>${c.email}</td><td>${c.scope}</td>
        <td class="buttons">
          ${c.fax_number ? html`<a class="button small secondary" href=${"#/send?to=" + encodeURIComponent("@" + c.name)}>fax</a>` : null}
          ${c.scope === "personal" || shared
            ? html` <button type="button" class="small danger" onClick=${() => confirm(`Delete ${c.name}?`) && run(() => api(`/contacts/${c.contact_id}`, { method: "DELETE" }))}>delete</button>`
            : null}
        </td></tr>`)}</tbody>
    </table></div>
    <h2>Add a contact</h2>
    <form class="grid" aria-label="Add a contact" onSubmit=${(e) => {
      e.preventDefault();
      run(async () => {
        await api("/contacts", { method: "POST", json: form });
        setForm({ ...form, name: "", fax_number: "", company: "", email: "" });
      }, "Added.");
    }}>
      <${Field} label="Name" id=${ids.name}><input id=${ids.name} required value=${form.name} onInput=${(e) => setForm({ ...form, name: e.target.value })} /><//>
      <${Field} label="Fax number" id=${ids.number}><input id=${ids.number} inputmode="tel" value=${form.fax_number} onInput=${(e) => setForm({ ...form, fax_number: e.target.value })} /><//>
      <${Field} label="Company" id=${ids.company}><input id=${ids.company} value=${form.company} onInput=${(e) => setForm({ ...form, company: e.target.value })} /><//>
      <${Field} label="E-mail" id=${ids.email}><input id=${ids.email} type="email" value=${form.email} onInput=${(e) => setForm({ ...form, email: e.target.value })} /><//>
      ${shared
        ? html`<${Field} label="Address book" id=${ids.scope}><select id=${ids.scope} value=${form.scope} onChange=${(e) => setForm({ ...form, scope: e.target.value })}>
            <option value="personal">mine</option><option value="shared">shared (everyone's)</option></select><//>`
        : null}
      <div class="actions"><button type="submit">Add contact</button></div>
    </form>
    <h2>Distribution lists</h2>
    ${lists && lists.lists.length
      ? html`<ul id="lists">${lists.lists.map((l) => html`<li><strong>${l.name}</strong> (${l.scope}):
          ${l.members.map((m) => `${m.name || ""} ${m.fax_number}`.trim()).join(", ") || "empty"}
          <a class="button small secondary" href=${"#/send?to=" + encodeURIComponent("@" + l.name)}>fax</a>
          ${l.scope === "personal" || shared
            ? html` <button type="button" class="small danger" onClick=${() => confirm(`Delete the list ${l.name}?`) && run(() => api(`/contact-lists/${l.list_id}`, { method: "DELETE" }))}>delete</button>`
            : null}</li>`)}</ul>`
      : html`<p>No lists yet.</p>`}
    <form class="grid" aria-label="Add a list" onSubmit=${(e) => {
      e.preventDefault();
      const members = list.members.split(",").map((m) => m.trim()).filter(Boolean);
      run(async () => {
        await api("/contact-lists", { method: "POST", json: { name: list.name, members } });
        setList({ name: "", members: "" });
      }, "List added.");
    }}>
      <${Field} label="List name" id=${ids.lname}><input id=${ids.lname} required value=${list.name} onInput=${(e) => setList({ ...list, name: e.target.value })} /><//>
      <${Field} label="Members (contact names, comma separated)" id=${ids.lmembers} wide=${true}>
        <input id=${ids.lmembers} value=${list.members} onInput=${(e) => setList({ ...list, members: e.target.value })} />
      <//>
      <div class="actions"><button type="submit">Add list</button></div>
    </form>
  </section>`;
}

/** Contacts and lists as suggestions for a fax number field: [contacts, lists] or []. */
export function useAddressBook() {
  const [contacts] = useLoad(() => api("/contacts?limit=1000", { quiet: true }).catch(() => null), []);
  const [lists] = useLoad(() => api("/contact-lists?limit=1000", { quiet: true }).catch(() => null), []);
  return [(contacts && contacts.contacts) || [], (lists && lists.lists) || []];
}

// -- drafts -----------------------------------------------------------------------------------

export function DraftsPage() {
  const [drafts, error, reload] = useLoad(() => api("/drafts"), []);
  const [sending, setSending] = useState(null);
  const [number, setNumber] = useState("");
  const [problem, setProblem] = useState(null);
  const [done, setDone] = useState("");
  const nid = useId("draft-number");
  async function send(e) {
    e.preventDefault();
    setProblem(null);
    try {
      const r = await api(`/drafts/${sending}/send`, {
        method: "POST", json: { recipients: [{ recipient_number: number.trim() }] },
      });
      setDone(`Sent as job ${r.jobs.map((j) => j.job_id).join(", ")}.`);
      setSending(null);
      setNumber("");
      reload();
    } catch (err) {
      setProblem(err);
    }
  }
  async function remove(d) {
    if (!confirm(`Delete the draft ${d.document_name || d.draft_id}?`)) return;
    try {
      await api(`/drafts/${d.draft_id}`, { method: "DELETE" });
    } catch (err) {
      setProblem(err);
    }
    reload();
  }
  const list = (drafts && drafts.drafts) || [];
  return html`<section>
    <h1>Drafts</h1>
    <p class="hint">Documents printed to the lanfax fax printer without a fax number wait here
      until you give them one (see the desktop manual).</p>
    <${Problem} error=${error || problem} />
    ${done ? html`<${Notice}>${done} <a href="#/outbox">Outbox</a><//>` : null}
    ${drafts && !list.length ? html`<p id="no-drafts">No drafts.</p>` : null}
    ${list.length
      ? html`<div class="tablewrap"><table id="drafts-table">
          <thead><tr><th scope="col">Document</th><th scope="col">Printed</th><th scope="col">Kept until</th><th scope="col">Size</th><th scope="col">Actions</th></tr></thead>
          <tbody>${list.map((d) => html`<tr>
            <td><a href=${download(`/drafts/${d.draft_id}/document`)}>${d.document_name || "draft " + d.draft_id}</a></td>
            <td>${when(d.created_at)}</td><td>${when(d.expires_at)}</td><td>${Math.ceil(d.size / 1024)} KB</td>
            <td class="buttons"><button type="button" class="small" onClick=${() => setSending(d.draft_id)}>send…</button>
              <button type="button" class="small danger" onClick=${() => remove(d)}>delete</button></td></tr>`)}</tbody>
        </table></div>`
      : null}
    ${sending
      ? html`<form class="forward" onSubmit=${send} aria-label="Send the draft">
          <${Field} label=${`Fax draft ${sending} to (number or @contact)`} id=${nid}>
            <input id=${nid} required inputmode="tel" value=${number} onInput=${(e) => setNumber(e.target.value)} />
          <//>
          <button type="submit">Send</button>
          <button type="button" class="link" onClick=${() => setSending(null)}>cancel</button>
        </form>`
      : null}
  </section>`;
}

// -- outgoing routing (administrators) --------------------------------------------------------

export function OutRoutingPage() {
  const [groups, gError, reloadGroups] = useLoad(() => api("/outbound/groups"), []);
  const [rules, rError, reloadRules] = useLoad(() => api("/outbound/rules"), []);
  const [ports] = useLoad(() => api("/ports"), []);
  const [problem, setProblem] = useState(null);
  const [group, setGroup] = useState({ name: "", devices: [] });
  const [rule, setRule] = useState({ country_code: "", area_code: "*", target: "" });
  const [probe, setProbe] = useState("");
  const [route, setRoute] = useState(null);
  const ids = {
    gname: useId("group-name"), cc: useId("rule-country"), ac: useId("rule-area"),
    target: useId("rule-target"), probe: useId("route-number"),
  };
  const run = async (fn) => {
    setProblem(null);
    try {
      await fn();
    } catch (err) {
      setProblem(err);
    }
    reloadGroups();
    reloadRules();
  };
  const name = (id) => ((ports || []).find((p) => p.device_id === id) || {}).device_name || `device ${id}`;
  const targets = [
    ...((groups && groups.groups) || []).map((g) => ({ value: "group:" + g.name, label: "group " + g.name })),
    ...(ports || []).map((p) => ({ value: "device:" + p.device_id, label: p.device_name })),
  ];
  return html`<section>
    <h1>Outgoing routing</h1>
    <p class="hint">Which lines dial a number: the most specific rule (country and area code)
      names a device or a group; a group's devices are tried in order.</p>
    <${Problem} error=${gError || rError || problem} />
    <h2>Groups</h2>
    <div class="tablewrap"><table id="groups-table">
      <thead><tr><th scope="col">Group</th><th scope="col">Devices, in dialing order</th><th scope="col">Status</th><th scope="col">Actions</th></tr></thead>
      <tbody>${((groups && groups.groups) || []).map((g) => html`<tr><td>${g.name}</td>
        <td>${g.devices.map(name).join(", ") || "none (inactive)"}</td><td><${Status} value=${g.status} /></td>
        <td>${g.builtin ? "built in" : html`<button type="button" class="small danger" onClick=${() => run(() => api(`/outbound/groups/${encodeURIComponent(g.name)}`, { method: "DELETE" }))}>delete</button>`}</td></tr>`)}</tbody>
    </table></div>
    <form class="grid" aria-label="Add a group" onSubmit=${(e) => { e.preventDefault(); run(async () => { await api("/outbound/groups", { method: "POST", json: group }); setGroup({ name: "", devices: [] }); }); }}>
      <${Field} label="New group" id=${ids.gname}><input id=${ids.gname} required value=${group.name} onInput=${(e) => setGroup({ ...group, name: e.target.value })} /><//>
      <fieldset class="inline"><legend>Devices (in the order you tick them)</legend>
        ${(ports || []).map((p) => {
          const id = `group-dev-${p.device_id}`;
          return html`<div class="check"><input type="checkbox" id=${id} checked=${group.devices.includes(p.device_id)}
            onChange=${(e) => setGroup({ ...group, devices: e.target.checked ? [...group.devices, p.device_id] : group.devices.filter((d) => d !== p.device_id) })} />
            <label for=${id}>${p.device_name}</label></div>`;
        })}
      </fieldset>
      <div class="actions"><button type="submit">Add group</button></div>
    </form>
    <h2>Rules</h2>
    <div class="tablewrap"><table id="rules-table">
      <thead><tr><th scope="col">Country</th><th scope="col">Area</th><th scope="col">Goes to</th><th scope="col">Status</th><th scope="col">Actions</th></tr></thead>
      <tbody>${((rules && rules.rules) || []).map((r) => html`<tr><td>${r.country_code}</td><td>${r.area_code}</td>
        <td>${r.group ? "group " + r.group : name(r.device)}</td><td><${Status} value=${r.status} /></td>
        <td>${r.default ? "default" : html`<button type="button" class="small danger" onClick=${() => run(() => api(`/outbound/rules/${encodeURIComponent(r.country_code)}/${encodeURIComponent(r.area_code)}`, { method: "DELETE" }))}>delete</button>`}</td></tr>`)}</tbody>
    </table></div>
    <form class="grid" aria-label="Add a rule" onSubmit=${(e) => {
      e.preventDefault();
      const [kind, value] = rule.target.split(":");
      const body = { country_code: rule.country_code, area_code: rule.area_code };
      body[kind] = kind === "device" ? Number(value) : value;
      run(() => api("/outbound/rules", { method: "POST", json: body }));
    }}>
      <${Field} label="Country code (* for all)" id=${ids.cc}><input id=${ids.cc} required value=${rule.country_code} onInput=${(e) => setRule({ ...rule, country_code: e.target.value })} /><//>
      <${Field} label="Area code (* for all)" id=${ids.ac}><input id=${ids.ac} required value=${rule.area_code} onInput=${(e) => setRule({ ...rule, area_code: e.target.value })} /><//>
      <${Field} label="Goes to" id=${ids.target}><select id=${ids.target} required value=${rule.target} onChange=${(e) => setRule({ ...rule, target: e.target.value })}>
        <option value="">(choose)</option>${targets.map((t) => html`<option value=${t.value}>${t.label}</option>`)}</select><//>
      <div class="actions"><button type="submit">Add rule</button></div>
    </form>
    <h2>Where would a number go?</h2>
    <form class="grid" aria-label="Try a number" onSubmit=${async (e) => {
      e.preventDefault();
      setProblem(null);
      try {
        setRoute(await api(`/outbound/route?number=${encodeURIComponent(probe)}`));
      } catch (err) {
        setProblem(err);
      }
    }}>
      <${Field} label="Fax number" id=${ids.probe}><input id=${ids.probe} required inputmode="tel" value=${probe} onInput=${(e) => setProbe(e.target.value)} /><//>
      <div class="actions"><button type="submit">Show the route</button></div>
    </form>
    ${route ? html`<p id="route-result">${route.number}: ${route.rule.description}; dialled on ${route.devices.map(name).join(", then ") || "no line"}.</p>` : null}
  </section>`;
}

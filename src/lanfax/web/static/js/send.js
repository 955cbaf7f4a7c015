// Send a fax: files (picker or drag and drop), recipients, cover page with a preview of the
// real fax pages (rendered by the server: POST /api/v1/preview), schedule, priority.
// POST /api/v1/jobs submits; an error is shown beside the field it concerns.

import { html } from "htm/preact";
import { useState } from "preact/hooks";
import { api, fieldOf } from "./api.js";
import { Field, Notice, go, hashQuery, useId, useLoad } from "./ui.js";
import { useAddressBook } from "./more.js";

const blankRecipient = () => ({ number: "", name: "" });

export function SendPage({ who }) {
  const held = new Set(who.rights);
  const [files, setFiles] = useState([]);
  const [recipients, setRecipients] = useState(() => {
    const to = hashQuery().get("to");
    return [to ? { number: to, name: "" } : blankRecipient()];
  });
  const [contacts, lists] = useAddressBook();
  const [cover, setCover] = useState({ on: false, template: "server/default", subject: "", note: "" });
  const [sender, setSender] = useState({ name: who.user, company: "" });
  const [schedule, setSchedule] = useState({ action: "now", time: "" });
  const [priority, setPriority] = useState("normal");
  const [resolution, setResolution] = useState("fine");
  const [errors, setErrors] = useState({});
  const [preview, setPreview] = useState(null);
  const [busy, setBusy] = useState("");
  const [drag, setDrag] = useState(false);
  const [templates] = useLoad(() => api("/covers"), []);
  const ids = {
    files: useId("send-files"),
    number: useId("send-number"),
    cover: useId("send-cover"),
    template: useId("send-template"),
    subject: useId("send-subject"),
    note: useId("send-note"),
    sender: useId("send-sender"),
    company: useId("send-company"),
    schedule: useId("send-schedule"),
    time: useId("send-time"),
    priority: useId("send-priority"),
    resolution: useId("send-resolution"),
  };

  function addFiles(list) {
    setFiles((old) => [...old, ...Array.from(list)]);
    setPreview(null);
    setErrors((e) => ({ ...e, files: null }));
  }

  function params() {
    const recs = recipients
      .filter((r) => r.number.trim())
      .map((r) => ({ recipient_number: r.number.trim(), recipient_name: r.name.trim() }));
    const p = {
      recipients: recs,
      priority,
      resolution,
      schedule_action: schedule.action,
      schedule_time:
        schedule.action === "specific_time" && schedule.time
          ? new Date(schedule.time).toISOString()
          : null,
      sender_name: sender.name.trim(),
      sender_company: sender.company.trim(),
      document_name: files.length ? files[0].name : "",
    };
    if (cover.on) {
      const [scope, name] = cover.template.split("/");
      p.cover_page = {
        cover_page_name: name === "default" ? "" : name,
        use_server_cover_page: scope === "server",
        subject: cover.subject,
        note: cover.note,
      };
    }
    return p;
  }

  function formData(p) {
    const form = new FormData();
    form.append("params", JSON.stringify(p));
    for (const f of files) form.append("file", f, f.name);
    return form;
  }

  function check(forSending) {
    const e = {};
    if (!files.length && (forSending || !cover.on)) e.files = "Add the document to fax.";
    if (forSending && !recipients.some((r) => r.number.trim())) {
      e.recipients = "Give at least one fax number.";
    }
    if (schedule.action === "specific_time" && !schedule.time) e.schedule = "Pick the time.";
    setErrors(e);
    return Object.keys(e).length === 0;
  }

  function showError(err) {
    const field = fieldOf(err);
    const text = err.hint ? `${err.message} (${err.hint})` : err.message;
    setErrors({ [field]: text });
  }

  async function doPreview() {
    if (!check(false)) return;
    setBusy("preview");
    try {
      setPreview(await api("/preview", { method: "POST", form: formData(params()) }));
    } catch (err) {
      showError(err);
    } finally {
      setBusy("");
    }
  }

  async function send(e) {
    e.preventDefault();
    if (!check(true)) return;
    setBusy("send");
    try {
      const result = await api("/jobs", { method: "POST", form: formData(params()) });
      sessionStorage.setItem(
        "lanfax-sent",
        `Queued ${result.jobs.length} fax(es): job ${result.jobs.map((j) => j.job_id).join(", ")}.`,
      );
      go("outbox");
    } catch (err) {
      showError(err);
    } finally {
      setBusy("");
    }
  }

  const setRec = (i, k, v) =>
    setRecipients((rs) => rs.map((r, j) => (j === i ? { ...r, [k]: v } : r)));

  return html`<section>
    <h1>Send a fax</h1>
    <form onSubmit=${send} id="send-form" aria-label="Send a fax" novalidate>
      ${errors.form ? html`<div class="notice bad" role="alert" id="send-error">${errors.form}</div>` : null}
      <fieldset>
        <legend>Document</legend>
        <div
          class=${"dropzone" + (drag ? " over" : "")}
          onDragOver=${(e) => {
            e.preventDefault();
            setDrag(true);
          }}
          onDragLeave=${() => setDrag(false)}
          onDrop=${(e) => {
            e.preventDefault();
            setDrag(false);
            addFiles(e.dataTransfer.files);
          }}
        >
          <${Field} label="Files (PDF, images, text, office documents…)" id=${ids.files} error=${errors.files}>
            <input id=${ids.files} type="file" multiple aria-describedby=${errors.files ? ids.files + "-error" : null}
              onChange=${(e) => { addFiles(e.target.files); e.target.value = ""; }} />
          <//>
          <p class="hint">…or drop files here. They are sent in this order.</p>
          ${files.length
            ? html`<ol class="files" aria-label="Chosen files">
                ${files.map(
                  (f, i) => html`<li>${f.name} <small>(${Math.ceil(f.size / 1024)} KB)</small>
                    <button type="button" class="link" aria-label=${"Remove " + f.name}
                      onClick=${() => { setFiles(files.filter((_, j) => j !== i)); setPreview(null); }}>remove</button></li>`,
                )}
              </ol>`
            : null}
        </div>
      </fieldset>

      <fieldset>
        <legend>Recipients</legend>
        ${recipients.map(
          (r, i) => html`<div class="row recipient">
            <div class="field">
              <label for=${i === 0 ? ids.number : ids.number + "-" + i}>Fax number ${i + 1}</label>
              <input id=${i === 0 ? ids.number : ids.number + "-" + i} name="recipient_number" list="address-book"
                value=${r.number} onInput=${(e) => setRec(i, "number", e.target.value)}
                aria-invalid=${errors.recipients ? "true" : null} />
            </div>
            <div class="field">
              <label for=${ids.number + "-name-" + i}>Name</label>
              <input id=${ids.number + "-name-" + i} name="recipient_name" value=${r.name}
                onInput=${(e) => setRec(i, "name", e.target.value)} />
            </div>
            ${recipients.length > 1
              ? html`<button type="button" class="link" aria-label=${"Remove recipient " + (i + 1)}
                  onClick=${() => setRecipients(recipients.filter((_, j) => j !== i))}>remove</button>`
              : null}
          </div>`,
        )}
        ${errors.recipients
          ? html`<p class="error" role="alert" data-field-error="recipients">${errors.recipients}</p>`
          : null}
        <datalist id="address-book">
          ${contacts.filter((c) => c.fax_number).map((c) => html`<option value=${"@" + c.name}>${c.name}: ${c.fax_number}</option>`)}
          ${lists.map((l) => html`<option value=${"@" + l.name}>list ${l.name} (${l.members.length})</option>`)}
        </datalist>
        <p class="hint">A number, or @name for a contact or a distribution list of your address book.</p>
        <button type="button" class="secondary" onClick=${() => setRecipients([...recipients, blankRecipient()])}>
          Add a recipient
        </button>
      </fieldset>

      <fieldset>
        <legend>Cover page</legend>
        <div class="check">
          <input type="checkbox" id=${ids.cover} checked=${cover.on}
            onChange=${(e) => { setCover({ ...cover, on: e.target.checked }); setPreview(null); }} />
          <label for=${ids.cover}>Put a cover page in front</label>
        </div>
        ${cover.on
          ? html`<div class="grid">
              <${Field} label="Template" id=${ids.template} error=${errors.cover}>
                <select id=${ids.template} value=${cover.template}
                  onChange=${(e) => setCover({ ...cover, template: e.target.value })}>
                  ${((templates && templates.templates) || [{ name: "default", scope: "server" }]).map(
                    (t) => html`<option value=${t.scope + "/" + t.name}>${t.name} (${t.scope})</option>`,
                  )}
                </select>
              <//>
              <${Field} label="Subject" id=${ids.subject}>
                <input id=${ids.subject} value=${cover.subject}
                  onInput=${(e) => setCover({ ...cover, subject: e.target.value })} />
              <//>
              <${Field} label="Note" id=${ids.note} wide=${true}>
                <textarea id=${ids.note} rows="3" value=${cover.note}
                  onInput=${(e) => setCover({ ...cover, note: e.target.value })}></textarea>
              <//>
              <${Field} label="From (your name)" id=${ids.sender}>
                <input id=${ids.sender} value=${sender.name}
                  onInput=${(e) => setSender({ ...sender, name: e.target.value })} />
              <//>
              <${Field} label="Company" id=${ids.company}>
                <input id=${ids.company} value=${sender.company}
                  onInput=${(e) => setSender({ ...sender, company: e.target.value })} />
              <//>
            </div>`
          : null}
      </fieldset>

      <fieldset>
        <legend>When and how</legend>
        <div class="grid">
          <${Field} label="Send" id=${ids.schedule} error=${errors.schedule}>
            <select id=${ids.schedule} value=${schedule.action}
              onChange=${(e) => setSchedule({ ...schedule, action: e.target.value })}>
              <option value="now">now</option>
              <option value="specific_time">at a time</option>
              <option value="discount_period">in the discount period</option>
            </select>
          <//>
          ${schedule.action === "specific_time"
            ? html`<${Field} label="Time" id=${ids.time}>
                <input id=${ids.time} type="datetime-local" value=${schedule.time}
                  onInput=${(e) => setSchedule({ ...schedule, time: e.target.value })} />
              <//>`
            : null}
          <${Field} label="Priority" id=${ids.priority} error=${errors.priority}>
            <select id=${ids.priority} value=${priority} onChange=${(e) => setPriority(e.target.value)}>
              <option value="low" disabled=${!held.has("submit_low")}>low</option>
              <option value="normal" disabled=${!held.has("submit_normal")}>normal</option>
              <option value="high" disabled=${!held.has("submit_high")}>
                high${held.has("submit_high") ? "" : " (not allowed for you)"}
              </option>
            </select>
          <//>
          <${Field} label="Resolution" id=${ids.resolution}>
            <select id=${ids.resolution} value=${resolution} onChange=${(e) => { setResolution(e.target.value); setPreview(null); }}>
              <option value="fine">fine (204×196 dpi)</option>
              <option value="standard">standard (204×98 dpi)</option>
            </select>
          <//>
        </div>
      </fieldset>

      <div class="actions">
        <button type="button" class="secondary" id="preview-button" onClick=${doPreview} disabled=${!!busy}>
          ${busy === "preview" ? "Rendering…" : "Preview the fax pages"}
        </button>
        <button type="submit" id="send-button" disabled=${!!busy}>${busy === "send" ? "Sending…" : "Send"}</button>
      </div>
    </form>
    ${preview
      ? html`<section class="preview" aria-label="Preview" id="preview">
          <h2>Preview: ${preview.pages} page(s) as the recipient gets them</h2>
          ${preview.shown < preview.pages
            ? html`<${Notice} kind="info">The first ${preview.shown} pages are shown.<//>`
            : null}
          <div class="pages">
            ${preview.images.map(
              (src, i) => html`<figure><img src=${src} alt=${"Preview of page " + (i + 1)} />
                <figcaption>page ${i + 1}</figcaption></figure>`,
            )}
          </div>
        </section>`
      : null}
  </section>`;
}

// The lanfax console: log in, then the user's pages and, for those who may manage the
// server, the administrator's. Every right is enforced by the server; the menu only hides
// what the server would refuse.

import { html, render } from "htm/preact";
import { useEffect, useState } from "preact/hooks";
import { api, setCsrf, whenLoggedOut } from "./api.js";
import { closeStream, onStreamState, openStream, streamState } from "./events.js";
import { Field, go, useId, useRoute } from "./ui.js";
import { SendPage } from "./send.js";
import { OutboxPage, IncomingPage } from "./outbox.js";
import { ArchivePage } from "./archive.js";
import { ContactsPage, DraftsPage, OutRoutingPage } from "./more.js";
import {
  ActivityPage,
  CoversPage,
  DevicesPage,
  RoutingPage,
  SecurityPage,
  ServerPage,
} from "./admin.js";

const USER_PAGES = [
  { path: "send", label: "Send a fax", right: "job_submit" },
  { path: "outbox", label: "Outbox" },
  { path: "drafts", label: "Drafts", right: "job_submit" },
  { path: "inbox", label: "Inbox" },
  { path: "sent", label: "Sent Items" },
  { path: "incoming", label: "Incoming" },
  { path: "contacts", label: "Contacts" },
];
const ADMIN_PAGES = [
  { path: "admin/server", label: "Server" },
  { path: "admin/devices", label: "Devices" },
  { path: "admin/routing", label: "Incoming routing" },
  { path: "admin/outrouting", label: "Outgoing routing" },
  { path: "admin/covers", label: "Cover pages" },
  { path: "admin/security", label: "Security" },
  { path: "admin/activity", label: "Activity" },
];

function Login({ onLogin, message }) {
  const [user, setUser] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const uid = useId("login-user");
  const pid = useId("login-password");
  async function submit(e) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const who = await api("/session", { method: "POST", json: { user, password }, quiet: true });
      setPassword("");
      onLogin(who);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return html`<main class="login">
    <h1>lanfax</h1>
    <form onSubmit=${submit} aria-label="Log in" id="login-form">
      ${message ? html`<p class="notice">${message}</p>` : null}
      <${Field} label="User" id=${uid}>
        <input id=${uid} name="user" autocomplete="username" required value=${user}
          onInput=${(e) => setUser(e.target.value)} autofocus />
      <//>
      <${Field} label="Password (or an API token)" id=${pid}>
        <input id=${pid} name="password" type="password" autocomplete="current-password" required
          value=${password} onInput=${(e) => setPassword(e.target.value)} />
      <//>
      ${error ? html`<p class="error" role="alert" id="login-error">${error.message}</p>` : null}
      <button type="submit" disabled=${busy}>Log in</button>
    </form>
  </main>`;
}

function StreamBadge() {
  const [state, setState] = useState(streamState());
  useEffect(() => onStreamState(setState), []);
  return html`<span class=${"stream " + state} title="the event stream">${
    state === "live" ? "live" : state
  }</span>`;
}

function Nav({ who, route, onLogout }) {
  const held = new Set(who.rights);
  const here = route.join("/");
  const link = (p) =>
    !p.right || held.has(p.right)
      ? html`<li><a href=${"#/" + p.path}
          aria-current=${here === p.path || here.startsWith(p.path + "/") ? "page" : null}>${p.label}</a></li>`
      : null;
  const admin = held.has("manage_config");
  return html`<nav aria-label="Console">
    <div class="brand">lanfax <${StreamBadge} /></div>
    <ul>${USER_PAGES.map(link)}</ul>
    ${admin
      ? html`<h2 class="navhead">Administration</h2>
          <ul id="admin-nav">${ADMIN_PAGES.map(link)}</ul>`
      : null}
    <div class="who">
      <span>${who.user} (${who.role})</span>
      ${who.authentication !== false
        ? html`<button type="button" class="link" onClick=${onLogout} id="logout">Log out</button>`
        : null}
    </div>
  </nav>`;
}

function Page({ route, who }) {
  const [head, arg, more] = route;
  if (head === "admin") {
    if (!who.rights.includes("manage_config")) {
      return html`<p class="notice bad">This page is for administrators.</p>`;
    }
    const pages = {
      server: ServerPage,
      devices: DevicesPage,
      routing: RoutingPage,
      outrouting: OutRoutingPage,
      covers: CoversPage,
      security: SecurityPage,
      activity: ActivityPage,
    };
    const P = pages[arg] || ServerPage;
    return html`<${P} who=${who} />`;
  }
  switch (head) {
    case "send":
      return html`<${SendPage} who=${who} />`;
    case "inbox":
      return html`<${ArchivePage} who=${who} direction="incoming" id=${arg} page=${more} />`;
    case "sent":
      return html`<${ArchivePage} who=${who} direction="outgoing" id=${arg} page=${more} />`;
    case "incoming":
      return html`<${IncomingPage} who=${who} />`;
    case "drafts":
      return html`<${DraftsPage} who=${who} />`;
    case "contacts":
      return html`<${ContactsPage} who=${who} />`;
    case "outbox":
    default:
      return html`<${OutboxPage} who=${who} id=${head === "outbox" ? arg : undefined} />`;
  }
}

function App() {
  const [who, setWho] = useState(undefined);
  const [message, setMessage] = useState("");
  const route = useRoute();
  useEffect(() => {
    whenLoggedOut((err) => {
      closeStream();
      setCsrf(null);
      setMessage(err.message);
      setWho(null);
    });
    api("/session", { quiet: true }).then(
      (w) => {
        setCsrf(w.csrf_token);
        setWho(w);
      },
      () => setWho(null),
    );
  }, []);
  useEffect(() => {
    if (who) {
      openStream();
      const title = document.querySelector("main h1");
      document.title = `${title ? title.textContent + " – " : ""}lanfax`;
    }
  }, [who, route.join("/")]);
  if (who === undefined) return html`<p class="loading">Loading…</p>`;
  if (who === null) {
    return html`<${Login}
      message=${message}
      onLogin=${(w) => {
        setCsrf(w.csrf_token);
        setMessage("");
        setWho(w);
        if (!location.hash) go(w.rights.includes("job_submit") ? "send" : "outbox");
      }}
    />`;
  }
  async function logout() {
    try {
      await api("/session", { method: "DELETE" });
    } finally {
      closeStream();
      setCsrf(null);
      setMessage("You are logged out.");
      setWho(null);
    }
  }
  return html`<div class="shell">
    <a class="skip" href="#content">Skip to the page</a>
    <${Nav} who=${who} route=${route} onLogout=${logout} />
    <main id="content" tabindex="-1"><${Page} route=${route} who=${who} /></main>
  </div>`;
}

render(html`<${App} />`, document.getElementById("app"));

// One event stream (server-sent events, GET /api/v1/events) shared by every page: pages
// subscribe to it and refetch what an event names. No polling: the browser's EventSource
// reconnects by itself and sends Last-Event-ID, so nothing is missed across a reconnect.

import { api, API } from "./api.js";

const listeners = new Set();
let source = null;
let state = "closed";
const stateListeners = new Set();

function setState(s) {
  state = s;
  for (const fn of stateListeners) fn(s);
}

export function streamState() {
  return state;
}

export function onStreamState(fn) {
  stateListeners.add(fn);
  return () => stateListeners.delete(fn);
}

const NAMES = [
  "dialing", "sending", "receiving", "completed", "busy", "no_answer", "bad_address",
  "no_dial_tone", "disconnected", "fatal_error", "not_fax_call", "call_delayed",
  "call_blacklisted", "ringing", "aborting", "routing", "modem_powered_on",
  "modem_powered_off", "idle", "faxsvc_ended", "answered", "job_queued", "deleted",
  "initializing", "line_unavailable", "handled", "faxsvc_started", "job_changed",
  "config_changed", "port_changed",
];

export async function openStream() {
  if (source) return;
  let after = 0;
  try {
    const info = await api("/server");
    after = info.last_event_seq || 0;
  } catch (e) {
    after = 0;
  }
  source = new EventSource(`${API}/events?after=${after}`, { withCredentials: true });
  setState("connecting");
  source.onopen = () => setState("live");
  source.onerror = () => setState(source && source.readyState === 2 ? "closed" : "reconnecting");
  const deliver = (msg) => {
    let ev;
    try {
      ev = JSON.parse(msg.data);
    } catch (e) {
      return;
    }
    for (const fn of listeners) fn(ev);
  };
  for (const name of NAMES) source.addEventListener(name, deliver);
}

export function closeStream() {
  if (source) source.close();
  source = null;
  setState("closed");
}

/** Call `fn(event)` for every event from now on; returns the function that stops it. */
export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/**
 * Call `fn(batch)` for events that name jobs, batched: `batch` maps each job id to
 * "changed" or "deleted", at most once every `ms` milliseconds. A busy server sends many
 * events per job (every page); the pages refetch each job once per batch, not per event.
 */
export function subscribeJobs(fn, ms = 250) {
  let pending = new Map();
  let timer = null;
  const stop = subscribe((ev) => {
    if (!ev.job_id || ev.job_id === 4294967295) return;
    const was = pending.get(ev.job_id);
    pending.set(ev.job_id, ev.event === "deleted" || was === "deleted" ? "deleted" : "changed");
    if (!timer) {
      timer = setTimeout(() => {
        const batch = pending;
        pending = new Map();
        timer = null;
        fn(batch);
      }, ms);
    }
  });
  return () => {
    stop();
    if (timer) clearTimeout(timer);
  };
}

/** `fn`, run at most once every `ms` milliseconds however often the result is called. */
export function throttled(fn, ms = 300) {
  let timer = null;
  return () => {
    if (!timer) {
      timer = setTimeout(() => {
        timer = null;
        fn();
      }, ms);
    }
  };
}

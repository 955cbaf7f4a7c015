// Small shared pieces: a labelled field with its error, notices, the hash router.

import { html } from "htm/preact";
import { useEffect, useState } from "preact/hooks";

let idCounter = 0;
export function useId(prefix) {
  const [id] = useState(() => `${prefix}-${++idCounter}`);
  return id;
}

/** A labelled control; `error` is shown beside it and announced to screen readers. */
export function Field({ label, id, error, hint, children, wide }) {
  return html`<div class=${"field" + (error ? " has-error" : "") + (wide ? " wide" : "")}>
    <label for=${id}>${label}</label>
    ${children}
    ${hint && !error ? html`<small class="hint">${hint}</small>` : null}
    ${error
      ? html`<p class="error" id=${id + "-error"} role="alert" data-field-error=${id}>${error}</p>`
      : null}
  </div>`;
}

/** An API error as a notice: what went wrong and what to do. */
export function Problem({ error }) {
  if (!error) return null;
  return html`<div class="notice bad" role="alert">
    <strong>${error.message}</strong>${error.hint ? html`<br /><span>${error.hint}</span>` : null}
  </div>`;
}

export function Notice({ kind = "ok", children }) {
  return html`<div class=${"notice " + kind} role="status">${children}</div>`;
}

/** The current hash route as a list of parts: "#/inbox/3" -> ["inbox", "3"]. */
export function useRoute() {
  // "#/send?to=@Bob" -> ["send"]; the query is read by the page (hashQuery).
  const parse = () => (location.hash.replace(/^#\/?/, "").split("?")[0] || "").split("/").filter(Boolean);
  const [route, setRoute] = useState(parse);
  useEffect(() => {
    const on = () => setRoute(parse());
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}

/** The query of the hash route: "#/send?to=@Bob" -> URLSearchParams("to=@Bob"). */
export function hashQuery() {
  return new URLSearchParams(location.hash.split("?")[1] || "");
}

export function go(path) {
  location.hash = "#/" + path;
}

/** Load something once (and again when `deps` change): [value, error, reload]. */
export function useLoad(fn, deps = []) {
  const [state, setState] = useState({ value: undefined, error: null });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    fn().then(
      (value) => live && setState({ value, error: null }),
      (error) => live && setState({ value: undefined, error }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return [state.value, state.error, () => setTick((t) => t + 1)];
}

export function Status({ value }) {
  return html`<span class=${"status s-" + value}>${(value || "").replace(/_/g, " ")}</span>`;
}

// Routing in the browser with the History API (the server answers every non-API path with the app).
// Hand-written: the routers for Preact on npm (wouter-preact, preact-iso) ask for Preact 10.

import { useEffect, useState } from "preact/hooks";
import { store } from "./store";

const location = store<string>(window.location.pathname + window.location.search);

window.addEventListener("popstate", () => location.set(window.location.pathname + window.location.search));

export function navigate(to: string, replace = false): void {
  if (to === location.get()) return;
  if (replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  location.set(to);
  window.scrollTo(0, 0);
}

export function useLocation(): { path: string; params: URLSearchParams } {
  const [value, setValue] = useState(location.get());
  useEffect(() => location.subscribe(setValue), []);
  const [path = "/", search = ""] = value.split("?");
  return { path, params: new URLSearchParams(search) };
}

// `/deployments/:namespace/:name` against a path: the decoded parameters, or null.
export function match(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split("/").filter(Boolean);
  const got = path.split("/").filter(Boolean);
  if (want.length !== got.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i] as string;
    const g = got[i] as string;
    if (w.startsWith(":")) params[w.slice(1)] = decodeURIComponent(g);
    else if (w !== g) return null;
  }
  return params;
}

// Same-origin links navigate in place; modified clicks (new tab) keep the browser's behaviour.
export function onLinkClick(event: MouseEvent): void {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const anchor = (event.target as Element | null)?.closest?.("a");
  if (!anchor || anchor.target || anchor.hasAttribute("download")) return;
  const url = new URL(anchor.href, window.location.href);
  if (url.origin !== window.location.origin || url.pathname.startsWith("/api")) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
}

export const detailsPath = (namespace: string, name: string): string =>
  `/deployments/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;

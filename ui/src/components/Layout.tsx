// The frame of every page: skip link, navigation, who is signed in, the cluster banner, the main region.

import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";
import { get, token } from "../api/client";
import type { ClusterStatus, WhoAmI } from "../api/types";
import { cluster, setClusterUp } from "../lib/session";
import { useStore } from "../lib/store";

const NAV = [
  { href: "/models", label: "Models" },
  { href: "/deploy", label: "Deploy" },
  { href: "/deployments", label: "Deployments" },
  { href: "/providers", label: "Providers" },
  { href: "/settings", label: "Settings" },
];

const RECHECK_MS = 2000;

// While the cluster is down, ask the API every few seconds whether it is back; then every page reloads.
function ClusterBanner() {
  const state = useStore(cluster);
  useEffect(() => {
    if (!state.down) return undefined;
    const timer = setInterval(() => {
      get<ClusterStatus>("/cluster/status").then(
        (status) => status.connected && setClusterUp(),
        () => undefined,
      );
    }, RECHECK_MS);
    return () => clearInterval(timer);
  }, [state.down]);
  return (
    <div class="banner-slot" role="status" aria-live="polite">
      {state.down ? (
        <div class="banner banner-bad">
          <strong>The Kubernetes cluster cannot be reached.</strong> KubeFoundry keeps trying and this page
          recovers by itself when it is back. <span class="muted-inverse">({state.message})</span>
        </div>
      ) : null}
    </div>
  );
}

export function Layout({ path, user, children }: { path: string; user: WhoAmI | null; children: ComponentChildren }) {
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);
  // After a navigation, move focus to the new page's content so screen readers announce it.
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    main.current?.focus();
  }, [path]);
  const section = "/" + (path.split("/")[1] ?? "");
  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a href="/models" class="brand" aria-label="KubeFoundry home">
          <img src="/favicon.svg" alt="" width="24" height="24" />
          <span>KubeFoundry</span>
        </a>
        <nav aria-label="Main">
          <ul>
            {NAV.map((item) => (
              <li key={item.href}>
                <a href={item.href} aria-current={section === item.href ? "page" : undefined}>
                  {item.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        {user?.authEnabled ? (
          <div class="user">
            <span title={user.groups.join(", ")}>
              Signed in as <strong>{user.username}</strong>
            </span>
            <button
              type="button"
              class="btn btn-small"
              onClick={() => {
                token.clear();
                window.location.assign("/");
              }}
            >
              Sign out
            </button>
          </div>
        ) : null}
      </header>
      <ClusterBanner />
      <main id="main" ref={main} tabIndex={-1}>
        {children}
      </main>
    </div>
  );
}

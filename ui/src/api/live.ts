// The live deployment list: GET /api/deployments/events (server-sent events) read with fetch, so that the
// Authorization header can be sent (EventSource cannot). On a dropped stream it reconnects with
// Last-Event-ID and gets what it missed, or a fresh snapshot.

import { ApiError, authHeaders, errorFrom, query, report } from "./client";
import type { DeploymentSummary } from "./types";
import { setClusterDown, setClusterUp } from "../lib/session";
import { store } from "../lib/store";

export interface LiveList {
  // null until the first snapshot arrived
  items: Map<string, DeploymentSummary> | null;
  error: ApiError | null;
  connected: boolean;
  // Bumped on every change: cheap for components to compare.
  version: number;
}

export const keyOf = (d: { namespace: string; name: string }): string => `${d.namespace}/${d.name}`;

export interface SseEvent {
  event: string;
  data: string;
  id: string | null;
}

// Parses the complete events in `buffer`; returns them and the unfinished rest (the SSE wire format).
export function parseSse(buffer: string): { events: SseEvent[]; rest: string } {
  const events: SseEvent[] = [];
  const blocks = buffer.split(/\r?\n\r?\n/);
  const rest = blocks.pop() ?? "";
  for (const block of blocks) {
    let event = "message";
    let id: string | null = null;
    const data: string[] = [];
    for (const line of block.split(/\r?\n/)) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
      else if (field === "id") id = value;
    }
    if (data.length) events.push({ event, data: data.join("\n"), id });
  }
  return { events, rest };
}

export class DeploymentStream {
  readonly state = store<LiveList>({ items: null, error: null, connected: false, version: 0 });
  private lastId: string | null = null;
  private controller: AbortController | null = null;
  private namespace: string | null;
  private users = 0;

  constructor(namespace: string | null = null) {
    this.namespace = namespace;
  }

  // Reference-counted: the stream runs while a page uses it.
  acquire(): () => void {
    this.users += 1;
    if (this.users === 1) this.start();
    return () => {
      this.users -= 1;
      if (this.users === 0) this.stop();
    };
  }

  setNamespace(namespace: string | null): void {
    if (namespace === this.namespace) return;
    this.namespace = namespace;
    this.lastId = null;
    this.state.set({ items: null, error: null, connected: false, version: this.state.get().version + 1 });
    if (this.controller) {
      this.stop();
      this.start();
    }
  }

  restart(): void {
    if (!this.controller) return;
    this.stop();
    this.start();
  }

  private start(): void {
    const controller = new AbortController();
    this.controller = controller;
    void this.run(controller.signal);
  }

  private stop(): void {
    this.controller?.abort();
    this.controller = null;
  }

  private update(change: Partial<LiveList>): void {
    const current = this.state.get();
    this.state.set({ ...current, ...change, version: current.version + 1 });
  }

  private async run(signal: AbortSignal): Promise<void> {
    let delay = 500;
    while (!signal.aborted) {
      try {
        const headers: Record<string, string> = { Accept: "text/event-stream", ...authHeaders() };
        if (this.lastId) headers["Last-Event-ID"] = this.lastId;
        performance.mark("kubefoundry:stream-open");
        const response = await fetch(`/api/deployments/events${query({ namespace: this.namespace })}`, { headers, signal });
        if (!response.ok || !response.body) {
          const error = await errorFrom(response);
          report(error);
          this.update({ error, connected: false });
          // Refused for good (no token, no right): wait for the user, do not hammer the server.
          if (error.status === 401 || error.status === 403 || error.status === 400) return;
        } else {
          delay = 500;
          await this.read(response.body, signal);
        }
      } catch (e) {
        if (signal.aborted) return;
        this.update({
          error: new ApiError(0, "NETWORK_ERROR", "The KubeFoundry API server cannot be reached (is it running?)"),
          connected: false,
        });
        void e;
      }
      if (signal.aborted) return;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 5000);
    }
  }

  private async read(body: ReadableStream<Uint8Array>, signal: AbortSignal): Promise<void> {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      while (!signal.aborted) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        const parsed = parseSse(buffer);
        buffer = parsed.rest;
        if (parsed.events.length) this.apply(parsed.events);
      }
    } finally {
      reader.releaseLock();
    }
  }

  // Applies one network chunk's events at once, so a burst of changes renders once.
  private apply(events: SseEvent[]): void {
    const current = this.state.get();
    let items = current.items;
    let connected = current.connected || current.items === null;
    let changed = false;
    for (const e of events) {
      const data = JSON.parse(e.data) as Record<string, unknown>;
      if (e.event === "snapshot") {
        performance.mark("kubefoundry:snapshot"); // read by tests/bench/bench_ui.py
        items = new Map((data.deployments as DeploymentSummary[]).map((d) => [keyOf(d), d]));
        connected = true;
        changed = true;
      } else if (e.event === "upsert" && items) {
        const d = data.deployment as DeploymentSummary;
        if (!changed) items = new Map(items);
        items.set(keyOf(d), d);
        changed = true;
      } else if (e.event === "delete" && items) {
        if (!changed) items = new Map(items);
        items.delete(keyOf(data as { namespace: string; name: string }));
        changed = true;
      } else if (e.event === "status") {
        connected = data.connected === true;
        if (connected) setClusterUp();
        else setClusterDown(String(data.message ?? "The Kubernetes API cannot be reached"));
      }
      if (e.id) this.lastId = e.id;
    }
    if (changed || connected !== current.connected || current.error) this.update({ items, connected, error: null });
  }
}

// One stream for the whole app (every page that lists deployments shares it).
export const deployments = new DeploymentStream();

// App-wide state every page shares: is a token needed, is the cluster reachable.

import { store } from "./store";

export interface ClusterState {
  down: boolean;
  message: string | null;
  // Bumped each time the cluster comes back: pages reload what they show.
  recoveries: number;
}

export const cluster = store<ClusterState>({ down: false, message: null, recoveries: 0 });
export const authRequired = store<string | null>(null);

export function setClusterDown(message: string): void {
  const current = cluster.get();
  if (!current.down || current.message !== message) cluster.set({ ...current, down: true, message });
}

export function setClusterUp(): void {
  const current = cluster.get();
  if (current.down) cluster.set({ down: false, message: null, recoveries: current.recoveries + 1 });
}

export function setAuthRequired(message: string | null): void {
  authRequired.set(message);
}

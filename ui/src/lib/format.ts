// Small formatting helpers.

import { useEffect, useState } from "preact/hooks";

export function age(timestamp: string | null | undefined, now: number = Date.now()): string {
  if (!timestamp) return "–";
  const then = Date.parse(timestamp);
  if (Number.isNaN(then)) return "–";
  const s = Math.max(0, Math.round((now - then) / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${m % 60 ? `${m % 60}m` : ""}`;
  return `${Math.floor(h / 24)}d`;
}

// Re-renders the caller every `ms`, for ages that move.
export function useNow(ms = 15000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

export function gib(mib: number | null): string {
  return mib === null ? "unknown" : `${Math.round(mib / 1024)} GB`;
}

// A DNS label from a model id: `Qwen/Qwen3-0.6B` -> `qwen3-0-6b`, at most `max` characters.
export function nameFromModel(modelId: string, max = 32): string {
  const last = modelId.split("/").pop() ?? modelId;
  const base = last.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/-+/g, "-").replace(/^-+/, "");
  const label = (/^[a-z]/.test(base) ? base : `m-${base}`).slice(0, max).replace(/-+$/, "");
  return label || "model";
}

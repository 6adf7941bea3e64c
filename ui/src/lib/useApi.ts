// Loading one GET endpoint into a component, again when the cluster comes back or `reload()` is called.

import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError, get } from "../api/client";
import { cluster } from "./session";
import { useStore } from "./store";

export interface Loaded<T> {
  data: T | null;
  error: ApiError | null;
  loading: boolean;
  reload: () => void;
}

export function useApi<T>(path: string | null, refreshMs = 0): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: ApiError | null; loading: boolean }>({
    data: null,
    error: null,
    loading: path !== null,
  });
  const [tick, setTick] = useState(0);
  const { recoveries } = useStore(cluster);
  const current = useRef(path);
  current.current = path;

  useEffect(() => {
    if (path === null) return undefined;
    const controller = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    get<T>(path, controller.signal).then(
      (data) => current.current === path && setState({ data, error: null, loading: false }),
      (error: unknown) => {
        if (controller.signal.aborted) return;
        const e = error instanceof ApiError ? error : new ApiError(0, "CLIENT_ERROR", String(error));
        setState((s) => ({ data: s.data, error: e, loading: false }));
      },
    );
    return () => controller.abort();
  }, [path, tick, recoveries]);

  useEffect(() => {
    if (!refreshMs || path === null) return undefined;
    const timer = setInterval(() => document.visibilityState === "visible" && setTick((t) => t + 1), refreshMs);
    return () => clearInterval(timer);
  }, [refreshMs, path]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

// The one way the UI talks to the server: JSON over /api, the error envelope turned into ApiError.

import { setAuthRequired, setClusterDown } from "../lib/session";

export interface FieldError {
  field: string;
  message: string;
  type: string;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly fields: FieldError[];

  constructor(status: number, code: string, message: string, fields: FieldError[] = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields;
  }
}

const TOKEN_KEY = "kubefoundry.token";

// Session storage only: the token goes when the tab closes, and no other site can read it.
export const token = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (value: string): void => sessionStorage.setItem(TOKEN_KEY, value),
  clear: (): void => sessionStorage.removeItem(TOKEN_KEY),
};

export function authHeaders(): Record<string, string> {
  const value = token.get();
  return value ? { Authorization: `Bearer ${value}` } : {};
}

// Per-field errors: `details.fields` (the envelope's object form) or, from older servers, a list.
// The API server's own causes name `spec.<field>`; the form knows fields by their spec name.
function fieldErrors(details: unknown): FieldError[] {
  const list = Array.isArray(details)
    ? details
    : details && typeof details === "object" && Array.isArray((details as { fields?: unknown }).fields)
      ? (details as { fields: unknown[] }).fields
      : [];
  return list
    .filter((d): d is FieldError => !!d && typeof d === "object" && typeof (d as FieldError).message === "string")
    .map((d) => ({ field: String(d.field ?? "").replace(/^(spec|body)\./, ""), message: d.message, type: String(d.type ?? "") }));
}

export async function errorFrom(response: Response): Promise<ApiError> {
  let body: { error?: unknown; code?: unknown; details?: unknown } = {};
  try {
    body = await response.json();
  } catch {
    // not the envelope (a proxy's page): fall through to a generic message
  }
  const code = typeof body.code === "string" ? body.code : `HTTP_${response.status}`;
  const message = typeof body.error === "string" && body.error ? body.error : `The server answered ${response.status} ${response.statusText}`;
  return new ApiError(response.status, code, message, fieldErrors(body.details));
}

// What every failed call does to the app as a whole, besides the caller's own handling.
export function report(error: ApiError): void {
  if (error.status === 401) setAuthRequired(error.message);
  if (error.code === "CLUSTER_UNAVAILABLE") setClusterDown(error.message);
}

export async function api<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json", ...authHeaders() };
  const init: RequestInit = { method, headers };
  if (signal) init.signal = signal;
  if (method === "POST" || method === "PUT" || method === "PATCH") {
    // Always JSON, even for an empty body: the API refuses state changes that are not application/json.
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body ?? {});
  }
  let response: Response;
  try {
    response = await fetch(`/api${path}`, init);
  } catch (e) {
    if (e instanceof DOMException && e.name === "AbortError") throw e;
    throw new ApiError(0, "NETWORK_ERROR", "The KubeFoundry API server cannot be reached (is it running?)");
  }
  if (!response.ok) {
    const error = await errorFrom(response);
    report(error);
    throw error;
  }
  return (await response.json()) as T;
}

export const get = <T,>(path: string, signal?: AbortSignal): Promise<T> => api<T>("GET", path, undefined, signal);

export function query(params: Record<string, string | number | null | undefined>): string {
  const entries = Object.entries(params).filter((e): e is [string, string | number] => e[1] !== null && e[1] !== undefined && e[1] !== "");
  return entries.length ? `?${new URLSearchParams(entries.map(([k, v]) => [k, String(v)])).toString()}` : "";
}

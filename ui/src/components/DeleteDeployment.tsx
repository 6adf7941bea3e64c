// Delete with confirmation; the row or page follows the live stream (Terminating, then gone).

import { useState } from "preact/hooks";
import { ApiError, api, query } from "../api/client";
import { ConfirmDialog, ErrorNotice } from "./ui";

export function DeleteDeployment({ namespace, name, onDeleted }: { namespace: string; name: string; onDeleted?: () => void }) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  async function confirm(): Promise<void> {
    setBusy(true);
    setError(null);
    try {
      await api("DELETE", `/deployments/${encodeURIComponent(name)}${query({ namespace })}`);
      setOpen(false);
      onDeleted?.();
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(0, "CLIENT_ERROR", String(e)));
    } finally {
      setBusy(false);
    }
  }
  return (
    <>
      <button type="button" class="btn btn-small btn-danger-outline" onClick={() => setOpen(true)} aria-label={`Delete ${name} in ${namespace}`}>
        Delete
      </button>
      <ConfirmDialog
        open={open}
        title={`Delete ${name}?`}
        confirmLabel="Delete deployment"
        busy={busy}
        onConfirm={() => void confirm()}
        onCancel={() => {
          setOpen(false);
          setError(null);
        }}
      >
        <p>
          This deletes the deployment <strong>{name}</strong> in namespace <strong>{namespace}</strong>, its provider resource and
          its pods. Clients of its endpoint lose it.
        </p>
        {error ? <ErrorNotice error={error} what="delete the deployment" /> : null}
      </ConfirmDialog>
    </>
  );
}

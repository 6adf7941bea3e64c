// Delete with confirmation; the list and the details page follow the live stream (Terminating, then gone).
// Either a button that opens the dialog, or (open + onClose) just the dialog, for a list's one shared dialog.

import { useState } from "preact/hooks";
import { ApiError, api, query } from "../api/client";
import { ConfirmDialog, ErrorNotice } from "./ui";

export function DeleteDeployment(props: { namespace: string; name: string; open?: boolean; onClose?: () => void; onDeleted?: () => void }) {
  const { namespace, name } = props;
  const [opened, setOpened] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const open = props.open ?? opened;
  function close(): void {
    setOpened(false);
    setError(null);
    props.onClose?.();
  }
  async function confirm(): Promise<void> {
    setBusy(true);
    setError(null);
    try {
      await api("DELETE", `/deployments/${encodeURIComponent(name)}${query({ namespace })}`);
      close();
      props.onDeleted?.();
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(0, "CLIENT_ERROR", String(e)));
    } finally {
      setBusy(false);
    }
  }
  return (
    <>
      {props.open === undefined ? (
        <button type="button" class="btn btn-small btn-danger-outline" onClick={() => setOpened(true)} aria-label={`Delete ${name} in ${namespace}`}>
          Delete
        </button>
      ) : null}
      {open ? (
        <ConfirmDialog open title={`Delete ${name}?`} confirmLabel="Delete deployment" busy={busy} onConfirm={() => void confirm()} onCancel={close}>
          <p>
            This deletes the deployment <strong>{name}</strong> in namespace <strong>{namespace}</strong>, its provider resource
            and its pods. Clients of its endpoint lose it.
          </p>
          {error ? <ErrorNotice error={error} what="delete the deployment" /> : null}
        </ConfirmDialog>
      ) : null}
    </>
  );
}

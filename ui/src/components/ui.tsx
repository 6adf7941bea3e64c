// Small building blocks shared by the pages.

import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "../api/client";
import type { Phase } from "../api/types";

export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  async function copy(): Promise<void> {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // No clipboard permission (an http:// origin other than localhost): select the text instead.
      const area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    setDone(true);
    setTimeout(() => setDone(false), 1500);
  }
  return (
    <button type="button" class="btn btn-small" onClick={() => void copy()} aria-label={label}>
      {done ? "Copied" : "Copy"}
      <span class="visually-hidden" aria-live="polite">
        {done ? " (copied to the clipboard)" : ""}
      </span>
    </button>
  );
}

export function CodeBlock({ code, label, copyLabel }: { code: string; label: string; copyLabel?: string }) {
  return (
    <div class="code">
      <div class="code-head">
        <span>{label}</span>
        <CopyButton text={code} label={copyLabel ?? `Copy ${label}`} />
      </div>
      <pre tabIndex={0} aria-label={label}>
        <code>{code}</code>
      </pre>
    </div>
  );
}

const PHASE_CLASS: Record<Phase, string> = {
  Pending: "warn",
  Deploying: "info",
  Running: "ok",
  Failed: "bad",
  Terminating: "muted",
};

export function PhaseBadge({ phase }: { phase: Phase }) {
  return <span class={`badge badge-${PHASE_CLASS[phase] ?? "muted"}`}>{phase}</span>;
}

export function Badge({ tone, children }: { tone: "ok" | "warn" | "bad" | "info" | "muted"; children: ComponentChildren }) {
  return <span class={`badge badge-${tone}`}>{children}</span>;
}

// What a failed request means for the person looking at the page.
export function ErrorNotice({ error, what }: { error: ApiError; what?: string }) {
  let title = what ? `Could not ${what}` : "Something went wrong";
  if (error.status === 403) title = "Not allowed";
  else if (error.status === 401) title = "Sign-in needed";
  else if (error.code === "CLUSTER_UNAVAILABLE") title = "The cluster cannot be reached";
  else if (error.code === "NETWORK_ERROR") title = "The KubeFoundry server cannot be reached";
  return (
    <div class="notice notice-bad" role="alert">
      <strong>{title}</strong>
      <p>
        {error.message}
        {error.status ? <span class="code-tag"> ({error.code})</span> : null}
      </p>
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="muted" role="status">
      Loading {what}…
    </p>
  );
}

// A confirmation in a native modal <dialog>: focus is trapped and Escape cancels.
export function ConfirmDialog(props: {
  open: boolean;
  title: string;
  children: ComponentChildren;
  confirmLabel: string;
  busy?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (props.open && !dialog.open) dialog.showModal();
    if (!props.open && dialog.open) dialog.close();
  }, [props.open]);
  return (
    <dialog
      ref={ref}
      class="dialog"
      aria-labelledby="dialog-title"
      onCancel={(e) => {
        e.preventDefault();
        props.onCancel();
      }}
    >
      <h2 id="dialog-title">{props.title}</h2>
      <div class="dialog-body">{props.children}</div>
      <div class="actions">
        <button type="button" class="btn" onClick={props.onCancel} autofocus>
          Cancel
        </button>
        <button type="button" class="btn btn-danger" onClick={props.onConfirm} disabled={props.busy}>
          {props.busy ? "Working…" : props.confirmLabel}
        </button>
      </div>
    </dialog>
  );
}

export function Section({ title, id, children, actions }: { title: string; id: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section class="card" aria-labelledby={id}>
      <div class="card-head">
        <h2 id={id}>{title}</h2>
        {actions}
      </div>
      {children}
    </section>
  );
}

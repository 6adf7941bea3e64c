// Each provider's installation: what the cluster shows, who installed it, install / upgrade / uninstall
// through its ProviderInstall with the operator's progress, and the equivalent helm commands.

import { useState } from "preact/hooks";
import { ApiError, api } from "../api/client";
import type { InstallationResult, InstallationStatus, ProviderInfo, ProviderInstallView, Settings } from "../api/types";
import { Badge, CodeBlock, ConfirmDialog, ErrorNotice, Loading, Section } from "../components/ui";
import { age, useNow } from "../lib/format";
import { useApi } from "../lib/useApi";

const BUSY_REFRESH_MS = 1000;
const IDLE_REFRESH_MS = 10000;

type Action = "install" | "upgrade" | "uninstall";

function Check({ ok, label }: { ok: boolean; label: string }) {
  return (
    <li class={ok ? "check-ok" : "check-no"}>
      <span aria-hidden="true">{ok ? "✓" : "✗"}</span> {label}: {ok ? "yes" : "no"}
    </li>
  );
}

function ProviderCard({ provider, active }: { provider: ProviderInfo; active: boolean }) {
  const [running, setRunning] = useState<Action | null>(null);
  const [result, setResult] = useState<InstallationResult | null>(null);
  const [failure, setFailure] = useState<ApiError | null>(null);
  const [confirm, setConfirm] = useState(false);
  const now = useNow(10000);
  const base = `/installation/providers/${encodeURIComponent(provider.id)}`;
  const refresh = running ? BUSY_REFRESH_MS : IDLE_REFRESH_MS;
  const status = useApi<InstallationStatus>(`${base}/status`, refresh);
  const pi = useApi<ProviderInstallView>(`${base}/providerinstall`, refresh);
  const commands = useApi<{ commands: string[] }>(`${base}/commands`);

  async function run(action: Action): Promise<void> {
    setRunning(action);
    setResult(null);
    setFailure(null);
    setConfirm(false);
    try {
      setResult(await api<InstallationResult>("POST", `${base}/${action}`, {}));
    } catch (e) {
      setFailure(e instanceof ApiError ? e : new ApiError(0, "CLIENT_ERROR", String(e)));
    } finally {
      setRunning(null);
      status.reload();
      pi.reload();
      commands.reload();
    }
  }

  const s = status.data;
  const view = pi.data;
  const install = view?.providerInstall ?? null;
  const progressing = install?.conditions.find((c) => c.type === "Progressing");
  const failed = install?.conditions.find((c) => c.type === "Failed" && c.status === "True");
  const elsewhere = progressing?.reason === "ManagedElsewhere";
  let owner = "Not installed";
  if (install?.deleting) owner = "Being uninstalled by KubeFoundry";
  else if (install && elsewhere) owner = "Found installed elsewhere: KubeFoundry leaves it alone";
  else if (install) owner = "Installed and managed by KubeFoundry";
  else if (s?.installed) owner = "Found installed without KubeFoundry (KubeFoundry leaves it alone)";
  else if (s?.crdInstalled) owner = "Not installed (its CRDs are still in the cluster)";
  const titleId = `provider-${provider.id}`;

  return (
    <Section
      title={provider.name}
      id={titleId}
      actions={
        <div class="actions">
          {active ? <Badge tone="info">Active provider</Badge> : null}
          {s ? s.installed ? <Badge tone="ok">Installed</Badge> : <Badge tone="warn">Not installed</Badge> : null}
        </div>
      }
    >
      <p>{provider.description}</p>
      {status.error ? <ErrorNotice error={status.error} what="read the installation" /> : null}
      {pi.error ? <ErrorNotice error={pi.error} what="read the ProviderInstall" /> : null}
      {!s && !status.error ? <Loading what="the installation" /> : null}
      {s ? (
        <div class="grid2">
          <ul class="checks" aria-label={`${provider.name} installation`}>
            <Check ok={s.crdInstalled} label="CRDs" />
            <Check ok={s.operatorInstalled} label="Operator running" />
            <li>Version: {s.version ?? "unknown"}</li>
          </ul>
          <div>
            <p data-testid={`owner-${provider.id}`}>
              <strong>{owner}</strong>
            </p>
            {install ? (
              <p class="small muted">
                ProviderInstall <code>{provider.id}</code>: version {install.version ?? "default"}
                {install.namespace ? `, namespace ${install.namespace}` : ""}
                {install.removeCrdsOnDelete ? ", CRDs removed on uninstall" : ", CRDs kept on uninstall"}
              </p>
            ) : null}
          </div>
        </div>
      ) : null}

      <div class="actions actions-left">
        {!install && !s?.installed ? (
          <button type="button" class="btn btn-primary" disabled={running !== null} onClick={() => void run("install")}>
            {running === "install" ? "Installing…" : `Install ${provider.name}`}
          </button>
        ) : null}
        {install && !install.deleting ? (
          <>
            <button type="button" class="btn" disabled={running !== null} onClick={() => void run("upgrade")}>
              {running === "upgrade" ? "Upgrading…" : "Upgrade"}
            </button>
            <button type="button" class="btn btn-danger-outline" disabled={running !== null} onClick={() => setConfirm(true)}>
              {running === "uninstall" ? "Uninstalling…" : "Uninstall"}
            </button>
          </>
        ) : null}
      </div>

      <div role="status" aria-live="polite" class="progress" data-testid={`progress-${provider.id}`}>
        {running ? (
          <p>
            <span class="spinner" aria-hidden="true" /> {running === "uninstall" ? "Uninstalling" : running === "upgrade" ? "Upgrading" : "Installing"}:{" "}
            {progressing?.message || (install?.deleting ? "helm uninstall is running" : "waiting for the operator")}
          </p>
        ) : null}
        {result ? <p class={`notice ${result.success ? "notice-ok" : "notice-bad"}`}>{result.message}</p> : null}
        {failure ? <ErrorNotice error={failure} what={`change ${provider.name}`} /> : null}
        {failed && !running ? <p class="notice notice-bad">Last helm attempt failed: {failed.message}</p> : null}
      </div>

      {install?.steps.length ? (
        <details open={running !== null}>
          <summary>Helm steps ({install.steps.length})</summary>
          <ol class="steps">
            {install.steps.map((step, i) => (
              <li key={i} class={`step step-${step.outcome.toLowerCase()}`}>
                <strong>
                  {step.action} {step.chart}
                </strong>{" "}
                {step.version ? `${step.version} ` : ""}→ {step.outcome}
                <span class="muted small"> {age(step.time, now)} ago</span>
                {step.message ? <div class="small mono wrap">{step.message}</div> : null}
              </li>
            ))}
          </ol>
        </details>
      ) : null}

      <details>
        <summary>Install by hand</summary>
        {commands.data ? (
          <CodeBlock label={`helm commands for ${provider.name}`} code={commands.data.commands.join("\n")} />
        ) : commands.error ? (
          <ErrorNotice error={commands.error} what="load the commands" />
        ) : (
          <Loading what="commands" />
        )}
      </details>

      <ConfirmDialog
        open={confirm}
        title={`Uninstall ${provider.name}?`}
        confirmLabel="Uninstall"
        onConfirm={() => void run("uninstall")}
        onCancel={() => setConfirm(false)}
      >
        <p>
          The operator runs <code>helm uninstall</code>. {install?.removeCrdsOnDelete ? "Its CRDs are deleted too, and with them every resource of those kinds." : "Its CRDs are kept, so existing resources stay."} Deployments on this
          provider stop being served.
        </p>
      </ConfirmDialog>
    </Section>
  );
}

export function ProvidersPage() {
  const settings = useApi<Settings>("/settings");
  return (
    <div>
      <div class="page-head">
        <h1>Providers</h1>
        <p class="lead">The inference providers KubeFoundry can deploy to, and their installation in this cluster.</p>
      </div>
      {settings.error ? <ErrorNotice error={settings.error} what="list the providers" /> : null}
      {settings.data ? (
        settings.data.providers.map((p) => <ProviderCard key={p.id} provider={p} active={p.id === settings.data?.activeProviderId} />)
      ) : !settings.error ? (
        <Loading what="providers" />
      ) : null}
    </div>
  );
}

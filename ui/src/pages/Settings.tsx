// The active provider, the cluster connection and the GPU inventory per node.

import { useEffect, useState } from "preact/hooks";
import { ApiError, api } from "../api/client";
import type { ClusterStatus, GpuReport, Settings } from "../api/types";
import { Badge, ErrorNotice, Loading, Section } from "../components/ui";
import { gib } from "../lib/format";
import { useApi } from "../lib/useApi";

function ActiveProvider() {
  const settings = useApi<Settings>("/settings");
  const [choice, setChoice] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    if (settings.data) setChoice(settings.data.activeProviderId);
  }, [settings.data]);
  if (settings.error) return <ErrorNotice error={settings.error} what="read the settings" />;
  if (!settings.data) return <Loading what="settings" />;
  return (
    <form
      noValidate
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError(null);
        setSaved(false);
        try {
          await api("PUT", "/settings", { activeProviderId: choice });
          setSaved(true);
          settings.reload();
        } catch (err) {
          setError(err instanceof ApiError ? err : new ApiError(0, "CLIENT_ERROR", String(err)));
        } finally {
          setBusy(false);
        }
      }}
    >
      <div class="field-inline">
        <label for="active-provider">Active provider</label>
        <select id="active-provider" aria-describedby="active-provider-help" value={choice} onChange={(e) => setChoice(e.currentTarget.value)}>
          {settings.data.providers.map((p) => (
            <option key={p.id} value={p.id}>
              {p.name}
            </option>
          ))}
        </select>
        <button type="submit" class="btn" disabled={busy || choice === settings.data.activeProviderId}>
          {busy ? "Saving…" : "Save"}
        </button>
      </div>
      <p class="hint" id="active-provider-help">
        New deployments that name no provider get this one; existing deployments keep theirs.
      </p>
      {error ? <ErrorNotice error={error} what="change the active provider" /> : null}
      <p role="status" class="small muted">
        {saved ? "Saved." : ""}
      </p>
    </form>
  );
}

export function SettingsPage() {
  const status = useApi<ClusterStatus>("/cluster/status", 10000);
  const gpus = useApi<GpuReport>("/cluster/gpus", 10000);
  return (
    <div>
      <div class="page-head">
        <h1>Settings</h1>
      </div>
      <Section title="Provider" id="settings-provider">
        <ActiveProvider />
      </Section>
      <Section title="Cluster" id="settings-cluster">
        {status.data ? (
          <dl class="facts facts-wide">
            <div>
              <dt>Connection</dt>
              <dd>{status.data.connected ? <Badge tone="ok">Connected</Badge> : <Badge tone="bad">Unreachable</Badge>}</dd>
            </div>
            <div>
              <dt>Default namespace</dt>
              <dd>{status.data.namespace}</dd>
            </div>
            <div>
              <dt>Active provider</dt>
              <dd>
                {status.data.providerId} {status.data.providerInstalled ? <Badge tone="ok">installed</Badge> : <Badge tone="warn">not installed</Badge>}
              </dd>
            </div>
          </dl>
        ) : status.error ? (
          <ErrorNotice error={status.error} what="read the cluster status" />
        ) : (
          <Loading what="the cluster status" />
        )}
      </Section>
      <Section title="GPU inventory" id="settings-gpus">
        {gpus.error ? <ErrorNotice error={gpus.error} what="read the GPUs" /> : null}
        {gpus.data ? (
          <>
            <p>
              {gpus.data.totals.free} of {gpus.data.totals.allocatable} GPUs free on {gpus.data.totals.nodes} nodes; at most {gpus.data.totals.maxFreePerNode} free on one node.
            </p>
            <div class="table-wrap">
              <table class="table">
                <thead>
                  <tr>
                    <th scope="col">Node</th>
                    <th scope="col">GPU</th>
                    <th scope="col" class="num">
                      Memory each
                    </th>
                    <th scope="col" class="num">
                      Capacity
                    </th>
                    <th scope="col" class="num">
                      Allocatable
                    </th>
                    <th scope="col" class="num">
                      In use
                    </th>
                    <th scope="col" class="num">
                      Free
                    </th>
                    <th scope="col">State</th>
                  </tr>
                </thead>
                <tbody>
                  {gpus.data.nodes.map((n) => (
                    <tr key={n.name}>
                      <th scope="row">{n.name}</th>
                      <td>{n.product ?? "unknown"}</td>
                      <td class="num">{gib(n.memoryMiB)}</td>
                      <td class="num">{n.capacity}</td>
                      <td class="num">{n.allocatable}</td>
                      <td class="num">{n.allocated}</td>
                      <td class="num">{n.free}</td>
                      <td>
                        {!n.ready ? <Badge tone="bad">Not ready</Badge> : !n.schedulable ? <Badge tone="warn">Cordoned</Badge> : <Badge tone="ok">Ready</Badge>}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </>
        ) : !gpus.error ? (
          <Loading what="GPUs" />
        ) : null}
      </Section>
    </div>
  );
}

// One deployment: status, conditions, pods (with the scheduler's reason), Events, endpoint, scale, live YAML.
// Room below for logs and engine metrics (issue 14) as further sections.

import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, api, query } from "../api/client";
import { deployments, keyOf } from "../api/live";
import type { DeploymentDetails, DeploymentSummary, EventRow, PodSummary } from "../api/types";
import { DeleteDeployment } from "../components/DeleteDeployment";
import { Badge, CodeBlock, ErrorNotice, Loading, PhaseBadge, Section } from "../components/ui";
import { age, useNow } from "../lib/format";
import { navigate } from "../lib/router";
import { plainScheduling } from "../lib/scheduling";
import { useStore } from "../lib/store";
import { useApi } from "../lib/useApi";
import { toYaml } from "../lib/yaml";

const REFRESH_MS = 5000;
const LOCAL_PORT = 8000;

function PodReason({ pod }: { pod: PodSummary }) {
  if (!pod.reason) return <span class="muted">–</span>;
  const plain = pod.phase === "Pending" ? plainScheduling(pod.reason) : null;
  if (!plain) return <span>{pod.reason}</span>;
  return (
    <div class="reason">
      <strong>{plain.summary}</strong>
      <ul>
        {plain.items.map((item) => (
          <li key={item}>{item}</li>
        ))}
      </ul>
      <details>
        <summary>Scheduler's message</summary>
        <p class="mono small">{pod.reason}</p>
      </details>
    </div>
  );
}

function Scale({ d, onScaled }: { d: DeploymentSummary; onScaled: () => void }) {
  const [replicas, setReplicas] = useState(String(d.replicas.desired));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const desired = useRef(d.replicas.desired);
  useEffect(() => {
    if (desired.current !== d.replicas.desired) setReplicas(String(d.replicas.desired));
    desired.current = d.replicas.desired;
  }, [d.replicas.desired]);
  const fieldError = error?.fields.find((f) => f.field === "replicas")?.message;
  return (
    <form
      class="scale"
      noValidate
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError(null);
        setDone(null);
        try {
          await api("PUT", `/deployments/${encodeURIComponent(d.name)}/scale${query({ namespace: d.namespace })}`, { replicas: Number(replicas) });
          setDone(`Scaling to ${replicas} replica${replicas === "1" ? "" : "s"}.`);
          onScaled();
        } catch (err) {
          setError(err instanceof ApiError ? err : new ApiError(0, "CLIENT_ERROR", String(err)));
        } finally {
          setBusy(false);
        }
      }}
    >
      <div class={`field-inline${fieldError ? " field-invalid" : ""}`}>
        <label for="scale-replicas">Replicas</label>
        <input
          id="scale-replicas"
          type="number"
          min={0}
          max={64}
          step={1}
          value={replicas}
          aria-invalid={fieldError ? true : undefined}
          aria-describedby={fieldError ? "scale-error" : undefined}
          onInput={(e) => setReplicas(e.currentTarget.value)}
        />
        <button type="submit" class="btn" disabled={busy}>
          {busy ? "Scaling…" : "Scale"}
        </button>
      </div>
      {fieldError ? (
        <p class="field-error" id="scale-error">
          {fieldError}
        </p>
      ) : error ? (
        <ErrorNotice error={error} what="scale" />
      ) : null}
      <p class="small muted" role="status">
        {done}
      </p>
    </form>
  );
}

export function DeploymentDetailsPage({ namespace, name }: { namespace: string; name: string }) {
  const live = useStore(deployments.state);
  useEffect(() => deployments.acquire(), []);
  const now = useNow(10000);
  const summary = live.items?.get(keyOf({ namespace, name })) ?? null;
  const seen = useRef(false);
  if (summary) seen.current = true;
  const gone = seen.current && live.items !== null && summary === null;

  const base = `/deployments/${encodeURIComponent(name)}`;
  const ns = query({ namespace });
  const details = useApi<DeploymentDetails>(gone ? null : `${base}${ns}`, REFRESH_MS);
  const events = useApi<{ events: EventRow[] }>(gone ? null : `${base}/events${ns}`, REFRESH_MS);
  const [yamlOpen, setYamlOpen] = useState(false);
  const manifest = useApi<{ deployment: Record<string, unknown> }>(yamlOpen && !gone ? `${base}/manifest${ns}` : null);

  // Whenever the deployment changes in the cluster, the rest of the page catches up at once.
  const { reload: reloadDetails } = details;
  const { reload: reloadEvents } = events;
  const { reload: reloadManifest } = manifest;
  useEffect(() => {
    if (!summary) return;
    reloadDetails();
    reloadEvents();
    reloadManifest();
  }, [summary]);

  if (gone) {
    return (
      <div>
        <h1>{name}</h1>
        <div class="notice notice-ok" role="status">
          The deployment {namespace}/{name} was deleted. <a href="/deployments">Back to the deployments</a>
        </div>
      </div>
    );
  }
  const d: DeploymentSummary | null = summary ?? details.data;
  if (!d) {
    if (details.error) return <ErrorNotice error={details.error} what={`load ${namespace}/${name}`} />;
    return <Loading what={`${namespace}/${name}`} />;
  }
  const pods = details.data?.pods ?? [];
  const aggregated = d.mode !== "disaggregated";
  const forward = d.endpoint ? `kubectl -n ${d.namespace} port-forward svc/${d.endpoint.service} ${LOCAL_PORT}:${d.endpoint.port}` : null;

  return (
    <div>
      <nav aria-label="Breadcrumb" class="crumbs">
        <a href="/deployments">Deployments</a> <span aria-hidden="true">/</span> {d.namespace}
      </nav>
      <div class="page-head page-head-row">
        <div>
          <h1>
            {d.name} <PhaseBadge phase={d.phase} />
          </h1>
          <p class="lead mono">{d.modelId}</p>
        </div>
        <DeleteDeployment namespace={d.namespace} name={d.name} onDeleted={() => navigate("/deployments")} />
      </div>
      {d.message ? (
        <div class={`notice ${d.phase === "Failed" ? "notice-bad" : "notice-warn"}`} role="status">
          <strong>Why it is not ready:</strong> {d.message}
        </div>
      ) : null}

      <div class="grid-details">
        <Section title="Overview" id="overview">
          <dl class="facts facts-wide">
            <div>
              <dt>Replicas ready</dt>
              <dd data-testid="replicas">
                {d.replicas.ready}/{d.replicas.desired}
              </dd>
            </div>
            <div>
              <dt>Provider</dt>
              <dd>{d.provider ?? "not chosen yet"}</dd>
            </div>
            <div>
              <dt>Engine</dt>
              <dd>{d.engine}</dd>
            </div>
            <div>
              <dt>Mode</dt>
              <dd>{d.mode}</dd>
            </div>
            <div>
              <dt>Age</dt>
              <dd>{age(d.createdAt, now)}</dd>
            </div>
          </dl>
          {aggregated ? (
            <Scale d={d} onScaled={reloadDetails} />
          ) : (
            <p class="hint">Disaggregated: the prefill and decode replicas are set in the spec (see the YAML below).</p>
          )}
        </Section>

        <Section title="Endpoint" id="endpoint">
          {d.endpoint && forward ? (
            <>
              <p>
                In the cluster: <code class="mono">{d.endpoint.url || `${d.endpoint.service}:${d.endpoint.port}`}</code> (OpenAI-compatible)
              </p>
              <CodeBlock label="Reach it from your machine" copyLabel="Copy the port-forward command" code={forward} />
              <p class="hint">
                Then: <code>curl http://localhost:{LOCAL_PORT}/v1/models</code>
              </p>
            </>
          ) : (
            <p class="muted">No endpoint yet: it appears once the provider has created the frontend Service.</p>
          )}
        </Section>
      </div>

      <Section title="Conditions" id="conditions">
        {d.conditions.length ? (
          <div class="table-wrap">
            <table class="table">
              <thead>
                <tr>
                  <th scope="col">Type</th>
                  <th scope="col">Status</th>
                  <th scope="col">Reason</th>
                  <th scope="col">Message</th>
                  <th scope="col" class="num">
                    Age
                  </th>
                </tr>
              </thead>
              <tbody>
                {d.conditions.map((c) => (
                  <tr key={c.type}>
                    <th scope="row">{c.type}</th>
                    <td>
                      <Badge tone={c.status === "True" ? "ok" : c.status === "False" ? "warn" : "muted"}>{c.status}</Badge>
                    </td>
                    <td>{c.reason}</td>
                    <td class="wrap">{c.message || "–"}</td>
                    <td class="num">{age(c.lastTransitionTime, now)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : (
          <p class="muted">The operator has not reported yet.</p>
        )}
      </Section>

      <Section title="Pods" id="pods">
        {details.error ? <ErrorNotice error={details.error} what="list the pods" /> : null}
        {pods.length ? (
          <div class="table-wrap">
            <table class="table">
              <thead>
                <tr>
                  <th scope="col">Pod</th>
                  <th scope="col">Node</th>
                  <th scope="col">Phase</th>
                  <th scope="col">Ready</th>
                  <th scope="col" class="num">
                    Restarts
                  </th>
                  <th scope="col">Why not running</th>
                </tr>
              </thead>
              <tbody>
                {pods.map((p) => (
                  <tr key={p.name} data-pod={p.name}>
                    <th scope="row" class="mono small">
                      {p.name}
                    </th>
                    <td>{p.node ?? <span class="muted">not scheduled</span>}</td>
                    <td>{p.phase}</td>
                    <td>{p.ready ? <Badge tone="ok">Ready</Badge> : <Badge tone="warn">Not ready</Badge>}</td>
                    <td class="num">{p.restarts}</td>
                    <td class="wrap">
                      <PodReason pod={p} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : details.data ? (
          <p class="muted">No pods yet.</p>
        ) : null}
      </Section>

      <Section title="Recent events" id="events">
        {events.error ? <ErrorNotice error={events.error} what="read the Events" /> : null}
        {events.data?.events.length ? (
          <div class="table-wrap">
            <table class="table">
              <thead>
                <tr>
                  <th scope="col">Type</th>
                  <th scope="col">Reason</th>
                  <th scope="col">Object</th>
                  <th scope="col">Message</th>
                  <th scope="col" class="num">
                    Count
                  </th>
                  <th scope="col" class="num">
                    Last seen
                  </th>
                </tr>
              </thead>
              <tbody>
                {events.data.events.map((e, i) => (
                  <tr key={i}>
                    <td>{e.type === "Warning" ? <Badge tone="warn">Warning</Badge> : <Badge tone="muted">Normal</Badge>}</td>
                    <td>{e.reason}</td>
                    <td class="small">
                      {e.object.kind}/{e.object.name}
                    </td>
                    <td class="wrap">{e.message}</td>
                    <td class="num">{e.count}</td>
                    <td class="num" title={`first seen ${e.firstSeen}`}>
                      {age(e.lastSeen, now)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : events.data ? (
          <p class="muted">No Events.</p>
        ) : null}
      </Section>

      <section class="card" aria-labelledby="yaml-title">
        <details onToggle={(e) => setYamlOpen((e.currentTarget as HTMLDetailsElement).open)}>
          <summary>
            <h2 id="yaml-title" class="inline-heading">
              Live YAML
            </h2>
          </summary>
          {manifest.error ? <ErrorNotice error={manifest.error} what="read the resource" /> : null}
          {manifest.data ? <CodeBlock label={`KubeFoundryDeployment ${d.name}`} code={toYaml(manifest.data.deployment)} /> : yamlOpen ? <Loading what="the YAML" /> : null}
        </details>
      </section>
    </div>
  );
}

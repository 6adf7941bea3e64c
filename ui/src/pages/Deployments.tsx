// Every deployment the user may see, live from the server-sent event stream.

import { Component } from "preact";
import { useEffect, useState } from "preact/hooks";
import { deployments } from "../api/live";
import type { DeploymentSummary } from "../api/types";
import { DeleteDeployment } from "../components/DeleteDeployment";
import { ErrorNotice, Loading, PhaseBadge } from "../components/ui";
import { age, useNow } from "../lib/format";
import { detailsPath, navigate, useLocation } from "../lib/router";
import { useStore } from "../lib/store";

interface RowProps {
  d: DeploymentSummary;
  now: number;
}

// Re-renders only when its deployment changed: a change among 1,000 rows touches one row.
class Row extends Component<RowProps> {
  override shouldComponentUpdate(next: RowProps): boolean {
    return next.d !== this.props.d || next.now !== this.props.now;
  }

  override render() {
    const { d, now } = this.props;
    return (
    <tr data-deployment={`${d.namespace}/${d.name}`}>
      <th scope="row">
        <a href={detailsPath(d.namespace, d.name)}>{d.name}</a>
      </th>
      <td>{d.namespace}</td>
      <td class="mono small">{d.modelId}</td>
      <td>
        <PhaseBadge phase={d.phase} />
        {d.message && d.phase !== "Running" ? <div class="small muted clamp" title={d.message}>{d.message}</div> : null}
      </td>
      <td class="num" data-col="ready">
        {d.replicas.ready}/{d.replicas.desired}
      </td>
      <td>{d.provider ?? "–"}</td>
      <td>{d.engine}</td>
      <td class="num">{age(d.createdAt, now)}</td>
      <td>
        <DeleteDeployment namespace={d.namespace} name={d.name} />
      </td>
    </tr>
    );
  }
}

export function DeploymentsPage() {
  const live = useStore(deployments.state);
  useEffect(() => deployments.acquire(), []);
  const now = useNow(30000);
  const { params } = useLocation();
  const created = params.get("created");
  const [namespace, setNamespace] = useState(params.get("namespace") ?? "");
  const [scoped, setScoped] = useState("");

  // A user who may not list across the cluster streams one namespace instead.
  const forbidden = live.error?.status === 403;
  const all = [...(live.items?.values() ?? [])];
  const namespaces = [...new Set(all.map((d) => d.namespace))].sort();
  const shown = all
    .filter((d) => !namespace || d.namespace === namespace)
    .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));

  return (
    <div>
      <div class="page-head page-head-row">
        <div>
          <h1>Deployments</h1>
          <p class="lead">
            Updated live from the cluster.{" "}
            <span class={`live-dot ${live.connected ? "on" : ""}`} aria-hidden="true" />
            <span class="small muted">{live.connected ? "Live" : "Connecting…"}</span>
          </p>
        </div>
        <a class="btn btn-primary" href="/models">
          Deploy a model
        </a>
      </div>
      {created ? (
        <div class="notice notice-ok" role="status">
          Created <strong>{created}</strong>. It appears below and follows the cluster as it comes up.{" "}
          <button type="button" class="btn btn-small" onClick={() => navigate("/deployments", true)}>
            Dismiss
          </button>
        </div>
      ) : null}
      {forbidden ? (
        <form
          class="card"
          onSubmit={(e) => {
            e.preventDefault();
            deployments.setNamespace(scoped.trim() || null);
          }}
        >
          <ErrorNotice error={live.error!} what="list deployments" />
          <div class="field-inline">
            <label for="scoped-namespace">Show the deployments of namespace</label>
            <input id="scoped-namespace" type="text" value={scoped} onInput={(e) => setScoped(e.currentTarget.value)} />
            <button type="submit" class="btn">
              Show
            </button>
          </div>
        </form>
      ) : live.error ? (
        <ErrorNotice error={live.error} what="follow the deployments" />
      ) : null}
      <div class="toolbar">
        <div class="field-inline">
          <label for="ns-filter">Namespace</label>
          <select id="ns-filter" value={namespace} onChange={(e) => setNamespace(e.currentTarget.value)}>
            <option value="">All namespaces</option>
            {namespaces.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </div>
        {live.items ? (
          <p class="muted toolbar-note" role="status" aria-live="polite" data-testid="deployment-count">
            {shown.length} deployment{shown.length === 1 ? "" : "s"}
          </p>
        ) : null}
      </div>
      {live.items === null && !live.error ? <Loading what="deployments" /> : null}
      {live.items && shown.length === 0 ? (
        <div class="card empty">
          <p>No deployments{namespace ? ` in ${namespace}` : ""} yet.</p>
          <a class="btn btn-primary" href="/models">
            Find a model to deploy
          </a>
        </div>
      ) : null}
      {shown.length ? (
        <div class="table-wrap">
          <table class="table">
            <caption class="visually-hidden">Deployments with phase, ready and desired replicas, provider, engine and age</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Namespace</th>
                <th scope="col">Model</th>
                <th scope="col">Phase</th>
                <th scope="col" class="num">
                  Ready
                </th>
                <th scope="col">Provider</th>
                <th scope="col">Engine</th>
                <th scope="col" class="num">
                  Age
                </th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {shown.map((d) => (
                <Row key={`${d.namespace}/${d.name}`} d={d} now={now} />
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </div>
  );
}

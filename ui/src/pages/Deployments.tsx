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
  onDelete: (d: DeploymentSummary) => void;
}

// Re-renders only when its deployment changed: a change among 1,000 rows touches one row.
class Row extends Component<RowProps> {
  override shouldComponentUpdate(next: RowProps): boolean {
    return next.d !== this.props.d || next.now !== this.props.now;
  }

  override render() {
    const { d, now, onDelete } = this.props;
    return (
      <div role="row" class="grid-row" data-deployment={`${d.namespace}/${d.name}`}>
        <div role="rowheader" class="cell-strong">
          <a href={detailsPath(d.namespace, d.name)}>{d.name}</a>
        </div>
        <div role="cell">{d.namespace}</div>
        <div role="cell" class="mono small" title={d.modelId}>
          {d.modelId}
        </div>
        <div role="cell">
          <PhaseBadge phase={d.phase} />
          {d.message && d.phase !== "Running" ? (
            <div class="small muted clamp" title={d.message}>
              {d.message}
            </div>
          ) : null}
        </div>
        <div role="cell" class="num" data-col="ready">
          {d.replicas.ready}/{d.replicas.desired}
        </div>
        <div role="cell">{d.provider ?? "–"}</div>
        <div role="cell">{d.engine}</div>
        <div role="cell" class="num">
          {age(d.createdAt, now)}
        </div>
        <div role="cell">
          <button type="button" class="btn btn-small btn-danger-outline" onClick={() => onDelete(d)} aria-label={`Delete ${d.name} in ${d.namespace}`}>
            Delete
          </button>
        </div>
      </div>
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
  const [deleting, setDeleting] = useState<DeploymentSummary | null>(null);

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
            <span class="small muted">{live.connected ? "Live" : live.error ? "Not live" : "Connecting…"}</span>
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
        // An ARIA table of grid rows rather than a <table>: rows off screen skip layout (content-visibility),
        // which a table's internal elements do not support; with 1,000 rows that is most of the render time.
        <div class="table-wrap">
          <div role="table" class="grid-table" aria-label="Deployments" aria-rowcount={shown.length + 1}>
            <div role="rowgroup">
              <div role="row" class="grid-row grid-head">
                <div role="columnheader">Name</div>
                <div role="columnheader">Namespace</div>
                <div role="columnheader">Model</div>
                <div role="columnheader">Phase</div>
                <div role="columnheader" class="num">
                  Ready
                </div>
                <div role="columnheader">Provider</div>
                <div role="columnheader">Engine</div>
                <div role="columnheader" class="num">
                  Age
                </div>
                <div role="columnheader">
                  <span class="visually-hidden">Actions</span>
                </div>
              </div>
            </div>
            <div role="rowgroup" class="grid-body">
              {shown.map((d) => (
                <Row key={`${d.namespace}/${d.name}`} d={d} now={now} onDelete={setDeleting} />
              ))}
            </div>
          </div>
        </div>
      ) : null}
      {deleting ? <DeleteDeployment namespace={deleting.namespace} name={deleting.name} open onClose={() => setDeleting(null)} /> : null}
    </div>
  );
}

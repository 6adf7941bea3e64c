// The catalog: search, engine filter, whether each model fits the cluster's free GPUs now, Deploy.

import { useEffect, useMemo, useState } from "preact/hooks";
import { deployments } from "../api/live";
import type { CatalogModel, GpuReport } from "../api/types";
import { ErrorNotice, Loading } from "../components/ui";
import { type FitResult, modelFit } from "../lib/fit";
import { useStore } from "../lib/store";
import { useApi } from "../lib/useApi";

const FIT_LABEL = { fits: "Fits", tight: "Tight", no: "Does not fit" } as const;
const FIT_TONE = { fits: "ok", tight: "warn", no: "bad" } as const;

function FitBadge({ id, fit }: { id: string; fit: FitResult }) {
  // Focusable, with the reason as its description: shown on hover and on keyboard focus alike.
  return (
    <span class="fit">
      <span class={`badge badge-${FIT_TONE[fit.fit]} fit-badge`} tabIndex={0} aria-describedby={id}>
        {FIT_LABEL[fit.fit]}
      </span>
      <span role="tooltip" id={id} class="tooltip">
        {fit.reason}
      </span>
    </span>
  );
}

export function ModelsPage() {
  const models = useApi<{ models: CatalogModel[] }>("/models");
  const gpus = useApi<GpuReport>("/cluster/gpus");
  const [search, setSearch] = useState("");
  const [engine, setEngine] = useState("");

  // Free GPUs change as deployments come and go: follow the live list, at most once a second.
  const live = useStore(deployments.state);
  useEffect(() => deployments.acquire(), []);
  const reloadGpus = gpus.reload;
  useEffect(() => {
    if (!live.version) return undefined;
    const timer = setTimeout(reloadGpus, 1000);
    return () => clearTimeout(timer);
  }, [live.version, reloadGpus]);

  const all = models.data?.models ?? [];
  const engines = useMemo(() => [...new Set(all.flatMap((m) => m.supportedEngines))].sort(), [all]);
  const needle = search.trim().toLowerCase();
  const shown = all.filter(
    (m) =>
      (!needle || m.id.toLowerCase().includes(needle) || m.name.toLowerCase().includes(needle)) &&
      (!engine || m.supportedEngines.includes(engine)),
  );

  return (
    <div>
      <div class="page-head">
        <h1>Models</h1>
        <p class="lead">Pick a model, see whether it fits your cluster's free GPUs right now, and deploy it.</p>
      </div>
      <div class="toolbar" role="search">
        <div class="field-inline">
          <label for="model-search">Search</label>
          <input id="model-search" type="search" placeholder="Name or Hugging Face id" value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
        </div>
        <div class="field-inline">
          <label for="model-engine">Engine</label>
          <select id="model-engine" value={engine} onChange={(e) => setEngine(e.currentTarget.value)}>
            <option value="">All engines</option>
            {engines.map((e) => (
              <option key={e} value={e}>
                {e}
              </option>
            ))}
          </select>
        </div>
        {gpus.data ? (
          <p class="muted toolbar-note">
            {gpus.data.totals.free} of {gpus.data.totals.allocatable} GPUs free on {gpus.data.totals.nodes} GPU nodes
          </p>
        ) : null}
      </div>
      {models.error ? <ErrorNotice error={models.error} what="load the model catalog" /> : null}
      {gpus.error && !gpus.data ? <ErrorNotice error={gpus.error} what="read the cluster's GPUs (fit unknown)" /> : null}
      {models.loading && !models.data ? <Loading what="models" /> : null}
      {models.data ? (
        <p class="muted" role="status" aria-live="polite">
          {shown.length} of {all.length} models
        </p>
      ) : null}
      <ul class="model-grid" aria-label="Models">
        {shown.map((m) => {
          const fit = gpus.data ? modelFit(m, gpus.data) : null;
          const fitId = `fit-${m.id.replace(/[^A-Za-z0-9]/g, "-")}`;
          return (
            <li key={m.id} class="card model" aria-labelledby={`${fitId}-name`}>
              <div class="model-head">
                <h2 id={`${fitId}-name`}>{m.name}</h2>
                {fit ? <FitBadge id={fitId} fit={fit} /> : <span class="badge badge-muted">Fit unknown</span>}
              </div>
              <p class="mono small">{m.id}</p>
              <p>{m.description}</p>
              <dl class="facts">
                <div>
                  <dt>Size</dt>
                  <dd>{m.size}</dd>
                </div>
                <div>
                  <dt>GPU memory</dt>
                  <dd>{m.minGpuMemory}</dd>
                </div>
                <div>
                  <dt>Context</dt>
                  <dd>{m.contextLength.toLocaleString("en")}</dd>
                </div>
                <div>
                  <dt>Engines</dt>
                  <dd>{m.supportedEngines.join(", ")}</dd>
                </div>
              </dl>
              <div class="model-foot">
                {m.gated ? <span class="badge badge-info">Gated: needs a Hugging Face token</span> : <span />}
                <a class="btn btn-primary" href={`/deploy?model=${encodeURIComponent(m.id)}`} aria-label={`Deploy ${m.name}`}>
                  Deploy
                </a>
              </div>
            </li>
          );
        })}
      </ul>
    </div>
  );
}

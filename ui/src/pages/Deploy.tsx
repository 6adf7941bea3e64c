// The deploy form: every field of a KubeFoundryDeployment, described by the API's OpenAPI document;
// providers from /api/settings and engines from the catalog (and the provider, when it says), a
// dry-run preview of what will be created, and the resource as YAML for GitOps.

import { useEffect, useMemo, useState } from "preact/hooks";
import { ApiError, api } from "../api/client";
import { deployments } from "../api/live";
import type { CatalogModel, ClusterStatus, JsonSchema, PreviewResponse, ProviderInfo, Settings } from "../api/types";
import { Field, SchemaField, described, fieldId } from "../components/fields";
import { CodeBlock, ErrorNotice, Loading } from "../components/ui";
import { nameFromModel } from "../lib/format";
import { navigate } from "../lib/router";
import { type OpenApi, kindOf, resolve, same } from "../lib/schema";
import { useStore } from "../lib/store";
import { useApi } from "../lib/useApi";
import { toYaml } from "../lib/yaml";

type Values = Record<string, unknown>;

// The KubeFoundryDeployment's type; the preview answers with the server's own manifest.
const API_VERSION = "kubefoundry.io/v1alpha1";
const KIND = "KubeFoundryDeployment";

// Fields with a control of their own; every other property of the schema appears under "Advanced".
const BASIC = ["name", "namespace", "modelId", "provider", "engine", "mode", "replicas", "gpusPerReplica", "prefill", "decode", "hfTokenSecret"];
const AGGREGATED_ONLY = ["replicas", "gpusPerReplica"];
const ROLES = ["prefill", "decode"];

function providerEngines(p: ProviderInfo | undefined): string[] | null {
  return p?.capabilities?.engines ?? p?.engines ?? p?.supportedEngines ?? null;
}

export function DeployPage({ params }: { params: URLSearchParams }) {
  const doc = useApi<OpenApi>("/openapi.json");
  const models = useApi<{ models: CatalogModel[] }>("/models");
  const settings = useApi<Settings>("/settings");
  const status = useApi<ClusterStatus>("/cluster/status");
  const live = useStore(deployments.state);
  useEffect(() => deployments.acquire(), []);

  const schema = useMemo(() => (doc.data ? resolve(doc.data, doc.data.components.schemas.CreateDeploymentRequest) : null), [doc.data]);
  const prop = (name: string): JsonSchema => (doc.data && schema ? resolve(doc.data, schema.properties?.[name]) : {});

  const initialModel = params.get("model") ?? "";
  const [values, setValues] = useState<Values>(() => ({ modelId: initialModel, name: initialModel ? nameFromModel(initialModel) : "" }));
  const [touchedName, setTouchedName] = useState(false);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [failure, setFailure] = useState<ApiError | null>(null);
  const [preview, setPreview] = useState<PreviewResponse | null>(null);
  const [busy, setBusy] = useState<"" | "preview" | "deploy">("");

  // Defaults once the server told us: the cluster's default namespace, the schema's defaults.
  useEffect(() => {
    if (status.data && values.namespace === undefined) setValues((v) => ({ ...v, namespace: status.data?.namespace }));
  }, [status.data]);
  useEffect(() => {
    if (!schema || !doc.data) return;
    setValues((v) => {
      const next = { ...v };
      for (const [name, raw] of Object.entries(schema.properties ?? {})) {
        const s = resolve(doc.data as OpenApi, raw);
        if (next[name] === undefined && s.default !== undefined && s.default !== null) next[name] = s.default;
      }
      return next;
    });
  }, [schema]);

  const model = models.data?.models.find((m) => m.id === values.modelId);
  const provider = settings.data?.providers.find((p) => p.id === (values.provider || settings.data?.activeProviderId));
  const engines = useMemo(() => {
    const fromProvider = providerEngines(provider);
    const fromModel = model?.supportedEngines ?? null;
    const base = fromModel ?? fromProvider ?? (prop("engine").enum as string[] | undefined) ?? [];
    return fromProvider ? base.filter((e) => fromProvider.includes(e)) : base;
  }, [model, provider, schema]);
  const modes = (prop("mode").enum as string[] | undefined) ?? [];
  const disaggregated = values.mode === "disaggregated";

  // Keep the engine one the model and provider support.
  useEffect(() => {
    if (engines.length && !engines.includes(String(values.engine))) setValues((v) => ({ ...v, engine: engines[0] }));
  }, [engines.join(",")]);

  function set(name: string, value: unknown): void {
    setValues((v) => ({ ...v, [name]: value }));
    setPreview(null);
    if (errors[name]) setErrors(({ [name]: _drop, ...rest }) => rest);
  }

  function chooseModel(id: string): void {
    setValues((v) => ({ ...v, modelId: id, ...(touchedName ? {} : { name: id ? nameFromModel(id) : "" }) }));
    setPreview(null);
  }

  // The request body: what differs from the schema's defaults (the CRD fills in the rest), so that the
  // YAML stays as small as what a person would write.
  const body = useMemo(() => {
    const out: Values = {};
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined || value === "" || (Array.isArray(value) && value.length === 0)) continue;
      if (disaggregated && AGGREGATED_ONLY.includes(name)) continue;
      if (ROLES.includes(name)) {
        if (disaggregated) out[name] = value;
        continue;
      }
      const s = prop(name);
      if (!["name", "namespace", "modelId"].includes(name) && s.default !== undefined && same(s.default, value)) continue;
      out[name] = value;
    }
    if (disaggregated) for (const role of ROLES) out[role] ??= { replicas: 1, gpus: 1 };
    return out;
  }, [values, schema]);

  const manifest = useMemo(() => {
    const { name, namespace, ...spec } = body;
    return preview?.deployment ?? { apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace }, spec };
  }, [body, preview]);

  function fail(e: unknown): void {
    const error = e instanceof ApiError ? e : new ApiError(0, "CLIENT_ERROR", String(e));
    const byField: Record<string, string> = {};
    for (const f of error.fields) if (f.field) byField[f.field] = byField[f.field] ? `${byField[f.field]}; ${f.message}` : f.message;
    setErrors(byField);
    setFailure(error);
    // Take the person to the first field the server refused.
    const first = Object.keys(byField).find((f) => document.getElementById(fieldId(f)));
    if (first) document.getElementById(fieldId(first))?.focus();
    else document.getElementById("deploy-errors")?.focus();
  }

  async function submit(kind: "preview" | "deploy"): Promise<void> {
    setBusy(kind);
    setFailure(null);
    setErrors({});
    try {
      if (kind === "preview") {
        setPreview(await api<PreviewResponse>("POST", "/deployments/preview", body));
      } else {
        await api("POST", "/deployments", body);
        navigate(`/deployments?created=${encodeURIComponent(`${String(body.namespace)}/${String(body.name)}`)}`);
      }
    } catch (e) {
      fail(e);
    } finally {
      setBusy("");
    }
  }

  const loadError = doc.error ?? models.error ?? settings.error;
  if (loadError) return <ErrorNotice error={loadError} what="load the deploy form" />;
  if (!schema || !models.data || !settings.data) return <Loading what="the deploy form" />;

  const namespaces = [...new Set([...(live.items?.values() ?? [])].map((d) => d.namespace))].sort();
  const advanced = Object.keys(schema.properties ?? {}).filter((n) => !BASIC.includes(n));
  const unplaced = failure ? failure.fields.filter((f) => !f.field || !document.getElementById(fieldId(f.field))) : [];
  const err = (name: string): string | undefined => errors[name];
  const help = (name: string): string | undefined => prop(name).description;

  return (
    <div>
      <div class="page-head">
        <h1>Deploy a model</h1>
        <p class="lead">Creates a KubeFoundryDeployment; the operator turns it into the provider's resources.</p>
      </div>
      <div class="deploy">
        <form
          class="card form"
          noValidate
          aria-label="New deployment"
          onSubmit={(e) => {
            e.preventDefault();
            void submit("deploy");
          }}
        >
          {failure ? (
            <div id="deploy-errors" class="notice notice-bad" role="alert" tabIndex={-1}>
              <strong>{failure.code === "VALIDATION_ERROR" ? "Please correct the highlighted fields" : failure.status === 403 ? "Not allowed" : "The server refused"}</strong>
              <p>{failure.message}</p>
              {unplaced.length ? (
                <ul>
                  {unplaced.map((f, i) => (
                    <li key={i}>{f.field ? `${f.field}: ${f.message}` : f.message}</li>
                  ))}
                </ul>
              ) : null}
            </div>
          ) : null}

          <fieldset>
            <legend>Model</legend>
            <Field name="modelId" label="Model" help={help("modelId")} error={err("modelId")}>
              <input
                type="text"
                list="catalog-models"
                spellcheck={false}
                {...described("modelId", help("modelId"), err("modelId"))}
                value={String(values.modelId ?? "")}
                onInput={(e) => chooseModel(e.currentTarget.value)}
              />
              <datalist id="catalog-models">
                {models.data.models.map((m) => (
                  <option key={m.id} value={m.id}>
                    {m.name}
                  </option>
                ))}
              </datalist>
            </Field>
            {model ? (
              <p class="hint">
                {model.name}: {model.size} parameters, needs {model.minGpuMemory} of GPU memory per replica.
                {model.gated ? " Gated on Hugging Face: set a token Secret below." : ""}
              </p>
            ) : values.modelId ? (
              <p class="hint">Not in the catalog: any Hugging Face model id works.</p>
            ) : null}
            <div class="grid2">
              <Field name="name" label="Name" help={help("name")} error={err("name")}>
                <input
                  type="text"
                  spellcheck={false}
                  {...described("name", help("name"), err("name"))}
                  value={String(values.name ?? "")}
                  onInput={(e) => {
                    setTouchedName(true);
                    set("name", e.currentTarget.value);
                  }}
                />
              </Field>
              <Field name="namespace" label="Namespace" help={help("namespace")} error={err("namespace")}>
                <input
                  type="text"
                  list="known-namespaces"
                  spellcheck={false}
                  {...described("namespace", help("namespace"), err("namespace"))}
                  value={String(values.namespace ?? "")}
                  onInput={(e) => set("namespace", e.currentTarget.value)}
                />
                <datalist id="known-namespaces">
                  {namespaces.map((n) => (
                    <option key={n} value={n} />
                  ))}
                </datalist>
              </Field>
            </div>
          </fieldset>

          <fieldset>
            <legend>Serving</legend>
            <div class="grid2">
              <Field name="provider" label="Provider" help={help("provider")} error={err("provider")}>
                <select {...described("provider", help("provider"), err("provider"))} value={String(values.provider ?? "")} onChange={(e) => set("provider", e.currentTarget.value || undefined)}>
                  <option value="">Cluster default ({settings.data.activeProviderId})</option>
                  {settings.data.providers.map((p) => (
                    <option key={p.id} value={p.id}>
                      {p.name}
                    </option>
                  ))}
                </select>
              </Field>
              <Field name="engine" label="Engine" help={help("engine")} error={err("engine")}>
                <select {...described("engine", help("engine"), err("engine"))} value={String(values.engine ?? "")} onChange={(e) => set("engine", e.currentTarget.value)}>
                  {engines.map((e) => (
                    <option key={e} value={e}>
                      {e}
                    </option>
                  ))}
                </select>
              </Field>
            </div>
            <div class={`field${err("mode") ? " field-invalid" : ""}`} role="radiogroup" aria-labelledby="mode-label" aria-describedby="mode-help">
              <span id="mode-label" class="label">
                Mode
              </span>
              <div class="radios">
                {modes.map((m) => (
                  <label key={m} class="radio">
                    <input type="radio" name="mode" id={m === modes[0] ? fieldId("mode") : undefined} value={m} checked={values.mode === m} onChange={() => set("mode", m)} />
                    {m}
                  </label>
                ))}
              </div>
              <p class="hint" id="mode-help">
                {help("mode")}
              </p>
              {err("mode") ? <p class="field-error">{err("mode")}</p> : null}
            </div>
            {disaggregated ? (
              <div class="grid2">
                {ROLES.map((role) => {
                  const roleSchema = prop(role);
                  const current = (values[role] as Values | undefined) ?? { replicas: 1, gpus: 1 };
                  return (
                    <fieldset key={role} class="subgroup">
                      <legend>{role === "prefill" ? "Prefill workers" : "Decode workers"}</legend>
                      {Object.entries(roleSchema.properties ?? {}).map(([sub, s]) => (
                        <SchemaField
                          key={sub}
                          name={`${role}.${sub}`}
                          label={`${role === "prefill" ? "Prefill" : "Decode"} ${sub === "gpus" ? "GPUs per worker" : "replicas"}`}
                          schema={resolve(doc.data as OpenApi, s)}
                          value={current[sub]}
                          error={err(`${role}.${sub}`)}
                          onChange={(v) => set(role, { ...current, [sub]: v })}
                        />
                      ))}
                    </fieldset>
                  );
                })}
              </div>
            ) : (
              <div class="grid2">
                <SchemaField name="replicas" label="Replicas" schema={prop("replicas")} value={values.replicas} error={err("replicas")} onChange={(v) => set("replicas", v)} />
                <SchemaField name="gpusPerReplica" label="GPUs per replica" schema={prop("gpusPerReplica")} value={values.gpusPerReplica} error={err("gpusPerReplica")} onChange={(v) => set("gpusPerReplica", v)} />
              </div>
            )}
            <SchemaField
              name="hfTokenSecret"
              label={model?.gated ? "Hugging Face token Secret (required: gated model)" : "Hugging Face token Secret"}
              schema={prop("hfTokenSecret")}
              value={values.hfTokenSecret}
              error={err("hfTokenSecret")}
              onChange={(v) => set("hfTokenSecret", v)}
            />
          </fieldset>

          <details class="advanced">
            <summary>Advanced settings</summary>
            {advanced.map((name) => {
              const s = prop(name);
              if (kindOf(s) === "object") return null;
              return <SchemaField key={name} name={name} schema={s} value={values[name]} error={err(name)} onChange={(v) => set(name, v)} />;
            })}
          </details>

          <div class="actions">
            <button type="button" class="btn" onClick={() => void submit("preview")} disabled={busy !== ""}>
              {busy === "preview" ? "Checking…" : "Preview"}
            </button>
            <button type="submit" class="btn btn-primary" disabled={busy !== ""}>
              {busy === "deploy" ? "Deploying…" : "Deploy"}
            </button>
          </div>
        </form>

        <aside class="deploy-side" aria-label="What will be created">
          <CodeBlock label="KubeFoundryDeployment YAML" code={toYaml(manifest)} />
          {preview ? (
            <div role="status">
              <p class="notice notice-ok">
                Accepted by a server-side dry run. Provider <strong>{preview.provider}</strong> will create:
              </p>
              {preview.resources.map((r) => (
                <CodeBlock key={`${r.kind}/${r.name}`} label={`${r.kind} ${r.name}`} code={toYaml(r.manifest)} />
              ))}
            </div>
          ) : (
            <p class="hint">Preview validates the deployment with the cluster and shows the provider resource it creates.</p>
          )}
        </aside>
      </div>
    </div>
  );
}

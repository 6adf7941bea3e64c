// Shapes of the REST API's responses (the OpenAPI document at /api/openapi.json is the contract).

export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message?: string;
  lastTransitionTime: string;
  observedGeneration?: number | null;
}

export interface Endpoint {
  service: string;
  port: number;
  url?: string;
}

export type Phase = "Pending" | "Deploying" | "Running" | "Failed" | "Terminating";

export interface DeploymentSummary {
  name: string;
  namespace: string;
  modelId: string;
  engine: string;
  mode: string;
  provider: string | null;
  phase: Phase;
  replicas: { desired: number; ready: number; available: number };
  createdAt: string;
  message: string | null;
  endpoint: Endpoint | null;
  conditions: Condition[];
}

export interface PodSummary {
  name: string;
  phase: string;
  ready: boolean;
  restarts: number;
  node: string | null;
  reason: string | null;
}

export interface DeploymentDetails extends DeploymentSummary {
  pods: PodSummary[];
}

export interface EventRow {
  type: string;
  reason: string;
  message: string;
  object: { kind: string; name: string };
  count: number;
  firstSeen: string;
  lastSeen: string;
  source: string;
}

export interface CatalogModel {
  id: string;
  name: string;
  description: string;
  size: string;
  task: string;
  contextLength: number;
  supportedEngines: string[];
  minGpuMemory: string;
  gated: boolean;
}

export interface GpuNode {
  name: string;
  product: string | null;
  memoryMiB: number | null;
  capacity: number;
  allocatable: number;
  allocated: number;
  free: number;
  ready: boolean;
  schedulable: boolean;
}

export interface GpuReport {
  resource: string;
  nodes: GpuNode[];
  totals: { nodes: number; capacity: number; allocatable: number; allocated: number; free: number; maxFreePerNode: number };
}

// Issue-13-era servers may add capabilities to a provider; every extra field is optional here.
export interface ProviderInfo {
  id: string;
  name: string;
  description: string;
  engines?: string[];
  supportedEngines?: string[];
  capabilities?: { engines?: string[]; modes?: string[]; servingModes?: string[] };
}

export interface Settings {
  activeProviderId: string;
  providers: ProviderInfo[];
}

export interface ClusterStatus {
  connected: boolean;
  namespace: string;
  providerId: string;
  providerInstalled: boolean;
}

export interface WhoAmI {
  authEnabled: boolean;
  username: string | null;
  groups: string[];
}

export interface InstallationStatus {
  installed: boolean;
  crdInstalled: boolean;
  operatorInstalled: boolean;
  version: string | null;
}

export interface InstallStep {
  chart: string;
  release: string;
  namespace?: string;
  version?: string;
  action: string;
  outcome: string;
  message?: string;
  time: string;
}

export interface ProviderInstallView {
  exists: boolean;
  providerInstall: {
    version: string | null;
    namespace: string | null;
    chartSource: Record<string, string> | null;
    removeCrdsOnDelete: boolean;
    generation: number;
    deleting: boolean;
    installed: boolean;
    statusVersion: string | null;
    conditions: Condition[];
    steps: InstallStep[];
  } | null;
}

export interface InstallationResult {
  success: boolean;
  message: string;
}

export interface PreviewResponse {
  provider: string;
  deployment: Record<string, unknown>;
  resources: { apiVersion: string; kind: string; name: string; namespace: string; manifest: Record<string, unknown> }[];
}

// A JSON Schema, as far as the deploy form reads one from the OpenAPI document.
export interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  pattern?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  allOf?: JsonSchema[];
  $ref?: string;
}

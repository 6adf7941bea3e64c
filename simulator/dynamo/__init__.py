"""The Dynamo STAND-IN controller: NOT NVIDIA Dynamo. Part of the local simulation; nothing in the product imports it.

The real Dynamo operator cannot run on the local development cluster (it needs its webhook
certificates, NATS, its images...), so this package reproduces its observable contract from the outside,
for tests and `make dev`: what a client of `DynamoGraphDeployment` (DGD, `nvidia.com/v1alpha1`) sees.

Reproduced (§ numbers refer to the team's Dynamo notes, ../shared/notes/dynamo.md next to the repository):
- one `apps/v1` Deployment per service, named `<dgd>-<lower(serviceKey)>` (DCD pathway, §2.2), owned by the
  DGD, selector `nvidia.com/selector: <name>`, Dynamo's pod labels, main container `main` with the
  service's image/command/args/workingDir/env/envFrom/resources (`gpu` → `nvidia.com/gpu`), Dynamo's
  injected ports, probes and env (§1.5); the real scheduler then places the pods on KWOK's fake nodes;
- the frontend Service `<dgd>-<lower(frontendKey)>` on port 8000 `http` (§5), and one Service per worker
  on port 9090 `system` (Kubernetes discovery, the default; its selector is assumed to match the
  frontend's shape);
- `status` as Dynamo writes it (§2.1): `state`, the `Ready` condition with Dynamo's reasons and messages,
  `services.<key>` replica counts, `observedGeneration`;
- the webhook's update rules, enforced by the API server through the ValidatingAdmissionPolicy in
  admission-policy.yaml (next to this module), which the controller applies at startup (§1.4).

Simplified (deliberately):
- no DynamoComponentDeployment objects: the DGD owns the Deployments directly;
- worker Deployments carry no `-<8-hex worker hash>` suffix and no `nvidia.com/dynamo-worker-hash` label,
  and a worker spec change is an ordinary rolling update of the same Deployment, not Dynamo's managed
  rolling update through a new DCD;
- no Grove, LWS or multinode (a multinode service fails the reconcile the way Dynamo does when no
  multinode orchestrator is installed), no PVC creation (`pvcs` with `create: true`), no Ingress,
  planner or EPP extras, no discovery ServiceAccount/RBAC, no NATS/etcd env;
- no mutating webhook (replicas are defaulted to 1 when building the Deployment, not written into the
  DGD spec; no `nvidia.com/dynamo-operator-origin-version` annotation) and no `nvidia.com/finalizer`,
  so a DGD can always be deleted even while the stand-in is down.

Modules: `names` (the DGD resource, Dynamo's labels and component names), `render` (the child Deployment
and Service, pure), `status` (the DGD status, pure), `admission` (the admission policy), `watch` (list then
watch), `controller` (queue, reconcile, status writes), `__main__` (the command line).
"""

// Whether a model fits the cluster's free GPUs right now, from /api/cluster/gpus and the catalog.
//
// One replica needs `gpus` GPUs on one node (the default gpusPerReplica) and, in total, the model's
// minGpuMemory. On a node whose GPUs have M GB each that is max(gpus, ceil(need / M)) GPUs.
// fits: room for two replicas or more (or one with memory to spare); tight: exactly one replica, or the
// memory barely suffices; does not fit: no ready, schedulable node has enough free GPUs.

import type { CatalogModel, GpuReport } from "../api/types";

export type Fit = "fits" | "tight" | "no";

export interface FitResult {
  fit: Fit;
  reason: string;
}

export function memoryGb(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*GB$/i.exec(text.trim());
  return m ? Number(m[1]) : 0;
}

const TIGHT_MEMORY = 0.9; // of the GPUs' memory taken by the model alone

export function modelFit(model: CatalogModel, report: GpuReport, gpusPerReplica = 1): FitResult {
  const need = memoryGb(model.minGpuMemory);
  const usable = report.nodes.filter((n) => n.ready && n.schedulable && n.allocatable > 0);
  if (!usable.length) return { fit: "no", reason: "The cluster has no ready, schedulable GPU node." };
  let replicas = 0;
  let bestNeed = Infinity;
  let tightMemory = false;
  let maxFree = 0;
  for (const node of usable) {
    maxFree = Math.max(maxFree, node.free);
    const perGpu = node.memoryMiB ? node.memoryMiB / 1024 : null;
    const gpus = perGpu ? Math.max(gpusPerReplica, Math.ceil(need / perGpu)) : gpusPerReplica;
    if (gpus > node.allocatable) continue;
    bestNeed = Math.min(bestNeed, gpus);
    const here = Math.floor(node.free / gpus);
    if (here > 0 && perGpu && need / (gpus * perGpu) > TIGHT_MEMORY) tightMemory = true;
    replicas += here;
  }
  const gpuWord = (n: number): string => `${n} GPU${n === 1 ? "" : "s"}`;
  if (bestNeed === Infinity) {
    return { fit: "no", reason: `Needs ${model.minGpuMemory} of GPU memory per replica: more than any node's GPUs hold.` };
  }
  if (replicas === 0) {
    return {
      fit: "no",
      reason: `Needs ${gpuWord(bestNeed)} free on one node (${model.minGpuMemory}); the most free on a node is ${maxFree}.`,
    };
  }
  if (replicas === 1 || tightMemory) {
    const why = replicas === 1 ? "room for one replica only" : "the model nearly fills the GPUs' memory";
    return { fit: "tight", reason: `Fits, but tight: ${why} (${gpuWord(bestNeed)}, ${model.minGpuMemory} per replica).` };
  }
  return { fit: "fits", reason: `Fits: room for ${replicas} replicas of ${gpuWord(bestNeed)} (${model.minGpuMemory} each) on free GPUs.` };
}

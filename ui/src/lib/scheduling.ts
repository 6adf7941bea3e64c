// The scheduler's FailedScheduling message in plain words:
// "0/3 nodes are available: 1 node(s) didn't match ..., 2 Insufficient nvidia.com/gpu. preemption: ..."

const PLAIN: [RegExp, (m: RegExpMatchArray) => string][] = [
  [/^Insufficient (\S+)$/, (m) => (m[1] === "nvidia.com/gpu" ? "not enough free GPUs" : `not enough free ${m[1]}`)],
  [/untolerated taint/, () => "a taint the pod does not tolerate"],
  [/didn't match Pod's node affinity\/selector/, () => "not matching the pod's node selector"],
  [/didn't match pod (anti-)?affinity/, () => "pod affinity rules rule them out"],
  [/unschedulable/, () => "cordoned (unschedulable)"],
  [/didn't have free ports/, () => "the requested host port is taken"],
  [/volume node affinity conflict|unbound immediate PersistentVolumeClaims/, () => "its volumes cannot be placed there"],
];

export interface PlainReason {
  summary: string;
  items: string[];
}

export function plainScheduling(message: string): PlainReason | null {
  const m = /^0\/(\d+) nodes are available: (.*)$/s.exec(message.trim());
  if (!m) return null;
  const total = Number(m[1]);
  // The per-node reasons end at the first full stop; later sentences are about preemption and claims.
  const reasons = (m[2] ?? "").split(/\.(?:\s|$)/)[0] ?? "";
  const items = reasons
    .split(/,\s*(?=\d+ )/)
    .map((part) => {
      const p = /^(\d+) (?:node\(s\) )?(.*)$/.exec(part.trim());
      if (!p) return part.trim();
      const count = Number(p[1]);
      const what = p[2] ?? "";
      const rule = PLAIN.find(([re]) => re.test(what));
      const plain = rule ? rule[1](what.match(rule[0]) as RegExpMatchArray) : what;
      return `${count} node${count === 1 ? "" : "s"}: ${plain}`;
    })
    .filter(Boolean);
  return { summary: `None of the ${total} nodes can run this pod right now.`, items };
}

import { dump } from "js-yaml";

export const toYaml = (value: unknown): string => dump(value, { noRefs: true, lineWidth: 120, sortKeys: false });

// Reading the deploy form's fields from the API's own OpenAPI document, so that the form offers what
// the server validates: descriptions, defaults, bounds and choices come from there, not from the UI.

import type { JsonSchema } from "../api/types";

export interface OpenApi {
  components: { schemas: Record<string, JsonSchema> };
}

// The schema itself: $ref followed, the `null` branch of an optional field dropped.
export function resolve(doc: OpenApi, schema: JsonSchema | undefined): JsonSchema {
  let s: JsonSchema = schema ?? {};
  for (let depth = 0; depth < 8; depth++) {
    if (s.$ref) {
      const name = s.$ref.split("/").pop() ?? "";
      const { $ref: _ref, ...rest } = s;
      void _ref;
      s = { ...(doc.components.schemas[name] ?? {}), ...rest };
      continue;
    }
    const variants = s.anyOf ?? s.allOf;
    if (variants) {
      const real = variants.filter((v) => v.type !== "null");
      if (real.length === 1) {
        const { anyOf: _a, allOf: _b, ...rest } = s;
        void _a;
        void _b;
        s = { ...rest, ...real[0] };
        continue;
      }
    }
    break;
  }
  return s;
}

export function kindOf(schema: JsonSchema): "enum" | "boolean" | "integer" | "number" | "list" | "string" | "object" {
  if (schema.enum) return "enum";
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  if (type === "boolean") return "boolean";
  if (type === "integer") return "integer";
  if (type === "number") return "number";
  if (type === "array") return "list";
  if (type === "object" || schema.properties) return "object";
  return "string";
}

export function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

// Form controls with a label, the API's description as help, and the API's error for the field.

import type { ComponentChildren } from "preact";
import type { JsonSchema } from "../api/types";
import { kindOf } from "../lib/schema";

export const fieldId = (name: string): string => `f-${name.replace(/[^A-Za-z0-9]/g, "-")}`;

export function Field(props: { name: string; label: string; help?: string | undefined; error?: string | undefined; children: ComponentChildren }) {
  const id = fieldId(props.name);
  return (
    <div class={`field${props.error ? " field-invalid" : ""}`}>
      <label for={id}>{props.label}</label>
      {props.children}
      {props.help ? (
        <p class="hint" id={`${id}-help`}>
          {props.help}
        </p>
      ) : null}
      {props.error ? (
        <p class="field-error" id={`${id}-error`}>
          {props.error}
        </p>
      ) : null}
    </div>
  );
}

// aria attributes that tie a control to its help and error.
export function described(name: string, help: string | undefined, error: string | undefined): Record<string, string | boolean | undefined> {
  const id = fieldId(name);
  const ids = [help ? `${id}-help` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ");
  return { id, "aria-describedby": ids || undefined, "aria-invalid": error ? true : undefined };
}

export function labelFor(name: string): string {
  const words = name.replace(/\./g, " ").replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

// Any field of the schema the form has no special control for: the control follows the type.
export function SchemaField(props: {
  name: string;
  schema: JsonSchema;
  value: unknown;
  error?: string | undefined;
  label?: string;
  onChange: (value: unknown) => void;
}) {
  const { name, schema, value, error, onChange } = props;
  const help = schema.description;
  const aria = described(name, help, error);
  const label = props.label ?? labelFor(name);
  const kind = kindOf(schema);
  if (kind === "boolean") {
    return (
      <div class={`field field-check${error ? " field-invalid" : ""}`}>
        <input type="checkbox" {...aria} checked={value === true} onChange={(e) => onChange(e.currentTarget.checked)} />
        <label for={aria.id as string}>{label}</label>
        {help ? (
          <p class="hint" id={`${aria.id as string}-help`}>
            {help}
          </p>
        ) : null}
        {error ? (
          <p class="field-error" id={`${aria.id as string}-error`}>
            {error}
          </p>
        ) : null}
      </div>
    );
  }
  let control: ComponentChildren;
  if (kind === "enum") {
    control = (
      <select {...aria} value={value === undefined || value === null ? "" : String(value)} onChange={(e) => onChange(e.currentTarget.value || undefined)}>
        {schema.default === undefined ? <option value="">Not set (the server's default)</option> : null}
        {(schema.enum ?? []).map((v) => (
          <option key={String(v)} value={String(v)}>
            {String(v)}
          </option>
        ))}
      </select>
    );
  } else if (kind === "integer" || kind === "number") {
    control = (
      <input
        type="number"
        inputMode="numeric"
        {...aria}
        min={schema.minimum}
        max={schema.maximum}
        step={kind === "integer" ? 1 : "any"}
        value={value === undefined || value === null ? "" : String(value)}
        onInput={(e) => {
          const text = e.currentTarget.value;
          onChange(text === "" ? undefined : Number(text));
        }}
      />
    );
  } else if (kind === "list") {
    control = (
      <textarea
        {...aria}
        rows={3}
        spellcheck={false}
        value={Array.isArray(value) ? value.join("\n") : ""}
        onInput={(e) => {
          const lines = e.currentTarget.value.split("\n");
          onChange(lines.length === 1 && lines[0] === "" ? [] : lines);
        }}
      />
    );
  } else {
    control = (
      <input type="text" {...aria} spellcheck={false} value={typeof value === "string" ? value : ""} onInput={(e) => onChange(e.currentTarget.value || undefined)} />
    );
  }
  return (
    <Field name={name} label={kind === "list" ? `${label} (one per line)` : label} help={help} error={error}>
      {control}
    </Field>
  );
}

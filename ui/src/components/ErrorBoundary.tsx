import type { ComponentChildren } from "preact";
import { useErrorBoundary } from "preact/hooks";

// A bug in one page shows a message instead of a blank page; the rest of the app keeps working.
export function ErrorBoundary({ children }: { children: ComponentChildren }) {
  const [error, reset] = useErrorBoundary((e: unknown) => console.error(e));
  if (error) {
    return (
      <div class="notice notice-bad" role="alert">
        <strong>This page failed to render.</strong>
        <p>{String((error as Error)?.message ?? error)}</p>
        <button type="button" class="btn" onClick={reset}>
          Try again
        </button>
      </div>
    );
  }
  return <>{children}</>;
}

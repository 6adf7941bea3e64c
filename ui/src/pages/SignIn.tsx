// With --auth kubernetes: ask for a token the cluster accepts; kept in this tab's session storage only.

import { useState } from "preact/hooks";
import { token } from "../api/client";

export function SignIn({ message, onSignedIn }: { message: string | null; onSignedIn: () => void }) {
  const [value, setValue] = useState("");
  return (
    <main id="main" class="signin">
      <div class="card signin-card">
        <h1>Sign in to KubeFoundry</h1>
        <p>
          This KubeFoundry checks every request with your Kubernetes cluster. Paste a bearer token the cluster accepts;
          what you may do here is what your RBAC lets you do with <code>kubectl</code>.
        </p>
        {message ? (
          <div class="notice notice-bad" role="alert">
            <strong>Not signed in</strong>
            <p>{message}</p>
          </div>
        ) : null}
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (!value.trim()) return;
            token.set(value.trim());
            onSignedIn();
          }}
        >
          <label for="token">Kubernetes bearer token</label>
          <textarea
            id="token"
            rows={4}
            spellcheck={false}
            autocomplete="off"
            aria-describedby="token-help"
            value={value}
            onInput={(e) => setValue(e.currentTarget.value)}
          />
          <p id="token-help" class="hint">
            For a ServiceAccount: <code>kubectl create token &lt;name&gt; -n &lt;namespace&gt;</code>. The token stays in this
            browser tab (session storage) and is sent only to this server.
          </p>
          <button type="submit" class="btn btn-primary">
            Sign in
          </button>
        </form>
      </div>
    </main>
  );
}

import { useEffect, useState } from "preact/hooks";
import { ApiError, get, token } from "./api/client";
import type { WhoAmI } from "./api/types";
import { ErrorBoundary } from "./components/ErrorBoundary";
import { Layout } from "./components/Layout";
import { ErrorNotice, Loading } from "./components/ui";
import { DeploymentDetailsPage } from "./pages/DeploymentDetails";
import { DeploymentsPage } from "./pages/Deployments";
import { DeployPage } from "./pages/Deploy";
import { ModelsPage } from "./pages/Models";
import { ProvidersPage } from "./pages/Providers";
import { SettingsPage } from "./pages/Settings";
import { SignIn } from "./pages/SignIn";
import { match, navigate, useLocation } from "./lib/router";
import { authRequired, setAuthRequired } from "./lib/session";
import { useStore } from "./lib/store";

function Page({ path, params }: { path: string; params: URLSearchParams }) {
  if (path === "/" || path === "") {
    navigate("/models", true);
    return null;
  }
  if (path === "/models") return <ModelsPage />;
  if (path === "/deploy") return <DeployPage params={params} />;
  if (path === "/deployments") return <DeploymentsPage />;
  const details = match("/deployments/:namespace/:name", path);
  if (details) return <DeploymentDetailsPage namespace={details.namespace ?? ""} name={details.name ?? ""} />;
  if (path === "/providers") return <ProvidersPage />;
  if (path === "/settings") return <SettingsPage />;
  return (
    <div>
      <h1>Page not found</h1>
      <p>
        There is no page at <code>{path}</code>. Go to the <a href="/models">models</a> or the <a href="/deployments">deployments</a>.
      </p>
    </div>
  );
}

export function App() {
  const { path, params } = useLocation();
  const needsToken = useStore(authRequired);
  const [user, setUser] = useState<WhoAmI | null>(null);
  const [failure, setFailure] = useState<ApiError | null>(null);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    setFailure(null);
    get<WhoAmI>("/auth/whoami").then(
      (who) => {
        setUser(who);
        setAuthRequired(null);
      },
      (e: unknown) => {
        if (e instanceof ApiError && e.status === 401) {
          // A stored token that the cluster no longer accepts: forget it.
          if (token.get()) token.clear();
          return;
        }
        setFailure(e instanceof ApiError ? e : new ApiError(0, "CLIENT_ERROR", String(e)));
      },
    );
  }, [attempt]);

  if (needsToken !== null && (!user || user.authEnabled)) {
    const message = token.get() || attempt > 0 ? needsToken : null;
    return (
      <SignIn
        message={message}
        onSignedIn={() => {
          setAuthRequired(null);
          setUser(null);
          setAttempt((a) => a + 1);
        }}
      />
    );
  }
  if (!user) {
    return (
      <main id="main" class="signin">
        {failure ? (
          <div class="card signin-card">
            <ErrorNotice error={failure} what="reach KubeFoundry" />
            <button type="button" class="btn" onClick={() => setAttempt((a) => a + 1)}>
              Try again
            </button>
          </div>
        ) : (
          <Loading what="KubeFoundry" />
        )}
      </main>
    );
  }
  return (
    <Layout path={path} user={user}>
      <ErrorBoundary key={path}>
        <Page path={path} params={params} />
      </ErrorBoundary>
    </Layout>
  );
}

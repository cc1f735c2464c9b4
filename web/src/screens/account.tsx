// The account: sign out, and delete it. Deletion is a long-running operation
// (DeleteAccount returns google.longrunning.Operation); the page polls
// GetOperation and shows its steps until it is done.
import { useState } from "preact/hooks";
import { api } from "../api/client";
import { asApiError, type ApiError } from "../api/errors";
import type { components } from "../api/schema";
import { ErrorMessage, Loading } from "../components";
import { useFocusOnMount, useLoad } from "../hooks";
import { go } from "../router";
import { signOut, type SignedIn } from "../session";

type Operation = components["schemas"]["longrunningOperation"];
type SagaState = components["schemas"]["v1SagaState"];

/** streammesh.users.v1.DeleteAccountMetadata: the operation's metadata (an Any). */
interface DeletionProgress {
  sagaId?: string;
  state?: SagaState;
  stepsDone?: number;
  stepsTotal?: number;
  currentStep?: string;
  currentStepAttempts?: number;
  lastError?: { message?: string };
}

const POLL_MS = 500;
// Bound on following one deletion; it keeps running on the server after that.
const FOLLOW_LIMIT_MS = 120_000;

function progressOf(operation: Operation | null): DeletionProgress {
  return (operation?.metadata ?? {}) as DeletionProgress;
}

function Deletion({ operation, error }: { operation: Operation | null; error: ApiError | null }) {
  const progress = progressOf(operation);
  const total = progress.stepsTotal ?? 0;
  const done = progress.stepsDone ?? 0;
  if (operation?.done && !operation.error) {
    return (
      <div class="outcome ok" role="status">
        <p>Your account and everything kept about it have been deleted.</p>
        <button
          type="button"
          onClick={() => {
            signOut();
            go("signup");
          }}
        >
          Done
        </button>
      </div>
    );
  }
  return (
    <div class="deletion">
      <label for="deletion-progress">
        Deleting your account: {done} of {total || "…"} steps done
      </label>
      <progress id="deletion-progress" max={total || 1} value={done} />
      <p role="status">
        {progress.currentStep
          ? `Now: ${progress.currentStep}${(progress.currentStepAttempts ?? 0) > 1 ? ` (attempt ${progress.currentStepAttempts})` : ""}`
          : "Starting…"}
      </p>
      {progress.lastError?.message && (
        <p class="note">Retrying after: {progress.lastError.message}</p>
      )}
      {operation?.error && <p class="error">The deletion failed: {operation.error.message}</p>}
      <ErrorMessage error={error} />
    </div>
  );
}

export function AccountScreen({ session }: { session: SignedIn }) {
  const heading = useFocusOnMount<HTMLHeadingElement>();
  const account = useLoad(
    (signal) => api.get("/v1/accounts/{accountId}", { path: { accountId: session.accountId }, signal }),
    [session.accountId],
  );
  const [understood, setUnderstood] = useState(false);
  const [operation, setOperation] = useState<Operation | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [deleting, setDeleting] = useState(false);

  const remove = async () => {
    setDeleting(true);
    setError(null);
    try {
      let current = await api.delete("/v1/accounts/{accountId}", {
        path: { accountId: session.accountId },
      });
      setOperation(current);
      const operationId = (current.name ?? "").split("/").pop() ?? "";
      const deadline = Date.now() + FOLLOW_LIMIT_MS;
      while (!current.done && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        current = await api.get("/v1/operations/{operationId}", { path: { operationId } });
        setOperation(current);
      }
    } catch (failure) {
      setError(asApiError(failure));
    }
  };

  return (
    <main id="main" class="narrow account">
      <h1 tabIndex={-1} ref={heading}>
        Account
      </h1>
      <ErrorMessage error={account.error} onRetry={account.reload} />
      {account.loading && !account.data && <Loading what="your account" />}
      {account.data && (
        <dl class="title-facts">
          <dt>Email</dt>
          <dd>{account.data.email}</dd>
          <dt>Name</dt>
          <dd>
            {account.data.firstName} {account.data.lastName}
          </dd>
          <dt>Country</dt>
          <dd>{account.data.countryCode}</dd>
        </dl>
      )}
      <p>
        <button
          type="button"
          class="secondary"
          onClick={() => {
            signOut();
            go("signin");
          }}
        >
          Sign out
        </button>
      </p>
      <section class="danger-zone" aria-labelledby="delete-heading">
        <h2 id="delete-heading">Delete account</h2>
        {deleting ? (
          <Deletion operation={operation} error={error} />
        ) : (
          <>
            <p>
              This deletes every profile, the viewing history, recommendations and search history.
              It cannot be undone.
            </p>
            <div class="field checkbox">
              <input
                id="understood"
                type="checkbox"
                checked={understood}
                onChange={(event) => setUnderstood(event.currentTarget.checked)}
              />
              <label for="understood">I understand; delete my account</label>
            </div>
            <button type="button" class="danger" disabled={!understood} onClick={remove}>
              Delete account
            </button>
          </>
        )}
      </section>
    </main>
  );
}

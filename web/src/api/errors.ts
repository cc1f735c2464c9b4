// google.rpc.Status, the body of every error the edge returns, in words.

export interface FieldViolation {
  field?: string;
  description?: string;
}

export interface StatusDetail {
  "@type"?: string;
  reason?: string;
  domain?: string;
  metadata?: Record<string, string>;
  fieldViolations?: FieldViolation[];
}

export interface RpcStatus {
  code: number;
  message?: string;
  details?: StatusDetail[];
}

// What each gRPC code means to the person using the app.
const HEADLINES: Record<number, string> = {
  1: "The request was cancelled.",
  2: "Something went wrong.",
  3: "Some of what you entered needs a look.",
  4: "The service took too long to answer. Try again.",
  5: "We could not find that.",
  6: "That already exists.",
  7: "This profile or account may not do that.",
  8: "Too many requests right now. Wait a moment and try again.",
  9: "That cannot be done right now.",
  10: "Someone else changed this at the same time. Try again.",
  11: "That value is out of range.",
  12: "This device cannot do that.",
  13: "Something went wrong on our side.",
  14: "The service is unavailable. Try again in a moment.",
  16: "Your session has ended. Please sign in again.",
};

// Reasons (google.rpc.ErrorInfo) with a better sentence than their code's.
const REASONS: Record<string, string> = {
  TITLE_ABOVE_PROFILE_LIMIT: "This title is above this profile's maturity limit.",
  NO_LIVE_STREAM: "Playback has stopped on this device: start watching again.",
  STREAM_LIMIT_REACHED: "Your plan's streams are all in use on other devices.",
  REFRESH_TOKEN_REUSED: "Your session was used elsewhere and has ended. Please sign in again.",
  PROFILE_SAGA_IN_PROGRESS: "An earlier change to this profile is still being applied.",
  WRONG_CREDENTIALS: "That email and password do not match an account.",
  LOGIN_RATE_LIMITED: "Too many sign-in attempts. Wait a minute and try again.",
  KIDS_RATING_LIMIT: "A kids profile cannot have a limit above PG.",
  SUBSCRIPTION_INACTIVE: "This account's subscription is not active.",
};

export class ApiError extends Error {
  readonly httpStatus: number;
  readonly status: RpcStatus;

  constructor(httpStatus: number, status: RpcStatus) {
    super(status.message || `HTTP ${httpStatus}`);
    this.name = "ApiError";
    this.httpStatus = httpStatus;
    this.status = status;
  }

  get code(): number {
    return this.status.code;
  }

  get reason(): string | undefined {
    return this.status.details?.find((detail) => detail.reason)?.reason;
  }

  /** Field violations by field name (snake_case, as the contracts name fields). */
  get fields(): Record<string, string> {
    const found: Record<string, string> = {};
    for (const detail of this.status.details ?? []) {
      for (const violation of detail.fieldViolations ?? []) {
        const field = violation.field ?? "";
        const text = sentence(violation.description ?? "is not valid");
        found[field] = found[field] ? `${found[field]} ${text}` : text;
      }
    }
    return found;
  }

  /** One sentence for the person, then the server's own words. */
  describe(): { headline: string; detail: string } {
    const reason = this.reason;
    const headline =
      (reason && REASONS[reason]) || HEADLINES[this.code] || `Something went wrong (${this.code}).`;
    return { headline, detail: sentence(this.status.message ?? "") };
  }
}

function sentence(text: string): string {
  const trimmed = text.trim();
  if (!trimmed) return "";
  const capital = trimmed[0]!.toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

/** Any thrown value, as an ApiError (a network failure is UNAVAILABLE). */
export function asApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new ApiError(0, { code: 14, message: `network error: ${message}` });
}

/** Field names the forms use, from the contracts' snake_case paths. */
export function fieldError(error: ApiError | null, ...names: string[]): string | undefined {
  if (!error) return undefined;
  const fields = error.fields;
  for (const name of names) {
    const match = Object.keys(fields).find(
      (field) => field === name || field.endsWith(`.${name}`),
    );
    if (match) return fields[match];
  }
  return undefined;
}

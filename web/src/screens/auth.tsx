import { useState } from "preact/hooks";
import { api } from "../api/client";
import { asApiError, fieldError, type ApiError } from "../api/errors";
import { ErrorMessage, Field } from "../components";
import { useFocusOnMount } from "../hooks";
import { go, href } from "../router";
import { signIn } from "../session";

// Countries and languages a sign-up offers: the demo catalog's main markets.
const COUNTRIES: [string, string][] = [
  ["US", "United States"],
  ["GB", "United Kingdom"],
  ["IN", "India"],
  ["CA", "Canada"],
  ["FR", "France"],
  ["DE", "Germany"],
  ["ES", "Spain"],
  ["JP", "Japan"],
  ["KR", "South Korea"],
  ["BR", "Brazil"],
];
const LANGUAGES: [string, string][] = [
  ["en", "English"],
  ["fr", "Français"],
  ["de", "Deutsch"],
  ["es", "Español"],
  ["pt", "Português"],
  ["hi", "हिन्दी"],
  ["ja", "日本語"],
  ["ko", "한국어"],
];

function TextField(props: {
  label: string;
  error: string | undefined;
  hint?: string | undefined;
  type: string;
  name: string;
  autoComplete: string;
  value: string;
  onValue: (value: string) => void;
}) {
  return (
    <Field label={props.label} error={props.error} hint={props.hint}>
      {(field) => (
        <input
          {...field}
          type={props.type}
          name={props.name}
          autoComplete={props.autoComplete}
          value={props.value}
          onInput={(event) => props.onValue(event.currentTarget.value)}
        />
      )}
    </Field>
  );
}

/** The languages a person may choose, each named in itself; `blank` names the empty choice. */
export function LanguageField(props: {
  error: string | undefined;
  value: string;
  onValue: (value: string) => void;
  blank?: string;
}) {
  return (
    <Field label="Language" error={props.error}>
      {(field) => (
        <select
          {...field}
          name="languageCode"
          value={props.value}
          onChange={(event) => props.onValue(event.currentTarget.value)}
        >
          {props.blank !== undefined && <option value="">{props.blank}</option>}
          {LANGUAGES.map(([code, name]) => (
            <option key={code} value={code} lang={code}>
              {name}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

function useSubmit(action: () => Promise<void>) {
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (failure) {
      setError(asApiError(failure));
      setBusy(false);
    }
  };
  return { error, busy, submit };
}

export function SignInScreen() {
  const heading = useFocusOnMount<HTMLHeadingElement>();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const { error, busy, submit } = useSubmit(async () => {
    await signIn(email, password);
    go("profiles");
  });
  return (
    <main id="main" class="narrow">
      <h1 tabIndex={-1} ref={heading}>
        Sign in
      </h1>
      <form onSubmit={submit} noValidate>
        <ErrorMessage error={error} />
        <TextField label="Email" error={fieldError(error, "email")} type="email" name="email"
          autoComplete="email" value={email} onValue={setEmail} />
        <TextField label="Password" error={fieldError(error, "password")} type="password"
          name="password" autoComplete="current-password" value={password} onValue={setPassword} />
        <button type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
      <p>
        New to StreamMesh? <a href={href("signup")}>Create an account</a>
      </p>
    </main>
  );
}

export function SignUpScreen() {
  const heading = useFocusOnMount<HTMLHeadingElement>();
  const [form, setForm] = useState({
    email: "",
    password: "",
    firstName: "",
    lastName: "",
    countryCode: "US",
    languageCode: "en",
  });
  const set = (name: keyof typeof form) => (event: { currentTarget: { value: string } }) =>
    setForm({ ...form, [name]: event.currentTarget.value });
  const { error, busy, submit } = useSubmit(async () => {
    await api.post("/v1/accounts", { body: form });
    await signIn(form.email, form.password);
    go("profiles");
  });
  const text = (
    label: string,
    name: "email" | "password" | "firstName" | "lastName",
    field: string,
    type: string,
    autoComplete: string,
    hint?: string,
  ) => (
    <TextField label={label} error={fieldError(error, field)} hint={hint} type={type} name={name}
      autoComplete={autoComplete} value={form[name]} onValue={(value) => setForm({ ...form, [name]: value })} />
  );
  return (
    <main id="main" class="narrow">
      <h1 tabIndex={-1} ref={heading}>
        Create your account
      </h1>
      <form onSubmit={submit} noValidate>
        <ErrorMessage error={error} />
        {text("Email", "email", "email", "email", "email")}
        {text("Password", "password", "password", "password", "new-password", "At least 10 characters.")}
        {text("First name", "firstName", "first_name", "text", "given-name")}
        {text("Last name", "lastName", "last_name", "text", "family-name")}
        <Field label="Country" error={fieldError(error, "country_code")}>
          {(props) => (
            <select {...props} name="countryCode" value={form.countryCode} onChange={set("countryCode")}>
              {COUNTRIES.map(([code, name]) => (
                <option key={code} value={code}>
                  {name}
                </option>
              ))}
            </select>
          )}
        </Field>
        <LanguageField
          error={fieldError(error, "language_code")}
          value={form.languageCode}
          onValue={(value) => setForm({ ...form, languageCode: value })}
        />
        <button type="submit" disabled={busy}>
          {busy ? "Creating your account…" : "Create account"}
        </button>
      </form>
      <p>
        Already have an account? <a href={href("signin")}>Sign in</a>
      </p>
    </main>
  );
}

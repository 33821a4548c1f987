import { useState } from 'preact/hooks';
import { closeSession, openSession, type Session } from '../session.js';
import { ErrorNotice } from '../components.js';

/** Asks for an API token, checks it with `GET /v1/whoami`, and keeps it for this tab. */
export function SignIn({ onSignedIn }: { readonly onSignedIn: (session: Session, tokenName: string) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<unknown>();
  const [isBusy, setBusy] = useState(false);

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    const session = openSession(token.trim());
    try {
      const me = await session.hearth.tokens.current();
      onSignedIn(session, me.tokenName);
    } catch (failure) {
      closeSession();
      setError(failure);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="sign-in">
      <h1>Hearth</h1>
      <form onSubmit={(event) => void submit(event).catch(setError)}>
        <label for="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="off"
          placeholder="hth_…"
          value={token}
          onInput={(event) => setToken(event.currentTarget.value)}
          required
        />
        <button type="submit" disabled={isBusy || token.trim() === ''}>
          Sign in
        </button>
        <p class="hint">The token stays in this tab only, and goes with every request the console makes.</p>
      </form>
      <ErrorNotice error={error} />
    </main>
  );
}

import { useEffect, useState } from 'preact/hooks';
import { closeSession, restoreSession, type Session } from './session.js';
import { hrefOf, parseRoute, type Route } from './route.js';
import { SignIn } from './pages/sign-in.js';
import { VmList } from './pages/vm-list.js';
import { VmDetail } from './pages/vm-detail.js';
import { CreateVm } from './pages/create-vm.js';
import { Hosts } from './pages/hosts.js';
import { Images } from './pages/images.js';
import { Templates } from './pages/templates.js';
import { Snapshots } from './pages/snapshots.js';

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onChange = (): void => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

export function App() {
  const [session, setSession] = useState<Session | undefined>(() => restoreSession());
  const [tokenName, setTokenName] = useState<string | undefined>();
  const route = useRoute();

  useEffect(() => {
    if (session === undefined || tokenName !== undefined) return;
    session.hearth.tokens.current().then(
      (me) => setTokenName(me.tokenName),
      () => undefined,
    );
  }, [session, tokenName]);

  if (session === undefined) {
    return (
      <SignIn
        onSignedIn={(opened, name) => {
          setTokenName(name);
          setSession(opened);
        }}
      />
    );
  }

  const signOut = (): void => {
    closeSession();
    setSession(undefined);
    setTokenName(undefined);
  };
  const navLink = (target: Route, label: string) => (
    <a class={route.page === target.page ? 'active' : ''} href={hrefOf(target)}>
      {label}
    </a>
  );
  return (
    <>
      <header class="top">
        <a class="brand" href={hrefOf({ page: 'vms' })}>
          Hearth
        </a>
        <nav>
          {navLink({ page: 'vms' }, 'VMs')}
          {navLink({ page: 'create' }, 'Create')}
          {navLink({ page: 'hosts' }, 'Hosts')}
          {navLink({ page: 'templates' }, 'Templates')}
          {navLink({ page: 'snapshots' }, 'Snapshots')}
          {navLink({ page: 'images' }, 'Images')}
        </nav>
        <span class="who">{tokenName}</span>
        <button type="button" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main>
        {route.page === 'vms' && <VmList session={session} />}
        {route.page === 'vm' && <VmDetail key={route.vmId} session={session} vmId={route.vmId} tab={route.tab} />}
        {route.page === 'create' && <CreateVm key={route.from?.id ?? 'new'} session={session} from={route.from} />}
        {route.page === 'hosts' && <Hosts session={session} />}
        {route.page === 'images' && <Images session={session} />}
        {route.page === 'templates' && <Templates session={session} />}
        {route.page === 'snapshots' && <Snapshots session={session} />}
      </main>
    </>
  );
}

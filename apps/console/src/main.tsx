import { render } from 'preact';
import { App } from './app.js';
import { ensureRandomUuid } from './random-uuid.js';
import './styles.css';

ensureRandomUuid(globalThis.crypto);
const root = document.getElementById('app');
if (root !== null) render(<App />, root);

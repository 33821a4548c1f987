// xterm.js and its stylesheet, loaded only when a serial console opens (most of the bundle's weight).
import '@xterm/xterm/css/xterm.css';

export { Terminal } from '@xterm/xterm';

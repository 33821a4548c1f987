import { Socket } from 'node:net';
import type { IncomingMessage } from 'node:http';

/** How long a connection is read on (what comes is dropped) after its last answer, at most. */
const lingerMs = 2_000;

const lingering = new WeakSet<Socket>();

/**
 * Closes a connection after its last answer without resetting it: half-closes it (the answer goes
 * out, then a FIN) and reads on, dropping what comes, until the client closes or `lingerMs` have
 * passed. Destroyed at once while the client still sends, it would be reset, and a reset can take
 * the answer with it: a client that reads only after sending never sees it (RFC 9112 §9.6).
 */
export function closeAfterReading(socket: Socket): void {
  if (socket.destroyed || lingering.has(socket)) return;
  if (socket.readableEnded) {
    Socket.prototype.destroySoon.call(socket);
    return;
  }
  lingering.add(socket);
  const linger = setTimeout(() => socket.destroy(), lingerMs);
  linger.unref();
  socket.once('close', () => clearTimeout(linger));
  socket.once('end', () => socket.destroy());
  socket.end();
  socket.resume();
}

/**
 * Node closes a connection as soon as an answer that ends it (`Connection: close`) is written out,
 * read or not: a request answered before its body arrived (over the limit, refused by a hook)
 * would be reset while the client still sends. Its connection closes after reading instead.
 */
export function lingerAfterEarlyAnswer(request: IncomingMessage): void {
  const socket = request.socket;
  socket.destroySoon = () => (request.complete ? Socket.prototype.destroySoon.call(socket) : closeAfterReading(socket));
}

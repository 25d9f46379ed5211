/**
 * Who may talk to `finetune serve`. The server listens on loopback by default, but a web page on another site can
 * still make the browser send requests to it: directly (cross-site requests) or through a DNS name that the attacker
 * rebinds to 127.0.0.1 (DNS rebinding, where the browser believes the page and the server share an origin). So every
 * request is checked before it is served:
 * - `Host` must name this server: `localhost` (or `*.localhost`), a loopback IP, the host it was bound to, any IP
 *   address when it listens on all interfaces, or a name given in `allowedHosts`. A rebinding attack always carries the
 *   attacker's DNS name, so it gets 403. (Vite and webpack-dev-server check `Host` the same way.)
 * - A browser request from another origin gets 403: `Origin`, when present, must be this server's own; without it,
 *   `Sec-Fetch-Site: cross-site | same-site` is refused except for a top-level navigation (following a link to the page).
 * - `POST /preprocess` must be a non-simple request (`Content-Type: application/octet-stream` or `image/*`), which a
 *   foreign page can only send after a CORS preflight that this server never grants.
 */
import { isIP } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';

/** A refused request: the status to answer and a one-line reason naming the fix. */
export interface RequestRefusal {
  readonly status: 403 | 415;
  readonly reason: string;
}

export interface RequestGuardOptions {
  /** The address or name the server listens on (`--host`). */
  readonly boundHost: string;
  /** The port it listens on. */
  readonly port: number;
  /** More host names to accept in `Host` (exact, or `.example.com` for the domain and its subdomains). @defaultValue `[]` */
  readonly allowedHosts?: readonly string[];
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);

/** `[::1]:8080` → `::1`; `Example.COM.:80` → `example.com`; undefined when the header is not a host[:port]. */
export function hostnameOf(hostHeader: string): string | undefined {
  const trimmed = hostHeader.trim().toLowerCase();
  const match = /^(?:\[([0-9a-f:.]+)\]|([^:[\]\s/@]+))(?::(\d{1,5}))?$/.exec(trimmed);
  if (match === null) return undefined;
  const name = match[1] ?? match[2]!;
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

/** Loopback names and addresses: `localhost`, `*.localhost`, 127.0.0.0/8, `::1`. */
export function isLoopbackHostname(hostname: string): boolean {
  if (hostname === 'localhost' || hostname.endsWith('.localhost')) return true;
  if (isIP(hostname) === 4) return hostname.startsWith('127.');
  return hostname === '::1' || hostname === '::ffff:127.0.0.1';
}

/** Builds the check for one server; `check` returns undefined for a request that may be served. */
export function createRequestGuard(options: RequestGuardOptions): {
  check(method: string, path: string, headers: IncomingHttpHeaders): RequestRefusal | undefined;
} {
  const bound = hostnameOf(options.boundHost) ?? options.boundHost.toLowerCase();
  const listensEverywhere = WILDCARD_HOSTS.has(bound);
  const allowed = (options.allowedHosts ?? []).map((name) => name.trim().toLowerCase()).filter((name) => name.length > 0);

  const isAllowedHostname = (hostname: string): boolean =>
    isLoopbackHostname(hostname) || hostname === bound || (listensEverywhere && isIP(hostname) !== 0)
    || allowed.some((name) => (name.startsWith('.') ? hostname === name.slice(1) || hostname.endsWith(name) : hostname === name));

  const isOwnOrigin = (origin: string): boolean => {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false;   // includes the opaque origin "null" (sandboxed frames, file: pages)
    }
    const port = url.port === '' ? 80 : Number(url.port);
    const hostname = hostnameOf(url.host);
    return url.protocol === 'http:' && port === options.port && hostname !== undefined && isAllowedHostname(hostname);
  };

  return {
    check(method, path, headers) {
      const host = headers.host;
      const hostname = host === undefined ? undefined : hostnameOf(host);
      if (hostname === undefined || !isAllowedHostname(hostname)) {
        return { status: 403, reason: `Host ${JSON.stringify(host ?? '')} is not allowed: finetune serve answers only requests ` +
          'addressed to localhost, an IP address of this machine or its --host (DNS-rebinding protection). ' +
          'To reach it under another name, pass --allowed-host <name>.' };
      }
      const origin = headers.origin;
      if (origin !== undefined && !isOwnOrigin(origin)) {
        return { status: 403, reason: `Requests from origin ${JSON.stringify(origin)} are not allowed: only the page served ` +
          'here may call this server. Open the page from this server\'s own URL.' };
      }
      const site = headers['sec-fetch-site'];
      if (origin === undefined && (site === 'cross-site' || site === 'same-site') && headers['sec-fetch-mode'] !== 'navigate') {
        return { status: 403, reason: `A ${site} request is not allowed: only the page served here may load its files.` };
      }
      if (method === 'POST' && path === '/preprocess') {
        const type = (headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        if (type !== 'application/octet-stream' && !type.startsWith('image/')) {
          return { status: 415, reason: `POST /preprocess takes the image bytes as application/octet-stream or image/*, ` +
            `not ${JSON.stringify(type || 'no Content-Type')}.` };
        }
      }
      return undefined;
    },
  };
}
